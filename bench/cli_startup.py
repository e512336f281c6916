"""How long `kibble --help` takes, against the floor any Typer CLI pays in this interpreter.

Peer: a one-command Typer app printing its ``--help``, run the same way (a fresh
``python`` process each time), interleaved with kibble's runs so load hits both alike.
It is the right peer because kibble's CLI is Typer: the ratio is what kibble itself adds
(its command tree, its imports) over the framework; ``python -c pass`` is printed too, as
the interpreter's own start. Target (issue 20): under 0.5 s on a quiet machine.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Bench

RUNS = 7
PEER = """
import typer

app = typer.Typer(rich_markup_mode=None)  # plain help, as kibble prints it


@app.command()
def hello(name: str = "world") -> None:
    print(name)


@app.callback()
def main() -> None:
    "A Typer CLI with nothing in it."


app()
"""


def seconds(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as folder:
        peer = Path(folder) / "peer.py"
        peer.write_text(PEER)
        runs: dict[str, list[float]] = {"kibble": [], "typer": [], "python": []}
        for _ in range(RUNS):  # interleaved: a burst of load hits every side alike
            runs["kibble"].append(seconds([sys.executable, "-m", "kibble", "--help"], env))
            runs["typer"].append(seconds([sys.executable, str(peer), "--help"], env))
            runs["python"].append(seconds([sys.executable, "-c", "pass"], env))
    bench = Bench("cli_startup")
    median = {name: statistics.median(values) for name, values in runs.items()}
    bench.figure("kibble --help (median)", median["kibble"])
    bench.figure("bare typer app --help (median)", median["typer"])
    bench.figure("python -c pass (median)", median["python"])
    bench.ratio("kibble / bare typer", median["kibble"], median["typer"])
    bench.ratio("kibble / python", median["kibble"], median["python"])
    bench.target("help under 0.5 s", "median `kibble --help` < 0.5 s", median["kibble"] < 0.5)
    bench.report({"load_average": os.getloadavg()[0]})


if __name__ == "__main__":
    main()
