"""The monthly jobs' runs move to common.JobRun (every periodic job's record): each patrols run is
copied over under its registry name (`plans` → `patrols.plans`, `reports` → `patrols.reports`), its
node kept as a plain id and name; whoever could view runs or start a job here keeps that right on
common's table (`common.view_jobrun`, `common.run_jobs`). Then patrols.JobRun goes."""

from django.db import migrations

JOBS = {"plans": "patrols.plans", "reports": "patrols.reports"}
PERMISSIONS = {"view_jobrun": "Can view job run", "run_jobs": "Can start a job"}  # the same codenames on both
FIELDS = ("month", "trigger", "started_at", "finished_at", "outcome", "result", "error", "attempt")


def _permissions(apps, app_label):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    ct, _created = ContentType.objects.get_or_create(app_label=app_label, model="jobrun")
    return Permission, ct


def forwards(apps, schema_editor):
    Old = apps.get_model("patrols", "JobRun")
    New = apps.get_model("common", "JobRun")
    runs = []
    for run in Old.objects.select_related("node").order_by("id").iterator():
        runs.append(New(job=JOBS.get(run.job, f"patrols.{run.job}"), node_id=run.node_id,
                        node_name=run.node.name[:100] if run.node_id else "",
                        **{f: getattr(run, f) for f in FIELDS}))
    New.objects.bulk_create(runs, batch_size=2000)
    _move_permissions(apps, "patrols", "common")


def backwards(apps, schema_editor):
    Old = apps.get_model("patrols", "JobRun")
    New = apps.get_model("common", "JobRun")
    GridNode = apps.get_model("grid", "GridNode")
    back = {name: job for job, name in JOBS.items()}
    runs = New.objects.filter(job__in=back).order_by("id")
    nodes = set(GridNode.objects.filter(pk__in=runs.values("node_id")).values_list("pk", flat=True))
    Old.objects.bulk_create([
        Old(job=back[run.job], node_id=run.node_id if run.node_id in nodes else None,
            **{f: getattr(run, f) for f in FIELDS}) for run in runs.iterator()
    ], batch_size=2000)
    runs.delete()
    _move_permissions(apps, "common", "patrols")


def _move_permissions(apps, source, target):
    """Groups and users holding a permission on `source`'s job runs get the same one on `target`'s."""
    Permission, source_ct = _permissions(apps, source)
    _Permission, target_ct = _permissions(apps, target)
    for codename, name in PERMISSIONS.items():
        old = Permission.objects.filter(content_type=source_ct, codename=codename).first()
        if old is None:
            continue
        new, _created = Permission.objects.get_or_create(content_type=target_ct, codename=codename,
                                                         defaults={"name": name})
        for group in old.group_set.all():
            group.permissions.add(new)
        for user in old.user_set.all():
            user.user_permissions.add(new)


class Migration(migrations.Migration):

    dependencies = [
        ("patrols", "0002_scenarios"),
        ("common", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.DeleteModel(name="JobRun"),
    ]
