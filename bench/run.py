"""Benchmark runner: `python -m bench.run [name ...] [--quick]`.

Each benchmark is a module bench/<name>.py exposing ``run(quick: bool = False) -> dict``.
The runner prints each one's figures and writes them to bench/results/<name>.json
with the machine facts next to them, so results from shared, noisy machines can
be read as the ratios they are.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
def available() -> list[str]:
    """The modules that are benchmarks: those defining ``run`` (helpers such as latency.py do not)."""
    return sorted(p.stem for p in BENCH_DIR.glob("*.py")
                  if p.stem != "run" and not p.stem.startswith("_") and "\ndef run(" in p.read_text(encoding="utf-8"))


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_result(name: str, figures: dict, quick: bool = False) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    doc = {"benchmark": name, "quick": quick, "machine": machine(), "figures": figures}
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def run_one(name: str, quick: bool) -> bool:
    mod = importlib.import_module(f"bench.{name}")
    print(f"== {name}", flush=True)
    t0 = time.perf_counter()
    figures = mod.run(quick=quick)
    figures.setdefault("wall_seconds", round(time.perf_counter() - t0, 3))
    path = write_result(name, figures, quick)
    print(json.dumps(figures, indent=2, ensure_ascii=False, default=str))
    print(f"-> {path.relative_to(BENCH_DIR.parent)}", flush=True)
    return True


def main(names: list[str], quick: bool = False) -> int:
    todo = names or available()
    unknown = [n for n in todo if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    failed = []
    for name in todo:
        try:
            run_one(name, quick)
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--quick", action="store_true")
    ns = ap.parse_args()
    sys.exit(main(ns.names, ns.quick))
