"""Domain signals for the apps above the patrols (incentives). Sent on commit only."""

from django.dispatch import Signal

# kwargs: patrol_id, plan_id
patrol_done = Signal()
# kwargs: worklog_id, kind, leader_id
work_logged = Signal()
