"""The K9s simulator at full size, and optionally the whole demo.

Figures: building a 100,000-product shop with 20,000 users, one simulated day of events,
14 days written to a landing folder + SQLite; with ``--demo``, `kibble demo` wall time
and peak memory in a subprocess. Targets: the catalogue in under 5 s, a day under 2 s,
the demo under 10 minutes. Usage::

    python bench/k9s.py [--demo]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Bench
from kibble.k9s import Shop, SimConfig
from kibble.k9s.events import day_events
from kibble.k9s.simulate import simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", action="store_true", help="also time `kibble demo`")
    args = parser.parse_args()
    bench = Bench("k9s")
    config = SimConfig(products=100_000, users=20_000, days=14)
    with bench.timed("build_shop_100k"):
        shop = Shop.build(config)
    with bench.timed("catalogue_frame_100k"):
        shop.catalog.frame()
    start = time.perf_counter()
    events = day_events(shop, 3)
    bench.figure("one_day_events", time.perf_counter() - start)
    bench.figure("events_per_day", events.height, "rows")
    with tempfile.TemporaryDirectory() as tmp, bench.timed("simulate_14_days"):
        simulate(config, Path(tmp))
    bench.target(
        "catalogue",
        "100k-product shop builds in under 5 s",
        bench.figures["build_shop_100k"] + bench.figures["catalogue_frame_100k"] < 5,
    )
    bench.target("day", "one day of events in under 2 s", bench.figures["one_day_events"] < 2)
    if args.demo:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "kibble", "--home", tmp, "demo", "--json"],
                check=True,
                capture_output=True,
            )
            bench.figure("demo_default_wall", time.perf_counter() - start)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        bench.figure("demo_peak_rss", peak, "MiB")
        bench.target(
            "demo", "default demo under 10 minutes", bench.figures["demo_default_wall"] < 600
        )
    bench.report()


if __name__ == "__main__":
    main()
