"""Proof that the stored tree is consistent: nested-set numbers, domain invariants, scope columns."""

from collections import defaultdict

from django.db.models import F

from .models import GridNode, Household, Level, kinds_for_level


def tree_faults():
    """Every fault found, as readable lines; an empty list means the tree is sound."""
    faults = []
    rows = list(GridNode.objects.values_list("pk", "code", "parent_id", "level", "kind", "tree_id", "lft", "rght", "depth"))
    by_id = {r[0]: r for r in rows}
    children = defaultdict(list)
    roots_by_tree = defaultdict(list)
    for r in rows:
        pk, code, parent_id, level, kind, tree_id, lft, rght, depth = r
        if parent_id is None:
            roots_by_tree[tree_id].append(pk)
            if level != Level.STREET:
                faults.append(f"{code}: a root that is not a street (level {level})")
        else:
            children[parent_id].append(r)
            parent = by_id.get(parent_id)
            if parent is None:
                faults.append(f"{code}: parent {parent_id} does not exist")
                continue
            if level <= parent[3]:
                faults.append(f"{code}: level {level} is not deeper than its parent {parent[1]} (level {parent[3]})")
            if parent[3] == Level.MICROGRID:
                faults.append(f"{code}: hangs under micro-grid {parent[1]}")
            if tree_id != parent[5]:
                faults.append(f"{code}: tree {tree_id} differs from its parent's tree {parent[5]}")
        if kind not in kinds_for_level(level):
            faults.append(f"{code}: kind {kind!r} is not allowed at level {level}")
    for tree_id, roots in roots_by_tree.items():
        if len(roots) > 1:
            faults.append(f"tree {tree_id}: {len(roots)} roots")
    # Recompute the nested-set numbers by walking the tree in stored sibling order and compare.
    for tree_id, roots in roots_by_tree.items():
        counter = 0
        stack = [(by_id[roots[0]], 0, False)]
        expected = {}
        while stack:
            node, depth, closing = stack.pop()
            counter += 1
            if closing:
                expected[node[0]] = (expected[node[0]][0], counter, depth)
                continue
            expected[node[0]] = (counter, None, depth)
            stack.append((node, depth, True))
            for child in sorted(children[node[0]], key=lambda c: c[6], reverse=True):
                stack.append((child, depth + 1, False))
        for pk, (lft, rght, depth) in expected.items():
            r = by_id[pk]
            if (r[6], r[7], r[8]) != (lft, rght, depth):
                faults.append(f"{r[1]}: lft/rght/depth {r[6]}/{r[7]}/{r[8]}, expected {lft}/{rght}/{depth}")
    reached = set()
    for tree_id, roots in roots_by_tree.items():
        stack = [roots[0]]
        while stack:
            pk = stack.pop()
            reached.add(pk)
            stack.extend(c[0] for c in children[pk])
    for pk in by_id.keys() - reached:
        faults.append(f"{by_id[pk][1]}: not reachable from any street (a cycle?)")
    faults += household_faults()
    return faults


def household_faults():
    faults = []
    wrong_level = Household.objects.exclude(grid__level=Level.MICROGRID).values_list("pk", flat=True)[:20]
    faults += [f"household {pk}: not on a micro-grid" for pk in wrong_level]
    communities = GridNode.objects.filter(level=Level.COMMUNITY).values_list("pk", "tree_id", "lft", "rght")
    for pk, tree_id, lft, rght in communities:
        bad = (
            Household.objects.filter(grid__tree_id=tree_id, grid__lft__gt=lft, grid__rght__lt=rght)
            .exclude(community_id=pk).values_list("pk", flat=True)[:5]
        )
        faults += [f"household {h}: community column is not {pk}" for h in bad]
    bad_street = Household.objects.exclude(street__tree_id=F("grid__tree_id")).values_list("pk", flat=True)[:20]
    faults += [f"household {h}: street column is not its grid's street" for h in bad_street]
    return faults
