"""Every write of the incentives app. Points, stock and the fund change only here, each by a
conditional F() update in the same transaction as the row that explains the change; the database's
CHECK constraints stand behind them."""

import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from grid.models import Level, RoleAssignment
from grid.services import scope_columns
from grid.uploads import check_image

from .models import (
    Account,
    CareVisit,
    ClaimKind,
    Entry,
    ExpenseClaim,
    Fund,
    Honour,
    PointRule,
    Redemption,
    Reward,
)
from .selectors import MANAGERS, home_node, month_bounds, offered_to_q, parse_period, visible_claims

MAX_QUANTITY = 100
MAX_CLAIM = Decimal("100000.00")


class Conflict(Exception):
    """The request was right but the world ran out: stock, points or the fund (HTTP 409)."""


class OutOfStock(Conflict):
    pass


class NotEnoughPoints(Conflict):
    pass


class FundExhausted(Conflict):
    pass


# --- accounts and the points ledger -----------------------------------------------------------


def account_for(user, lock=False):
    """The person's account, created on first use; locked for the transaction when asked."""
    account = Account.objects.filter(user=user).first()
    if account is None:
        try:
            with transaction.atomic():
                account = Account.objects.create(user=user)
        except IntegrityError:  # created by a concurrent first award
            account = Account.objects.get(user=user)
    if lock:
        account = Account.objects.select_for_update().get(pk=account.pk)
    return account


def _move(account_id, points):
    """Change a balance by `points`, never below zero (the conditional update is the guard)."""
    qs = Account.objects.filter(pk=account_id)
    if points < 0:
        qs = qs.filter(balance__gte=-points)
    if not qs.update(balance=F("balance") + points):
        raise NotEnoughPoints(_("Not enough points."))


def points_award(*, user, rule, source, actor=None, note="", when=None):
    """Award (or, for a negative rule, deduct) a rule's points once per `source`. Returns the entry,
    or None when nothing was due: the source was awarded already, the rule is inactive, the month's
    cap is reached. A penalty takes no more than the balance holds."""
    rule = rule if isinstance(rule, PointRule) else PointRule.objects.filter(code=rule).first()
    if rule is None or not rule.active or user is None:
        return None
    with transaction.atomic():
        if Entry.objects.filter(source=source).exists():
            return None
        account = account_for(user, lock=True)  # one award at a time per person: caps hold under concurrency
        points = rule.points
        if rule.monthly_cap:
            start, end = month_bounds(when)
            used = abs(Entry.objects.filter(account=account, rule=rule, created_at__gte=start, created_at__lt=end)
                       .aggregate(s=Sum("points"))["s"] or 0)
            room = rule.monthly_cap - used
            if room <= 0:
                return None
            points = min(points, room) if points > 0 else max(points, -room)
        if points < 0:
            points = max(points, -account.balance)
            if points == 0:
                return None
        try:
            with transaction.atomic():
                entry = Entry.objects.create(account=account, points=points, rule=rule, source=source[:120],
                                             actor=actor, note=note[:200], created_at=when or timezone.now())
        except IntegrityError:  # the same source, awarded concurrently
            return None
        _move(account.pk, points)
        return entry


def entry_reverse(*, entry_id, actor, note=""):
    """Correct a mistaken entry by its mirror image; the entry itself is never edited."""
    with transaction.atomic():
        entry = Entry.objects.select_related("account").get(pk=entry_id)
        account_for(entry.account.user, lock=True)
        if entry.reverses_id or Entry.objects.filter(reverses=entry).exists():
            raise ValidationError({"entry": _("This entry is a reversal or has been reversed already.")})
        if actor is not None and not _manages(actor, home_node(entry.account.user)):
            raise PermissionDenied(_("Only the street staff or the community secretary reverse points."))
        reversal = Entry.objects.create(account=entry.account, points=-entry.points, rule=entry.rule,
                                        source=f"reverse:{entry.pk}", reverses=entry, actor=actor,
                                        note=(note or _("Reversal of entry %d") % entry.pk)[:200])
        try:
            _move(entry.account_id, reversal.points)
        except NotEnoughPoints:
            raise ValidationError({"entry": _("The balance is lower than the points to take back.")})
        return reversal


def reconcile_points():
    """Every account whose balance differs from the sum of its entries: [{account, user, balance,
    entries}] (empty when the books are right)."""
    rows = Account.objects.annotate(total=Sum("entries__points")).select_related("user")
    return [
        {"account": a.pk, "user": a.user.username, "balance": a.balance, "entries": a.total or 0}
        for a in rows if a.balance != (a.total or 0)
    ]


# --- who manages what -------------------------------------------------------------------------


def _roles_above(user, node, roles):
    if user.is_superuser:
        return set(roles)
    return set(RoleAssignment.objects.active().filter(
        user=user, role__in=roles, node__tree_id=node.tree_id, node__lft__lte=node.lft, node__rght__gte=node.rght,
    ).values_list("role", flat=True))


def _manages(user, node):
    """Street staff above the node, or the secretary of a community the node lies in."""
    return node is not None and bool(_roles_above(user, node, MANAGERS))


# --- rewards ----------------------------------------------------------------------------------


def _quantity(value):
    try:
        quantity = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationError({"quantity": _("Enter a whole number.")})
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationError({"quantity": _("Enter a quantity from 1 to %d.") % MAX_QUANTITY})
    return quantity


def reward_redeem(*, actor, reward_id, quantity=1):
    """Spend points on a reward: stock and points fall together or not at all.
    Raises ValidationError (quantity), Reward.DoesNotExist (unknown or not offered to the actor),
    OutOfStock or NotEnoughPoints."""
    quantity = _quantity(quantity)
    with transaction.atomic():
        reward = Reward.objects.filter(offered_to_q(actor) if not actor.is_superuser else Q(), active=True).get(pk=reward_id)
        account = account_for(actor, lock=True)
        points = reward.cost * quantity
        if not Reward.objects.filter(pk=reward.pk, stock__gte=quantity).update(stock=F("stock") - quantity):
            raise OutOfStock(_("Not enough left in stock."))
        _move(account.pk, -points)  # NotEnoughPoints rolls the stock back with the transaction
        redemption = Redemption.objects.create(account=account, reward=reward, quantity=quantity, points=points,
                                               street_id=reward.street_id, community_id=reward.community_id)
        Entry.objects.create(account=account, points=-points, source=f"redemption:{redemption.pk}", actor=actor,
                             note=f"{reward.name} × {quantity}"[:200])
        return redemption


def _redemption(actor, redemption_id):
    r = Redemption.objects.select_for_update(of=("self",)).select_related("reward__node", "account__user").get(pk=redemption_id)
    if r.state != Redemption.State.REQUESTED:
        raise ValidationError({"state": _("This redemption is %s already.") % r.get_state_display()})
    return r


def redemption_fulfil(*, actor, redemption_id):
    with transaction.atomic():
        r = _redemption(actor, redemption_id)
        if not _manages(actor, r.reward.node):
            raise PermissionDenied(_("The staff of the place that offers the reward hand it over."))
        r.state, r.decided_at, r.decided_by = Redemption.State.FULFILLED, timezone.now(), actor
        r.save(update_fields=["state", "decided_at", "decided_by"])
        return r


def redemption_cancel(*, actor, redemption_id):
    """Cancel a redemption not yet handed over: the points come back by a reversing entry and the
    stock is restored."""
    with transaction.atomic():
        r = _redemption(actor, redemption_id)
        if r.account.user_id != actor.pk and not _manages(actor, r.reward.node):
            raise PermissionDenied(_("Only the person or the staff of the place cancel a redemption."))
        account_for(r.account.user, lock=True)
        spent = Entry.objects.get(source=f"redemption:{r.pk}")
        Entry.objects.create(account=r.account, points=r.points, source=f"reverse:{spent.pk}", reverses=spent,
                             actor=actor, note=_("Redemption cancelled"))
        _move(r.account_id, r.points)
        Reward.objects.filter(pk=r.reward_id).update(stock=F("stock") + r.quantity)
        r.state, r.decided_at, r.decided_by = Redemption.State.CANCELLED, timezone.now(), actor
        r.save(update_fields=["state", "decided_at", "decided_by"])
        return r


def reward_save(*, actor, reward=None, node, **data):
    """Create or change a reward offered by a street or community the actor manages."""
    if node.level not in (Level.STREET, Level.COMMUNITY):
        raise ValidationError({"node": _("Rewards are offered by a street or a community.")})
    if not _manages(actor, node):
        raise PermissionDenied(_("Only the street staff or the community secretary offer rewards."))
    reward = reward or Reward()
    for name, value in data.items():
        setattr(reward, name, value)
    reward.node = node
    reward.street, reward.community = scope_columns(node)
    reward.full_clean(exclude=["street", "community"])
    with transaction.atomic():
        # A change writes only what was given: a stale copy must not put back stock redeemed meanwhile.
        reward.save(update_fields=[*data, "node", "street", "community"] if reward.pk else None)
    return reward


# --- honours and care visits ------------------------------------------------------------------


def honour_create(*, actor, title, period, person, node, citation=""):
    parse_period(period)
    if node.level not in (Level.STREET, Level.COMMUNITY):
        raise ValidationError({"node": _("Honours are given by a street or a community.")})
    if not _manages(actor, node):
        raise PermissionDenied(_("Only the street staff or the community secretary give honours."))
    if not title.strip():
        raise ValidationError({"title": _("This field is required.")})
    street, community = scope_columns(node)
    with transaction.atomic():
        if Honour.objects.filter(title=title.strip(), period=period, person=person, node=node).exists():
            raise ValidationError({"person": _("This person holds this title for this period already.")})
        return Honour.objects.create(title=title.strip(), period=period, person=person, node=node, citation=citation,
                                     created_by=actor, street=street, community=community)


def carevisit_create(*, actor, leader, date, occasion, gift="", node=None):
    node = node or home_node(leader)
    if node is None or not _manages(actor, node):
        raise PermissionDenied(_("Only the street staff or the community secretary record care visits."))
    if not occasion.strip():
        raise ValidationError({"occasion": _("This field is required.")})
    if date > timezone.localdate():
        raise ValidationError({"date": _("A visit cannot be recorded before it took place.")})
    street, community = scope_columns(node)
    with transaction.atomic():
        return CareVisit.objects.create(date=date, visitor=actor, leader=leader, node=node, occasion=occasion.strip(),
                                        gift=gift, street=street, community=community)


# --- the expense fund -------------------------------------------------------------------------


def _amount(value):
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({"amount": _("Enter an amount in yuan such as 35.50.")})
    if not amount.is_finite() or amount <= 0 or amount > MAX_CLAIM:
        raise ValidationError({"amount": _("Enter an amount above 0 and at most %s yuan.") % MAX_CLAIM})
    if amount != amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP):
        raise ValidationError({"amount": _("At most two decimal places (fen).")})
    return amount.quantize(Decimal("0.01"))


def fund_save(*, actor, fund=None, node, **data):
    if not _manages(actor, node) or node.level not in (Level.STREET, Level.COMMUNITY):
        raise PermissionDenied(_("Only the street staff or the community secretary keep a fund."))
    fund = fund or Fund()
    for name, value in data.items():
        setattr(fund, name, value)
    fund.node = node
    fund.street, fund.community = scope_columns(node)
    # The caches' CHECKs are left to the locked check below, which says which field is wrong.
    fund.full_clean(exclude=["street", "community", "approved", "paid"])
    with transaction.atomic():
        if not fund.pk:
            fund.save()
            return fund
        # Locked, so no approval slips in between the check and the save; `approved` and `paid` move
        # only with the claims (F() updates) and are never written back from a stale copy.
        if fund.budget < Fund.objects.select_for_update().get(pk=fund.pk).approved:
            raise ValidationError({"budget": _("The budget cannot fall below what is approved already.")})
        fund.save(update_fields=[f.name for f in Fund._meta.concrete_fields
                                 if not f.primary_key and f.name not in ("approved", "paid")])
    return fund


def claim_submit(*, actor, fund_id, kind, amount, date, grid=None, note="", receipt=None):
    """A leader's claim on a fund that covers their place."""
    from grid.selectors import my_microgrids

    errors = {}
    fund = Fund.objects.filter(offered_to_q(actor), pk=fund_id).first() if str(fund_id or "").isdigit() else None
    if fund is None:
        errors["fund"] = _("Choose a fund of your street or community.")
    elif fund.closed:
        errors["fund"] = _("This fund is closed.")
    if kind not in ClaimKind.values:
        errors["kind"] = _("Choose meal, travel, duty or other.")
    try:
        amount = _amount(amount)
    except ValidationError as e:
        errors.update(e.message_dict)
    if not isinstance(date, datetime.date):
        try:
            date = datetime.date.fromisoformat(str(date or "").strip())
        except ValueError:
            errors["date"] = _("Enter a date such as 2026-11-20.")
            date = None
    if date and date > timezone.localdate():
        errors["date"] = _("The expense cannot lie in the future.")
    elif date and fund and not fund.closed and not fund.starts_on <= date <= fund.ends_on:
        errors["date"] = _("The expense must fall within the fund's period.")
    mine = list(my_microgrids(actor))
    if grid is None and mine:
        grid = mine[0]
    if grid is None or grid not in mine:
        errors["grid"] = _("Claims are made by micro-grid leaders for their own micro-grid.")
    if len(note or "") > 300:
        errors["note"] = _("At most %d characters.") % 300
    if receipt:
        try:
            check_image(receipt)
        except ValidationError as e:
            errors["receipt"] = e.messages
    if errors:
        raise ValidationError(errors)
    street, community = scope_columns(grid)
    with transaction.atomic():
        claim = ExpenseClaim(fund=fund, leader=actor, grid=grid, street=street, community=community, kind=kind,
                             amount=amount, date=date, note=(note or "").strip())
        if receipt:
            claim.receipt = receipt
        claim.save()
        return claim


def _claim(actor, claim_id, state):
    claim = visible_claims(actor).select_for_update(of=("self",)).select_related("fund__node").get(pk=claim_id)
    if not _manages(actor, claim.fund.node):
        raise PermissionDenied(_("Only the staff who keep the fund decide its claims."))
    if claim.state != state:
        raise ValidationError({"state": _("This claim is %s.") % claim.get_state_display()})
    return claim


def claim_approve(*, actor, claim_id, note=""):
    """Approve a claim: the fund's approved total rises in the same transaction, never past the budget."""
    with transaction.atomic():
        claim = _claim(actor, claim_id, ExpenseClaim.State.SUBMITTED)
        drawn = Fund.objects.filter(pk=claim.fund_id, closed=False, approved__lte=F("budget") - claim.amount).update(
            approved=F("approved") + claim.amount)
        if not drawn:
            if Fund.objects.filter(pk=claim.fund_id, closed=True).exists():
                raise ValidationError({"fund": _("This fund is closed.")})
            raise FundExhausted(_("The fund has not enough left for this claim."))
        claim.state, claim.decided_at, claim.decided_by, claim.decision_note = (
            ExpenseClaim.State.APPROVED, timezone.now(), actor, note[:300])
        claim.save(update_fields=["state", "decided_at", "decided_by", "decision_note"])
        return claim


def claim_reject(*, actor, claim_id, note):
    if not (note or "").strip():
        raise ValidationError({"note": _("Say why the claim is rejected.")})
    with transaction.atomic():
        claim = _claim(actor, claim_id, ExpenseClaim.State.SUBMITTED)
        claim.state, claim.decided_at, claim.decided_by, claim.decision_note = (
            ExpenseClaim.State.REJECTED, timezone.now(), actor, note.strip()[:300])
        claim.save(update_fields=["state", "decided_at", "decided_by", "decision_note"])
        return claim


def claim_pay(*, actor, claim_id):
    with transaction.atomic():
        claim = _claim(actor, claim_id, ExpenseClaim.State.APPROVED)
        Fund.objects.filter(pk=claim.fund_id).update(paid=F("paid") + claim.amount)
        claim.state, claim.paid_at = ExpenseClaim.State.PAID, timezone.now()
        claim.save(update_fields=["state", "paid_at"])
        return claim

