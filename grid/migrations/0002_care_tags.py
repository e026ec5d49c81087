from django.db import migrations

# Codes are stable (the Excel registers and the API use them); names are the street's own words.
CARE_TAGS = [
    ("elderly_alone", "独居老人"),
    ("mobility", "行动不便"),
    ("disabled", "残疾人"),
    ("low_income", "低保户"),
    ("left_behind_child", "留守儿童"),
    ("veteran", "退役军人"),
]


def add_tags(apps, schema_editor):
    CareTag = apps.get_model("grid", "CareTag")
    for code, name in CARE_TAGS:
        CareTag.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("grid", "0001_initial")]
    operations = [migrations.RunPython(add_tags, migrations.RunPython.noop)]
