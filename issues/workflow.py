"""The workflow of an issue as plain data: (state, action) → (next state, who may, what is required).

`issues.services.issue_transition` is the only code that changes an issue's state, and it reads this
table and nothing else to decide. Roles are grid role codes held on the issue's node or an ancestor;
two more are relative to the issue: HANDLER (its handling user, or staff of its handling company) and
SYSTEM (the periodic supervision job).
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from grid.models import Role

from .models import OPEN_STATES, State

HANDLER = "handler"
SYSTEM = "system"
SAME = "same"  # the action leaves the state as it is
PREVIOUS = "previous"  # back to the state before the current one (回退)
BACK_TO_HANDLER = "back_to_handler"  # handling again if the issue has a handler, else recorded to be assigned

LEADERS = (Role.LEADER, Role.SECRETARY, Role.STREET_STAFF)
MANAGERS = (Role.SECRETARY, Role.STREET_STAFF)


@dataclass(frozen=True)
class Rule:
    to: str
    roles: tuple
    required: tuple = ()
    optional: tuple = field(default=())


def _rules():
    table = {
        (State.REPORTED, "resolve_on_spot"): Rule(State.RESOLVED, LEADERS, ("note",)),
        (State.REPORTED, "record"): Rule(State.RECORDED, LEADERS + (Role.PARTY_BRANCH,), (), ("note",)),
        (State.RECORDED, "assign"): Rule(State.HANDLING, MANAGERS, (), ("handler_org", "handler_user", "due", "note")),
        (State.ANALYSIS, "assign"): Rule(State.HANDLING, MANAGERS, (), ("handler_org", "handler_user", "due", "note")),
        (State.DISPOSAL, "assign"): Rule(State.HANDLING, MANAGERS, ("plan",), ("handler_org", "handler_user", "due", "note")),
        (State.HANDLING, "submit_done"): Rule(State.VERIFYING, (HANDLER,), ("note",)),
        (State.VERIFYING, "verify"): Rule(State.RESOLVED, LEADERS, (), ("note",)),
        (State.VERIFYING, "reject"): Rule(State.HANDLING, LEADERS, ("note",)),
        (State.RECORDED, "return"): Rule(PREVIOUS, MANAGERS, ("note",)),
        (State.HANDLING, "return"): Rule(PREVIOUS, (HANDLER,) + MANAGERS, ("note",)),
        (State.RECORDED, "refer_analysis"): Rule(State.ANALYSIS, LEADERS + (Role.PARTY_BRANCH,), ("note",), ("common", "difficult")),
        (State.HANDLING, "refer_analysis"): Rule(State.ANALYSIS, LEADERS + (Role.PARTY_BRANCH,), ("note",), ("common", "difficult")),
        (State.ANALYSIS, "escalate"): Rule(State.DISPOSAL, (Role.PARTY_BRANCH,) + MANAGERS, ("note",)),
        (State.HANDLING, "escalate"): Rule(State.DISPOSAL, (Role.PARTY_BRANCH,) + MANAGERS, ("note",)),
        (State.DISPOSAL, "declare_unresolvable"): Rule(State.UNRESOLVABLE, MANAGERS, ("announcement",), ("note",)),
        (State.RESOLVED, "give_feedback"): Rule(State.CLOSED, LEADERS, ("channel", "text", "satisfaction")),
        (State.UNRESOLVABLE, "give_feedback"): Rule(State.CLOSED, LEADERS, ("channel", "text", "satisfaction")),
        (State.CLOSED, "reopen"): Rule(BACK_TO_HANDLER, LEADERS, ("note",)),
        (State.HANDLING, "request_extension"): Rule(SAME, (HANDLER,), ("reason", "until")),
        (State.HANDLING, "decide_extension"): Rule(SAME, MANAGERS, ("approve",), ("note",)),
        (State.HANDLING, "yellow_card"): Rule(SAME, (SYSTEM,)),
        (State.HANDLING, "red_card"): Rule(SAME, (SYSTEM,)),
    }
    for state in OPEN_STATES:
        table[(state, "merge")] = Rule(State.CLOSED, LEADERS, ("into",), ("note",))
    return table


TABLE = _rules()

# How staff pages name each action (buttons, timelines). Residents' pages word them for residents.
ACTION_LABELS = {
    "report": _("Reported"),
    "resolve_on_spot": _("Resolve on the spot"),
    "record": _("Record"),
    "assign": _("Assign"),
    "submit_done": _("Report it done"),
    "verify": _("Verify"),
    "reject": _("Reject"),
    "return": _("Return"),
    "refer_analysis": _("Refer to joint analysis"),
    "escalate": _("Escalate to joint disposal"),
    "declare_unresolvable": _("Declare unresolvable"),
    "give_feedback": _("Give feedback"),
    "reopen": _("Reopen"),
    "request_extension": _("Request an extension"),
    "decide_extension": _("Decide the extension"),
    "merge": _("Merge as a duplicate"),
    "yellow_card": _("Yellow card"),
    "red_card": _("Red card"),
}
ACTIONS = sorted({action for _, action in TABLE})
# Actions people take through the API and pages; the cards are the supervision job's.
USER_ACTIONS = [a for a in ACTIONS if a not in ("yellow_card", "red_card")]


def rule_for(state, action):
    return TABLE.get((state, action))


def actions_from(state):
    return [action for (s, action) in TABLE if s == state]
