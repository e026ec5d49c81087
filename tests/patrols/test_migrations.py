"""patrols 0003: the monthly jobs' runs move from patrols.JobRun to common.JobRun under their registry
names, with their place as a plain id and name, and the rights on them move along; back again too."""

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from common.models import JobRun
from tests.factories import node

BEFORE = [("patrols", "0002_scenarios")]
AFTER = [("patrols", "0003_jobruns_to_common")]


def migrate(targets=None):
    """The database at `targets` (None: every app's latest), and the models as they were there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def at_patrols_0002(transactional_db):
    """The database before the move; every app's latest migrations again afterwards, whatever happened."""
    try:
        yield migrate(BEFORE)
    finally:
        migrate()


def test_job_runs_and_their_permissions_move_to_common(at_patrols_0002):
    apps = at_patrols_0002
    GridNode = apps.get_model("grid", "GridNode")
    OldRun = apps.get_model("patrols", "JobRun")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    User = apps.get_model("grid", "User")

    street = GridNode.objects.get(pk=node(name="测试街道", code="MIG").pk)  # the tree's own tables are current
    started = timezone.now() - datetime.timedelta(days=3)
    OldRun.objects.create(job="plans", month="2026-09", node=street, trigger="beat", started_at=started,
                          finished_at=started, outcome="ok", result={"created": 4}, attempt=1)
    OldRun.objects.create(job="reports", month="2026-08", trigger="command", outcome="failed",
                          error="OperationalError('x')", attempt=2)
    ct, _ = ContentType.objects.get_or_create(app_label="patrols", model="jobrun")
    run_jobs, _ = Permission.objects.get_or_create(content_type=ct, codename="run_jobs",
                                                   defaults={"name": "Can start a monthly job"})
    view, _ = Permission.objects.get_or_create(content_type=ct, codename="view_jobrun",
                                               defaults={"name": "Can view job run"})
    group = Group.objects.create(name="role:test_staff")
    group.permissions.add(run_jobs, view)
    user = User.objects.create(username="migrated")
    user.user_permissions.add(view)

    apps = migrate(AFTER)
    NewRun = apps.get_model("common", "JobRun")
    runs = list(NewRun.objects.order_by("id").values("job", "month", "node_id", "node_name", "trigger", "outcome",
                                                      "result", "error", "attempt", "started_at"))
    assert [(r["job"], r["month"], r["node_id"], r["node_name"], r["trigger"], r["outcome"], r["attempt"])
            for r in runs] == [
        ("patrols.plans", "2026-09", street.pk, "测试街道", "beat", "ok", 1),
        ("patrols.reports", "2026-08", None, "", "command", "failed", 2),
    ]
    assert runs[0]["result"] == {"created": 4} and runs[0]["started_at"] == started
    assert runs[1]["error"] == "OperationalError('x')"
    Group = apps.get_model("auth", "Group")
    User = apps.get_model("grid", "User")
    held = set(Group.objects.get(name="role:test_staff").permissions.values_list("content_type__app_label", "codename"))
    assert {("common", "run_jobs"), ("common", "view_jobrun")} <= held
    assert ("common", "view_jobrun") in set(
        User.objects.get(username="migrated").user_permissions.values_list("content_type__app_label", "codename"))
    assert "patrols_jobrun" not in connection.introspection.table_names()

    # And back: the runs return to patrols, their node where it still exists.
    apps = migrate(BEFORE)
    OldRun = apps.get_model("patrols", "JobRun")
    assert list(OldRun.objects.order_by("id").values_list("job", "node_id", "outcome")) == [
        ("plans", street.pk, "ok"), ("reports", None, "failed")]
    assert not JobRun.objects.filter(job__startswith="patrols.").exists()
