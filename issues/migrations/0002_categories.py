from django.db import migrations

# The street's starting categories (editable in the admin): code, name, group, deadline, unit, handler.
CATEGORIES = [
    ("property_repair", "物业维修", "property", 5, "days", "property"),
    ("property_service", "物业服务", "property", 5, "days", "property"),
    ("sanitation", "环境卫生", "environment", 2, "days", "property"),
    ("greening", "绿化管护", "environment", 5, "days", "property"),
    ("noise", "噪声扰民", "environment", 3, "days", "community"),
    ("facilities", "公共设施损坏", "facilities", 5, "days", "community"),
    ("road_lighting", "道路照明", "facilities", 5, "days", "street"),
    ("fire_safety", "消防安全隐患", "safety", 8, "hours", "street"),
    ("building_safety", "房屋安全隐患", "safety", 2, "days", "street"),
    ("neighbour_dispute", "邻里纠纷", "dispute", 5, "days", "community"),
    ("errand", "政务代办", "government", 3, "days", "community"),
    ("other", "其他", "other", 5, "days", "community"),
]


def add(apps, schema_editor):
    Category = apps.get_model("issues", "Category")
    for code, name, group, deadline, unit, handler in CATEGORIES:
        Category.objects.get_or_create(code=code, defaults={
            "name": name, "group": group, "deadline": deadline, "deadline_unit": unit, "handler_kind": handler})


class Migration(migrations.Migration):
    dependencies = [("issues", "0001_initial")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
