"""Every cpu-scale entry of the Papers catalogue, run from a clean store on this machine:
id, seconds taken, published beside computed, verdict. The target is ≤ 600 s per entry on
2 cores (the issue's cpu scale).

Each entry runs as ``mixscope reproduce ID --scale cpu --json --quiet --store STORE`` in its
own process, in catalogue order, on one store: entries that share a recipe (most of 000's
digits runs) reuse the runs an earlier entry trained, as they would for a user, so the time
printed is what that entry added; ``--fresh`` gives every entry its own clean store instead
(the per-entry worst case, much longer in total).

    python benchmarks/bench_papers.py [--store DIR] [--fresh] [--only 000/fig6,002/fig4]
        [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_S = 600.0


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def run_entry(entry_id: str, store: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "mixscope.cli", "reproduce", entry_id,
                           "--scale", "cpu", "--json", "--quiet", "--store", str(store)],
                          check=False, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.monotonic() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"id": entry_id, "seconds": seconds, "verdict": "error",
                "reasons": [(proc.stderr or proc.stdout).strip()[-500:]],
                "published": {}, "computed": {}}
    body = json.loads(lines[-1])
    body["seconds"] = seconds
    return body


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=None, help="store folder (default: a new "
                    "temporary one)")
    ap.add_argument("--fresh", action="store_true", help="a clean store per entry")
    ap.add_argument("--only", default=None, help="comma-separated entry ids")
    ap.add_argument("--json", dest="json_out", type=Path, default=None)
    args = ap.parse_args()

    from backend.papers.catalogue import load_catalogue

    entries = [e for e in load_catalogue().entries if not e.out_of_scope]
    if args.only:
        want = args.only.split(",")
        entries = [e for e in entries if e.id in want]
    base = args.store or Path(tempfile.mkdtemp(prefix="mixscope-papers-"))
    print(f"store: {base}  ({'fresh per entry' if args.fresh else 'shared'})", flush=True)
    results = []
    total = 0.0
    for e in entries:
        store = base / e.id.replace("/", "-") if args.fresh else base
        body = run_entry(e.id, store)
        total += body["seconds"]
        results.append(body)
        over = "" if body["seconds"] <= TARGET_S else "  OVER TARGET"
        print(f"\n{e.id:20s} {body['seconds']:7.1f} s (target ≤ {TARGET_S:.0f} s){over}  "
              f"verdict: {body['verdict']}", flush=True)
        for c in body.get("compared") or []:
            print(f"    {c['key']:40s} published {_fmt(c['published']):>10}   computed "
                  f"{_fmt(c['computed']):>10}   ±{_fmt(c['tolerance'])} "
                  f"({c['tolerance_source']}) {'ok' if c['within'] else 'DIFFERS'}")
        for c in body.get("not_compared") or []:
            print(f"    {c['key']:40s} not compared: {c['reason']}")
        for p in body.get("parts") or []:
            print(f"    part {'✓' if p['held'] else '✗'} {p['key']}: {p['computed_by_seed']}")
        for r in body.get("reasons") or []:
            print(f"    - {r}")
    counts = {v: sum(r["verdict"] == v for r in results)
              for v in ("matches", "claim-holds", "differs", "not-comparable", "not-run",
                        "error")}
    print(f"\n{len(results)} entries in {total:.0f} s: {counts}; slowest "
          f"{max((r['seconds'] for r in results), default=0):.0f} s (target ≤ {TARGET_S:.0f})")
    if args.json_out:
        args.json_out.write_text(json.dumps(
            [{k: r.get(k) for k in ("id", "seconds", "verdict", "reasons", "compared",
                                    "not_compared", "parts", "seeds", "differs")}
             for r in results], indent=1))


if __name__ == "__main__":
    main()
