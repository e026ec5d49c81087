"""The Jinyuan demo street: a deterministic generator that reproduces the reference figures exactly.

1 street, 15 communities, 95 residential compounds and 34 settlements, buildings and units inside the
residential compounds, 1606 micro-grids (162 / 30 / 57 / 5 / 1186 / 166), 54,707 households and 1,352
A-post leaders (one per residential or settlement micro-grid). `scale` multiplies the street for
benchmarks (scale=2 builds a second, independent street).
"""

import random
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from common import registry

from . import services
from .access import same_street_q
from .models import CareTag, GridNode, Kind, Level, OrgKind, Organisation, Post, Role, RoleAssignment

DEMO_PASSWORD = "jinyuan2023"

# What the apps above add to a freshly built demo street: callables taking the street node,
# registered from their AppConfig.ready (grid cannot import them).
DEMO_STEPS = registry.demo_steps

COMMUNITIES = [
    "东街社区", "南街社区", "西街社区", "北街社区", "子龙社区", "文庙社区", "潘家街社区", "凤凰社区",
    "银都社区", "桥南社区", "川西社区", "金星村", "沙河村", "甲子村", "三岔村",
]
# Which communities hold residential compounds and settlements (villages hold the settlements).
RESIDENTIAL_COMMUNITIES = range(0, 12)
SETTLEMENT_COMMUNITIES = range(8, 15)

FIGURES = {
    "compounds": {Kind.RESIDENTIAL: 95, Kind.SETTLEMENT: 34},
    "microgrids": {
        Kind.BUSINESS: 162, Kind.SCENIC: 30, Kind.INSTITUTION: 57, Kind.ENTERPRISE: 5,
        Kind.RESIDENTIAL: 1186, Kind.SETTLEMENT: 166,
    },
    "households": 54_707,
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强春秀玉兰德明淑珍文海红梅小红晓东海燕俊杰子涵雨欣"
COMPOUND_PREFIX = [
    "锦江", "金色", "阳光", "翠苑", "书香", "银杏", "桂花", "龙湖", "滨河", "蜀南", "鹤鸣", "雾中", "花水湾",
    "安仁", "凤栖", "学府", "康桥", "紫荆", "天府", "青城", "明珠", "恒大", "星河", "南湖", "锦绣", "静惠",
]
COMPOUND_SUFFIX = ["花园", "家园", "小区", "苑", "名城", "雅居", "院落", "新村", "华庭", "公寓"]
SCENIC = ["刘氏庄园", "新场古镇", "建川博物馆", "鹤鸣山", "雾中山", "花水湾温泉", "西岭雪山游客中心", "安仁古镇"]
INSTITUTIONS = ["县人民医院", "县中医医院", "晋原小学", "大邑中学", "实验幼儿园", "县政务服务中心", "县图书馆",
                "税务所", "派出所", "供电所", "邮政支局", "卫生服务中心"]
ENTERPRISES = ["大邑经开区食品有限公司", "蜀都机械制造有限公司", "锦源新材料有限公司",
               "天府电子科技有限公司", "晋原包装有限公司"]
CARE_TAGS = [  # (code, share of households)
    ("elderly_alone", 0.06), ("mobility", 0.025), ("disabled", 0.02), ("low_income", 0.035),
    ("left_behind_child", 0.01), ("veteran", 0.015),
]


def insert_rows(model, fields, rows, batch=5000):
    """Plain rows (values adapted for the database, in the order of `fields`) into `model`'s table with
    executemany: for the demo's simple rows that come by the ten thousand (work logs, checklist answers,
    points entries), where bulk_create spends about 0.1 ms a row building and compiling model instances."""
    ops = connection.ops
    columns = ", ".join(ops.quote_name(model._meta.get_field(f).column) for f in fields)
    sql = f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        for i in range(0, len(rows), batch):
            cursor.executemany(sql, rows[i:i + batch])


def split(total, parts, rng, low=1):
    """`total` into `parts` positive integers that vary plausibly and add up exactly."""
    weights = [rng.uniform(0.6, 1.4) for _ in range(parts)]
    scale = (total - low * parts) / sum(weights)
    raw = [w * scale for w in weights]
    out = [low + int(r) for r in raw]
    rest = total - sum(out)
    for i in sorted(range(parts), key=lambda i: raw[i] - int(raw[i]), reverse=True)[:rest]:
        out[i] += 1
    return out


def person(rng):
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def phone(rng):
    return rng.choice(["138", "139", "136", "158", "159", "187", "182", "135", "177", "199"]) + "".join(
        rng.choice("0123456789") for _ in range(8)
    )


@dataclass
class Plan:
    """The nodes to create (as tree_build rows) and, per micro-grid, what hangs on it."""

    rows: list = field(default_factory=list)
    homes: list = field(default_factory=list)  # (micro-grid code, building, unit) for household places
    leader_grids: list = field(default_factory=list)  # micro-grid codes that get an A post, compound-grouped
    compounds: list = field(default_factory=list)  # (community index, compound code, kind)

    def add(self, code, name, level, kind="", parent=""):
        self.rows.append({"code": code, "name": name, "level": level, "kind": kind, "parent_code": parent})
        return code


def plan_street(rng, code="JY", name="晋原街道"):
    plan = Plan()
    street = plan.add(code, name, Level.STREET)
    communities = [plan.add(f"{code}{i + 1:02d}", n, Level.COMMUNITY, parent=street) for i, n in enumerate(COMMUNITIES)]
    if code != "JY":  # a benchmark copy: same shape, its own names
        for row in plan.rows[1:]:
            row["name"] = f"{name}{row['name']}"

    used_names = set()

    def compound_name():
        while True:
            n = rng.choice(COMPOUND_PREFIX) + rng.choice(COMPOUND_SUFFIX)
            if n not in used_names:
                used_names.add(n)
                return n
            n = f"{n}{rng.randint(2, 9)}期"
            if n not in used_names:
                used_names.add(n)
                return n

    res_counts = split(FIGURES["compounds"][Kind.RESIDENTIAL], len(RESIDENTIAL_COMMUNITIES), rng)
    res_grids = split(FIGURES["microgrids"][Kind.RESIDENTIAL], FIGURES["compounds"][Kind.RESIDENTIAL], rng, low=3)
    k = 0
    for ci, count in zip(RESIDENTIAL_COMMUNITIES, res_counts):
        for j in range(count):
            cc = plan.add(f"{communities[ci]}-R{j + 1:02d}", compound_name(), Level.COMPOUND, Kind.RESIDENTIAL, communities[ci])
            plan.compounds.append((ci, cc, Kind.RESIDENTIAL))
            grids = res_grids[k]
            k += 1
            if grids <= 6 and rng.random() < 0.4:
                # A small 院落: micro-grids straight under the compound, no buildings.
                for g in range(grids):
                    mg = plan.add(f"{cc}-G{g + 1}", f"第{g + 1}微网格", Level.MICROGRID, Kind.RESIDENTIAL, cc)
                    plan.homes.append((mg, "", ""))
                    plan.leader_grids.append((cc, mg))
                continue
            b = 0
            while grids > 0:
                b += 1
                units = min(rng.choice((1, 2, 2, 3)), grids)
                grids -= units
                bc = plan.add(f"{cc}-B{b}", f"{b}栋", Level.BUILDING, parent=cc)
                if units == 1:  # a one-unit building: the micro-grid hangs on the building
                    mg = plan.add(f"{bc}-G1", f"{b}栋微网格", Level.MICROGRID, Kind.RESIDENTIAL, bc)
                    plan.homes.append((mg, f"{b}栋", ""))
                    plan.leader_grids.append((cc, mg))
                    continue
                for u in range(1, units + 1):
                    uc = plan.add(f"{bc}-U{u}", f"{u}单元", Level.UNIT, parent=bc)
                    mg = plan.add(f"{uc}-G1", f"{b}栋{u}单元微网格", Level.MICROGRID, Kind.RESIDENTIAL, uc)
                    plan.homes.append((mg, f"{b}栋", f"{u}单元"))
                    plan.leader_grids.append((cc, mg))

    set_counts = split(FIGURES["compounds"][Kind.SETTLEMENT], len(SETTLEMENT_COMMUNITIES), rng)
    set_grids = split(FIGURES["microgrids"][Kind.SETTLEMENT], FIGURES["compounds"][Kind.SETTLEMENT], rng, low=2)
    k = 0
    for ci, count in zip(SETTLEMENT_COMMUNITIES, set_counts):
        for j in range(count):
            sname = f"{rng.choice(SURNAMES)}家林盘"
            while sname in used_names:
                sname = f"{rng.choice(SURNAMES)}家林盘"
            used_names.add(sname)
            sc = plan.add(f"{communities[ci]}-S{j + 1:02d}", sname, Level.COMPOUND, Kind.SETTLEMENT, communities[ci])
            plan.compounds.append((ci, sc, Kind.SETTLEMENT))
            for g in range(set_grids[k]):
                mg = plan.add(f"{sc}-G{g + 1}", f"{sname}第{g + 1}微网格", Level.MICROGRID, Kind.SETTLEMENT, sc)
                plan.homes.append((mg, f"{g + 1}组", ""))
                plan.leader_grids.append((sc, mg))
            k += 1

    # Micro-grids hung straight on their community: shop streets, scenic areas, institutions, enterprises.
    direct = [
        (Kind.BUSINESS, "BIZ", lambda i: f"商铺第{i}微网格"),
        (Kind.SCENIC, "SCN", lambda i: f"{SCENIC[i % len(SCENIC)]}微网格{i}"),
        (Kind.INSTITUTION, "INS", lambda i: f"{INSTITUTIONS[i % len(INSTITUTIONS)]}微网格{i}"),
        (Kind.ENTERPRISE, "ENT", lambda i: ENTERPRISES[(i - 1) % len(ENTERPRISES)]),
    ]
    for kind, prefix, label in direct:
        total = FIGURES["microgrids"][kind]
        per = split(total, len(communities), rng, low=0) if total >= len(communities) else [
            1 if i < total else 0 for i in range(len(communities))
        ]
        n = 0
        for ci, count in enumerate(per):
            for _ in range(count):
                n += 1
                plan.add(f"{communities[ci]}-{prefix}{n:03d}", label(n), Level.MICROGRID, kind, communities[ci])
    return plan


def build_street(*, seed=2023, code="JY", name="晋原街道", stdout=None):
    """Create the demo street with its people. Returns the street node. Expects the code to be free."""
    rng = random.Random(f"{seed}:{code}")
    plan = plan_street(rng, code, name)
    User = get_user_model()
    password = make_password(DEMO_PASSWORD)
    with transaction.atomic():
        services.tree_build(rows=plan.rows)
        nodes = {n.code: n for n in GridNode.objects.filter(same_street_q(GridNode.objects.get(code=code)))}
        street = nodes[code]

        # Households: 54,707 spread over the residential and settlement micro-grids.
        tags = {t.code: t for t in CareTag.objects.filter(code__in=[c for c, _ in CARE_TAGS])}
        sizes = split(FIGURES["households"], len(plan.homes), rng, low=10)
        rows = []
        for (mg, building, unit), size in zip(plan.homes, sizes):
            floors = max(2, size // 4)
            for i in range(size):
                room = f"{i % floors + 1}{i // floors + 1:02d}" if building and unit else f"{i + 1}号"
                row_tags = [tags[c] for c, share in CARE_TAGS if c in tags and rng.random() < share]
                rows.append({
                    "grid": nodes[mg], "building": building, "unit": unit, "room": room, "head": person(rng),
                    "phone": phone(rng) if rng.random() < 0.95 else "", "members": rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5, 6)),
                    "tags": row_tags,
                })
        services.households_bulk_create(rows=rows)

        # People: street staff, secretaries, party branches, leaders (A posts, some B posts), property staff.
        prefix = code.lower()
        users, assignments = [], []

        def login(username, full_name):
            u = User(username=username, name=full_name, phone=phone(rng), password=password)
            users.append(u)
            return u

        staff = login(f"{prefix}_jiedao", person(rng))
        assignments.append(RoleAssignment(user=staff, node=street, role=Role.STREET_STAFF, start="2022-01-01"))
        communities = [nodes[f"{code}{i + 1:02d}"] for i in range(len(COMMUNITIES))]
        for i, comm in enumerate(communities, start=1):
            sec = login(f"{prefix}_shuji{i:02d}", person(rng))
            assignments.append(RoleAssignment(user=sec, node=comm, role=Role.SECRETARY, start="2021-06-01"))
            pb = login(f"{prefix}_dangzhibu{i:02d}", person(rng))
            assignments.append(RoleAssignment(user=pb, node=comm, role=Role.PARTY_BRANCH, start="2021-06-01"))
        a_post = {}
        for n, (compound, mg) in enumerate(plan.leader_grids, start=1):
            leader = login(f"{prefix}_wgz{n:04d}", person(rng))
            a_post[mg] = leader
            assignments.append(RoleAssignment(
                user=leader, node=nodes[mg], role=Role.LEADER, post=Post.A,
                public_phone=phone(rng), start=f"202{rng.choice((2, 3))}-0{rng.randint(1, 9)}-01",
            ))
        # B posts: in about a fifth of the micro-grids, a neighbour's A-post leader stands in.
        for (compound, mg), (compound2, mg2) in zip(plan.leader_grids, plan.leader_grids[1:]):
            if compound == compound2 and rng.random() < 0.2:
                assignments.append(RoleAssignment(
                    user=a_post[mg2], node=nodes[mg], role=Role.LEADER, post=Post.B, start="2023-03-01",
                ))
        # Organisations: property companies serving the residential compounds, a party branch per community.
        companies = []
        for i, cname in enumerate(["锦城物业", "蜀信物业", "晋原物业", "安居物业", "鑫源物业", "嘉和物业"], start=1):
            org = services.organisation_save(
                name=f"{name}{cname}服务有限公司", kind=OrgKind.PROPERTY, phone=phone(rng), street=street
            )
            companies.append(org)
            worker = login(f"{prefix}_wuye{i:02d}", person(rng))
            assignments.append(RoleAssignment(
                user=worker, node=communities[0], role=Role.PROPERTY_STAFF, organisation=org, start="2023-01-01",
            ))
        User.objects.bulk_create(users, batch_size=2000)
        served = [
            Organisation.nodes.through(organisation_id=companies[i % len(companies)].pk, gridnode_id=nodes[cc].pk)
            for i, (ci, cc, kind) in enumerate(plan.compounds) if kind == Kind.RESIDENTIAL
        ]
        for i, comm in enumerate(communities, start=1):
            branch = services.organisation_save(name=f"{comm.name}党委", kind=OrgKind.PARTY_BRANCH, street=street)
            served.append(Organisation.nodes.through(organisation_id=branch.pk, gridnode_id=comm.pk))
        Organisation.nodes.through.objects.bulk_create(served)
        services.roles_bulk_assign(assignments=assignments)
        for u, role in [(staff, Role.STREET_STAFF)] + [
            (a.user, a.role) for a in assignments if a.role in (Role.SECRETARY, Role.PARTY_BRANCH)
        ]:
            services.user_grant_admin(user=u, role=role)
        return street


def demo_accounts(code="JY"):
    """The accounts worth printing: one of each kind of user."""
    p = code.lower()
    return [
        ("admin", "superuser: everything"),
        (f"{p}_jiedao", "street staff: the whole street, full phones"),
        (f"{p}_shuji01", "party secretary of community 01"),
        (f"{p}_wgz0001", "micro-grid leader (A post)"),
        (f"{p}_wuye01", "property company staff"),
    ]
