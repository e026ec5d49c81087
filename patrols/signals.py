"""Domain signals for the apps above the patrols (incentives). Sent once the write is committed, to
every receiver even if one fails (`common.hooks.send_on_commit`): a failing receiver is logged and
never changes the answer of the action."""

from django.dispatch import Signal

# kwargs: patrol_id, plan_id
patrol_done = Signal()
# kwargs: worklog_id, kind, leader_id
work_logged = Signal()
