"""The benchmark suites of `bash bench/run.sh`, one after another, and their tables in one report.

    BENCH_SUITES=main,workers,observability,realtime .venv/bin/python bench/all.py

Each suite runs as its own process (its servers, DynamoDB Local and Redis are its own, stopped before the next
starts, so no suite measures beside another's leftovers) and writes bench/results/<kind>-<timestamp>.md; this
collects those tables, in order, into bench/results/all-<timestamp>.md and prints where it is. A suite that fails
is reported as failed in the summary and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
#: suite → (script, the results kind it writes)
SUITES = {
    "main": ("bench/run.py", "bench"),
    "workers": ("bench/workers.py", "workers"),
    "observability": ("bench/observability.py", "observability"),
    "realtime": ("bench/realtime.py", "realtime"),
    "runtimes": ("bench/runtimes.py", "runtimes"),
}
DEFAULT = "main,workers,observability,realtime"


def newest(kind: str) -> Path | None:
    found = sorted(RESULTS.glob(f"{kind}-*.md"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def main() -> int:
    names = [n.strip() for n in os.environ.get("BENCH_SUITES", DEFAULT).split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        print(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    sections: list[str] = []
    failed = []
    for name in names:
        script, kind = SUITES[name]
        before = newest(kind)
        print(f"\n=== {name}: {script}", flush=True)
        started = time.monotonic()
        rc = subprocess.call([sys.executable, str(ROOT / script)], cwd=ROOT)
        took = time.monotonic() - started
        written = newest(kind)
        if rc != 0 or written is None or written == before:
            failed.append(name)
            sections.append(f"## {name}\n\n**failed** (exit status {rc}) after {took:.0f} s: see its output above.\n")
            continue
        sections.append(f"## {name} ({took:.0f} s; {written.relative_to(ROOT)})\n\n"
                        + written.read_text().split("\n", 1)[1].lstrip("\n"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"all-{stamp}.md"
    out.write_text(f"# gqlsync benchmarks — {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC\n\n"
                   + "\n".join(sections))
    print(f"\nall tables: {out.relative_to(ROOT)}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
