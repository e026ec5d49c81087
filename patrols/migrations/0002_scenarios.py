from django.db import migrations

# The two scenarios the street starts with (editable in the admin; more are added there).
MONTHLY = ("联动巡查检查表", [
    ("物业服务", ["电梯运行与年检标识", "楼道照明与消防通道畅通", "门禁与监控设施完好", "物业公示与收费透明"]),
    ("环境卫生", ["垃圾分类与清运及时", "绿化带管护与无杂物堆放", "下水道与化粪池无堵塞外溢"]),
    ("公共设施", ["健身器材与儿童游乐设施安全", "路面、井盖与排水设施完好", "电动车集中充电设施规范"]),
])
CARE = ("关爱走访检查表", [
    ("生活状况", ["居住环境安全（燃气、用电）", "饮食起居与身体状况", "紧急联系人及联系方式"]),
    ("帮扶需求", ["医疗与康复需求", "政策待遇落实情况", "需社区代办的事项"]),
])
SCENARIOS = [
    ("monthly_joint_patrol", "每月联动巡查", MONTHLY, ["property_repair", "property_service", "sanitation", "greening",
                                                      "facilities", "road_lighting", "fire_safety"], [3], 10),
    ("care_visit", "关爱对象走访", CARE, ["errand", "building_safety", "neighbour_dispute", "other"], [2], 15),
]


def add(apps, schema_editor):
    Template = apps.get_model("patrols", "ChecklistTemplate")
    Item = apps.get_model("patrols", "ChecklistItem")
    Scenario = apps.get_model("patrols", "Scenario")
    Category = apps.get_model("issues", "Category")
    for code, name, (template_name, groups), categories, levels, day in SCENARIOS:
        template, created = Template.objects.get_or_create(name=template_name)
        if created:
            order = 0
            for group, texts in groups:
                for text in texts:
                    order += 10
                    Item.objects.create(template=template, group=group, text=text, order=order)
        scenario, created = Scenario.objects.get_or_create(code=code, defaults={
            "name": name, "template": template, "levels": levels, "planned_day": day})
        if created:
            scenario.categories.set(Category.objects.filter(code__in=categories))


class Migration(migrations.Migration):
    dependencies = [("patrols", "0001_initial"), ("issues", "0002_categories")]
    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
