"""Domain signals for the apps above the ledger (patrols, incentives). Sent on commit only."""

from django.dispatch import Signal

# kwargs: issue_id, event_id, action, to_state
issue_event = Signal()
