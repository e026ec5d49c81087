"""Every write of the incentives app. Points, stock and the fund change only here, each by a
conditional F() update in the same transaction as the row that explains the change; the database's
CHECK constraints stand behind them.

Arguments are typed (ids, dates, nodes, users parsed by the adapter: the API, a form). Every error
carries a stable code (common.errors): a field's ValidationError, `Denied` (403) when the actor's
role does not allow it, and `Conflict` (409) when stock, points or the fund ran out."""

import datetime
import logging
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from common import errors
from common.errors import Denied, Errors, invalid
from common.periods import month_bounds, parse_period
from grid import access
from grid.models import Level
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
from .selectors import MANAGERS, home_node, offered_to_q, visible_claims

log = logging.getLogger(__name__)

MAX_QUANTITY = 100
MAX_CLAIM = Decimal("100000.00")
MAX_NOTE = 300


class Conflict(errors.Conflict):
    """The request was right but the world ran out: stock, points or the fund (HTTP 409)."""


class OutOfStock(Conflict):
    default_code = "stock_exhausted"


class NotEnoughPoints(Conflict):
    default_code = "points_insufficient"


class FundExhausted(Conflict):
    default_code = "fund_exhausted"


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
            raise invalid("entry", _("This entry is a reversal or has been reversed already."), "already_reversed")
        if actor is not None and not _manages(actor, home_node(entry.account.user)):
            raise Denied(_("Only the street staff or the community secretary reverse points."), code="not_manager")
        reversal = Entry.objects.create(account=entry.account, points=-entry.points, rule=entry.rule,
                                        source=f"reverse:{entry.pk}", reverses=entry, actor=actor,
                                        note=(note or _("Reversal of entry %d") % entry.pk)[:200])
        try:
            _move(entry.account_id, reversal.points)
        except NotEnoughPoints:
            raise invalid("entry", _("The balance is lower than the points to take back."), "balance_too_low")
        return reversal


def reconcile_points():
    """Every account whose balance differs from the sum of its entries: [{account, user, balance,
    entries}] (empty when the books are right)."""
    rows = Account.objects.annotate(total=Sum("entries__points")).select_related("user")
    return [
        {"account": a.pk, "user": a.user.username, "balance": a.balance, "entries": a.total or 0}
        for a in rows if a.balance != (a.total or 0)
    ]


RECONCILE_JOB = "incentives.reconcile_points"


class BooksDiffer(Exception):
    """Balances that are not the sum of their entries (what `reconcile_points` found)."""

    def __init__(self, differences):
        self.differences = differences
        super().__init__(f"{len(differences)} account(s) differ: " + "; ".join(
            "%(user)s (account %(account)s): balance %(balance)s, entries %(entries)s" % d for d in differences[:50]))


def reconcile_job():
    """The registered job behind the monthly task and the command (common.jobs): each difference is
    logged, and any difference fails the run, whose record names the accounts."""
    differences = reconcile_points()
    for d in differences:
        log.error("Points account %(account)s (%(user)s): balance %(balance)s, entries sum to %(entries)s", d)
    if differences:
        raise BooksDiffer(differences)
    return {"differences": 0}


# --- point rules ------------------------------------------------------------------------------


def pointrule_save(*, actor, rule=None, **data):
    """Create or change a point rule. Its code is fixed once created: the handlers award by code, so
    a renamed code would silently stop the automatic awards."""
    if not access.keeps_reference_data(actor):
        raise Denied(_("Only the street staff keep the point rules."), code="not_street_staff")
    if rule is not None and "code" in data and data["code"] != rule.code:
        raise invalid("code", _("A rule's code cannot change once the rule exists."), "code_fixed")
    rule = rule or PointRule()
    for name, value in data.items():
        setattr(rule, name, value)
    rule.full_clean()
    with transaction.atomic():
        rule.save(update_fields=list(data) if rule.pk and data else None)
    return rule


# --- who manages what -------------------------------------------------------------------------


def _manages(user, node):
    """Street staff above the node, or the secretary of a community the node lies in."""
    return node is not None and bool(access.roles_on(user, node, MANAGERS))


def _street_or_community(node, message):
    if node.level not in (Level.STREET, Level.COMMUNITY):
        raise invalid("node", message, "street_or_community")


# --- rewards ----------------------------------------------------------------------------------


def _quantity(value):
    try:
        quantity = int(str(value).strip())
    except (TypeError, ValueError):
        raise invalid("quantity", _("Enter a whole number."), "invalid_quantity")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise invalid("quantity", _("Enter a quantity from 1 to %d.") % MAX_QUANTITY, "quantity_out_of_range")
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
        raise invalid("state", _("This redemption is %s already.") % r.get_state_display(), "wrong_state")
    return r


def redemption_fulfil(*, actor, redemption_id):
    with transaction.atomic():
        r = _redemption(actor, redemption_id)
        if not _manages(actor, r.reward.node):
            raise Denied(_("The staff of the place that offers the reward hand it over."), code="not_manager")
        r.state, r.decided_at, r.decided_by = Redemption.State.FULFILLED, timezone.now(), actor
        r.save(update_fields=["state", "decided_at", "decided_by"])
        return r


def redemption_cancel(*, actor, redemption_id):
    """Cancel a redemption not yet handed over: the points come back by a reversing entry and the
    stock is restored."""
    with transaction.atomic():
        r = _redemption(actor, redemption_id)
        if r.account.user_id != actor.pk and not _manages(actor, r.reward.node):
            raise Denied(_("Only the person or the staff of the place cancel a redemption."),
                         code="not_owner_or_manager")
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
    _street_or_community(node, _("Rewards are offered by a street or a community."))
    if not _manages(actor, node):
        raise Denied(_("Only the street staff or the community secretary offer rewards."), code="not_manager")
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


def _required(field, value):
    text = (value or "").strip()
    if not text:
        raise invalid(field, _("This field is required."), "required")
    return text


def honour_create(*, actor, title, period, person, node, citation=""):
    parse_period(period)
    _street_or_community(node, _("Honours are given by a street or a community."))
    if not _manages(actor, node):
        raise Denied(_("Only the street staff or the community secretary give honours."), code="not_manager")
    title = _required("title", title)
    street, community = scope_columns(node)
    with transaction.atomic():
        if Honour.objects.filter(title=title, period=period, person=person, node=node).exists():
            raise invalid("person", _("This person holds this title for this period already."), "honour_exists")
        return Honour.objects.create(title=title, period=period, person=person, node=node, citation=citation,
                                     created_by=actor, street=street, community=community)


def carevisit_create(*, actor, leader, date, occasion, gift="", node=None):
    node = node or home_node(leader)
    if node is None or not _manages(actor, node):
        raise Denied(_("Only the street staff or the community secretary record care visits."), code="not_manager")
    occasion = _required("occasion", occasion)
    if date > timezone.localdate():
        raise invalid("date", _("A visit cannot be recorded before it took place."), "date_in_future")
    street, community = scope_columns(node)
    with transaction.atomic():
        return CareVisit.objects.create(date=date, visitor=actor, leader=leader, node=node, occasion=occasion,
                                        gift=gift, street=street, community=community)


# --- the expense fund -------------------------------------------------------------------------


def _amount(value):
    """Yuan with at most two decimals, above 0 and at most MAX_CLAIM (a Decimal, or the text sent)."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise invalid("amount", _("Enter an amount in yuan such as 35.50."), "invalid_amount")
    if not amount.is_finite() or amount <= 0 or amount > MAX_CLAIM:
        raise invalid("amount", _("Enter an amount above 0 and at most %s yuan.") % MAX_CLAIM, "amount_out_of_range")
    if amount != amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP):
        raise invalid("amount", _("At most two decimal places (fen)."), "too_many_decimals")
    return amount.quantize(Decimal("0.01"))


def fund_save(*, actor, fund=None, node, **data):
    if not _manages(actor, node) or node.level not in (Level.STREET, Level.COMMUNITY):
        raise Denied(_("Only the street staff or the community secretary keep a fund."), code="not_manager")
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
            raise invalid("budget", _("The budget cannot fall below what is approved already."),
                          "budget_below_approved")
        fund.save(update_fields=[f.name for f in Fund._meta.concrete_fields
                                 if not f.primary_key and f.name not in ("approved", "paid")])
    return fund


def claim_submit(*, actor, fund_id, kind, amount, date, grid=None, note="", receipt=None):
    """A leader's claim on a fund that covers their place. `fund_id` an id, `date` a date, `grid`
    one of the leader's micro-grids (default: the first), `amount` a Decimal (or the text sent: the
    rules of two decimals and the ceiling are this service's)."""
    from grid.selectors import my_microgrids

    found = Errors()
    pk = access.parse_id(fund_id)
    fund = Fund.objects.filter(offered_to_q(actor), pk=pk).first() if pk else None
    if fund is None:
        found.add("fund", _("Choose a fund of your street or community."), "unknown_fund")
    elif fund.closed:
        found.add("fund", _("This fund is closed."), "fund_closed")
    if kind not in ClaimKind.values:
        found.add("kind", _("Choose meal, travel, duty or other."), "invalid_choice")
    try:
        amount = _amount(amount)
    except ValidationError as e:
        found.extend(e)
    if not isinstance(date, datetime.date):
        found.add("date", _("Enter a date such as 2026-11-20."), "invalid_date")
    elif date > timezone.localdate():
        found.add("date", _("The expense cannot lie in the future."), "date_in_future")
    elif fund and not fund.closed and not fund.starts_on <= date <= fund.ends_on:
        found.add("date", _("The expense must fall within the fund's period."), "date_outside_period")
    mine = list(my_microgrids(actor))
    if grid is None and mine:
        grid = mine[0]
    if grid is None or grid not in mine:
        found.add("grid", _("Claims are made by micro-grid leaders for their own micro-grid."), "not_your_microgrid")
    if len(note or "") > MAX_NOTE:
        found.add("note", _("At most %d characters.") % MAX_NOTE, "max_length")
    if receipt:
        try:
            check_image(receipt)
        except ValidationError as e:
            found.by_field.setdefault("receipt", []).extend(e.error_list)
    found.raise_if_any()
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
        raise Denied(_("Only the staff who keep the fund decide its claims."), code="not_manager")
    if claim.state != state:
        raise invalid("state", _("This claim is %s.") % claim.get_state_display(), "wrong_state")
    return claim


def claim_approve(*, actor, claim_id, note=""):
    """Approve a claim: the fund's approved total rises in the same transaction, never past the budget."""
    with transaction.atomic():
        claim = _claim(actor, claim_id, ExpenseClaim.State.SUBMITTED)
        drawn = Fund.objects.filter(pk=claim.fund_id, closed=False, approved__lte=F("budget") - claim.amount).update(
            approved=F("approved") + claim.amount)
        if not drawn:
            if Fund.objects.filter(pk=claim.fund_id, closed=True).exists():
                raise invalid("fund", _("This fund is closed."), "fund_closed")
            raise FundExhausted(_("The fund has not enough left for this claim."))
        claim.state, claim.decided_at, claim.decided_by, claim.decision_note = (
            ExpenseClaim.State.APPROVED, timezone.now(), actor, note[:MAX_NOTE])
        claim.save(update_fields=["state", "decided_at", "decided_by", "decision_note"])
        return claim


def claim_reject(*, actor, claim_id, note):
    if not (note or "").strip():
        raise invalid("note", _("Say why the claim is rejected."), "reason_required")
    with transaction.atomic():
        claim = _claim(actor, claim_id, ExpenseClaim.State.SUBMITTED)
        claim.state, claim.decided_at, claim.decided_by, claim.decision_note = (
            ExpenseClaim.State.REJECTED, timezone.now(), actor, note.strip()[:MAX_NOTE])
        claim.save(update_fields=["state", "decided_at", "decided_by", "decision_note"])
        return claim


def claim_pay(*, actor, claim_id):
    with transaction.atomic():
        claim = _claim(actor, claim_id, ExpenseClaim.State.APPROVED)
        Fund.objects.filter(pk=claim.fund_id).update(paid=F("paid") + claim.amount)
        claim.state, claim.paid_at = ExpenseClaim.State.PAID, timezone.now()
        claim.save(update_fields=["state", "paid_at"])
        return claim
