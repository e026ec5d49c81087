"""The monthly report at scale on SQLite: the demo street with a year of activity (patrols, work logs and
about 20,000 issues in all), then the time of `reports_generate` for last month over the whole street
(15 community reports and the street's roll-up), several runs, the median.

    .venv/bin/python benchmarks/patrol_report.py [--issues 20000] [--runs 5] [--db FILE] [--profile]

It builds a fresh SQLite database in a temporary folder (migrate, the street, the patrols' year with
patrols.demo.build_patrols, then issues.demo.build_issues for the rest of the ledger). Each run deletes
last month's reports first (untimed), so every run does what the job does on the 1st: create them, each
report committed on its own. The target: under 10 seconds on a 2-core machine.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def machine():
    import sqlite3

    import django

    from seed_demo_bench import machine as cores_cpu_python

    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB RAM"
                break
    except OSError:
        pass
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (f"{cores_cpu_python()}, {ram}, SQLite {sqlite3.sqlite_version}, Django {django.get_version()}, "
            f"{platform.system()} {platform.release()}{load}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=20_000,
                        help="issues in the ledger in all (patrol findings included)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", help="reuse this SQLite file if it was built before (else build it there)")
    parser.add_argument("--profile", action="store_true", help="also profile one run (cProfile, top 25 by own time)")
    args = parser.parse_args()
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "bench.sqlite3"
    reuse = path.exists()
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from common.periods import previous_month
    from grid.demo import build_street
    from grid.models import GridNode
    from issues.demo import build_issues
    from issues.models import Issue, Source
    from patrols import services
    from patrols.demo import build_patrols
    from patrols.models import MonthlyReport, Patrol, PatrolPlan, WorkLog

    call_command("migrate", verbosity=0)
    if not reuse:
        started = time.perf_counter()
        with transaction.atomic():
            street = build_street()
            # The patrols' year first (its findings are issues too), then the rest of the ledger.
            made = build_patrols(street=street, reports=False)
            build_issues(street=street, count=max(0, args.issues - made.get("issues", 0)))
        print(f"built the street and its year in {time.perf_counter() - started:.1f} s "
              f"(database {path}; pass --db to measure it again)", flush=True)
    street = GridNode.objects.get(code="JY")
    month = previous_month()
    patrol_issues = Issue.objects.filter(street=street, source=Source.PATROL)
    print(f"data: {Issue.objects.filter(street=street).count()} issues ({patrol_issues.count()} from patrols, "
          f"{patrol_issues.filter(finding__isnull=False).count()} of them patrol findings), "
          f"{PatrolPlan.objects.filter(street=street).count()} plans, "
          f"{Patrol.objects.filter(plan__street=street).count()} patrol records, "
          f"{WorkLog.objects.filter(street=street).count()} work logs", flush=True)

    def run():
        MonthlyReport.objects.filter(street=street, month=month).delete()
        started = time.perf_counter()
        result = services.reports_generate(month=month, node=street)
        return time.perf_counter() - started, result["reports"]

    times = []
    for i in range(args.runs):
        seconds, reports = run()
        times.append(seconds)
        print(f"run {i + 1}: {seconds:.2f} s ({reports} reports)", flush=True)
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        run()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    sizes = [len(str(r.data)) for r in MonthlyReport.objects.filter(street=street, month=month)]
    print(f"monthly report {month} of the street ({reports} reports, {sum(sizes) / 1e6:.1f} MB of content): "
          f"median {statistics.median(times):.2f} s over {len(times)} runs "
          f"(min {min(times):.2f}, max {max(times):.2f})")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
