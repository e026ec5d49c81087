from django.db import migrations

# The street's starting rules (editable in the admin): quality, not volume — reporting earns nothing.
RULES = [
    ("patrol_attended", "参加联动巡查", 5, 20),
    ("resolved_on_spot", "问题现场解决", 3, 30),
    ("closed_satisfied", "问题办结且居民满意", 5, 50),
    ("mediation_logged", "纠纷调解", 3, 30),
    ("errand_logged", "政务代办", 2, 20),
    ("hazard_logged", "隐患排查", 2, 20),
    ("red_card", "被亮红牌", -5, None),
    ("reopened", "问题被重新打开", -3, None),
    ("duplicate_own_report", "重复上报本人已报问题", -1, 10),
]


def add(apps, schema_editor):
    PointRule = apps.get_model("incentives", "PointRule")
    for code, name, points, cap in RULES:
        PointRule.objects.get_or_create(code=code, defaults={"name": name, "points": points, "monthly_cap": cap})


class Migration(migrations.Migration):
    dependencies = [("incentives", "0001_initial")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
