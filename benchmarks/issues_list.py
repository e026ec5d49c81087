"""The ledger at scale on SQLite: 200,000 issues over the demo street, then the time of

- the scoped issue list, first page (GET /api/v1/issues/), for a street user and for a leader,
- GET /api/v1/grid/nodes/{street}/stats/.

    .venv/bin/python benchmarks/issues_list.py [--issues 200000] [--runs 15]

It builds a fresh SQLite database in a temporary folder (migrate, seed_demo, the issues), then calls
each endpoint in-process through Django's test client, several runs after one warm-up, the median.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--db", help="reuse this SQLite file if it was built before (else build it there)")
    args = parser.parse_args()
    path = Path(args.db) if args.db else Path(tempfile.mkdtemp()) / "bench.sqlite3"
    reuse = path.exists()
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DEBUG"] = "0"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from grid.models import GridNode, User
    from issues.demo import build_issues
    from seed_demo_bench import machine

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    if not reuse:
        call_command("seed_demo", stdout=open(os.devnull, "w"))
        started = time.perf_counter()
        build_issues(street=GridNode.objects.get(code="JY"), count=args.issues)
        print(f"built {args.issues} issues in {time.perf_counter() - started:.1f} s", flush=True)
    street = GridNode.objects.get(code="JY")

    def timed(username, url):
        client = Client()
        client.force_login(User.objects.get(username=username))
        assert client.get(url).status_code == 200
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200
        return statistics.median(times), response.json().get("count")

    rows = [
        ("issue list, first page, street staff", "jy_jiedao", "/api/v1/issues/"),
        ("issue list, first page, micro-grid leader", "jy_wgz0001", "/api/v1/issues/"),
        ("grid stats of the street", "jy_jiedao", f"/api/v1/grid/nodes/{street.pk}/stats/"),
    ]
    for label, user, url in rows:
        ms, count = timed(user, url)
        extra = f" ({count} issues in scope)" if count is not None else ""
        print(f"{label}: median {ms:.1f} ms over {args.runs} runs{extra}")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
