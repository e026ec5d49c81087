"""Time `manage.py seed_demo` on a fresh SQLite database (the embedded mode), several runs, the median.

    .venv/bin/python benchmarks/seed_demo_bench.py [--runs 5]

Each run migrates a new database file, then times only the seed command in its own process.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine():
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "DJANGO_MODE": "embedded"}
            manage = [sys.executable, str(ROOT / "manage.py")]
            subprocess.run(manage + ["migrate", "-v0"], env=env, check=True)
            started = time.perf_counter()
            subprocess.run(manage + ["seed_demo"], env=env, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
            print(f"run {i + 1}: {times[-1]:.2f} s", flush=True)
    print(f"seed_demo on SQLite: median {statistics.median(times):.2f} s over {len(times)} runs ({machine()})")


if __name__ == "__main__":
    main()
