"""What checking artifacts costs: `svd run` with digests on and off, side by side.

Run: ``.venv/bin/python bench/bench_verify.py [--profile quick] [--repeats 1] [--together]``

Every artifact file records its SHA-256 when it is written and is checked whenever it is read
(``svdlib/digests.py``); ``SVD_VERIFY=0`` turns both off, for this benchmark only. The
profile's corpus is generated once, outside the timing, and copied into fresh results
folders; then ``svd run`` is timed in each, once with digests and once without (the order
alternating between repeats), each in a fresh process. A second ``svd run`` over each
finished folder (every stage found done: with digests, every artifact it reads is hashed once)
is timed as well. Printed: the wall times, what the digests hashed (files, MB, seconds of
hashing in the ``svd`` process), every second the ``svd`` process spent in digest code
(hashing, sidecar reads and writes, stat calls: ``overhead``), and the ratio on / off
(target <= 1.05).

``--together`` runs the "on" and the "off" run of a repeat at the same time, each with
``--threads 1`` (one core each on a 2-core machine): both then see the same machine, so that
other load (or a machine that is not quiet) shifts both alike. Without it the runs take turns,
with the profile's threads, which needs a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: ``svd`` in a fresh interpreter, printing the digests' statistics of that process at the end.
RUNNER = ("import json, sys\n"
          "from svdlib.cli import main\n"
          "from svdlib.digests import digest_stats\n"
          "code = main(sys.argv[1:])\n"
          "print('DIGESTS ' + json.dumps(digest_stats()), file=sys.stderr)\n"
          "sys.exit(code)\n")


def svd(args: list[str], verify: bool) -> tuple[float, dict]:
    """Run ``svd ARGS`` in a new process; return its wall time and digest statistics."""
    env = {**os.environ, "SVD_VERIFY": "1" if verify else "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"svd {' '.join(args)} failed ({done.returncode}):\n"
                         f"{done.stderr[-3000:]}")
    line = next(x for x in done.stderr.splitlines()[::-1] if x.startswith("DIGESTS "))
    return seconds, json.loads(line.split(" ", 1)[1])


def run_pair(template: Path, scratch: Path, common: list[str], repeat: int,
             verify: bool) -> dict[str, tuple[float, dict]]:
    """A fresh ``svd run`` in a copy of the corpus, then a re-run over the finished folder."""
    mode = "on" if verify else "off"
    results = scratch / f"results-{mode}-{repeat}"
    shutil.rmtree(results, ignore_errors=True)
    shutil.copytree(template, results)
    return {run: svd(["run", *common, "--results", str(results)], verify)
            for run in ("fresh", "re-run")}


def report(repeat: int, mode: str, run: str, seconds: float, stats: dict) -> None:
    """One line per timed run."""
    print(f"repeat {repeat + 1}, digests {mode}, {run}: {seconds:.1f} s "
          f"({stats['files']} files, {stats['bytes'] / 1e6:.1f} MB hashed in "
          f"{stats['seconds']:.2f} s; digest code {stats.get('overhead_seconds', 0):.2f} s "
          f"in {stats.get('calls', 0)} calls)", flush=True)


def main() -> None:
    """Time the runs and print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--repeats", type=int, default=1, help="pairs of runs (medians)")
    parser.add_argument("--together", action="store_true",
                        help="run on and off at the same time, one thread each")
    parser.add_argument("--keep", help="keep the results folders under this folder")
    args = parser.parse_args()
    scratch = Path(args.keep or tempfile.mkdtemp(prefix="bench_verify-"))
    scratch.mkdir(parents=True, exist_ok=True)
    common = ["--profile", args.profile, "--quiet"] + (["--threads", "1"] if args.together
                                                       else [])
    template = scratch / "corpus-only"
    if not template.is_dir():
        svd(["corpus", *common, "--results", str(template)], verify=True)
    times: dict[str, list[float]] = {}
    hashed: dict[str, dict] = {}
    try:
        for repeat in range(args.repeats):
            order = (True, False) if repeat % 2 == 0 else (False, True)
            if args.together:
                with ThreadPoolExecutor(2) as pool:
                    futures = {v: pool.submit(run_pair, template, scratch, common, repeat, v)
                               for v in order}
                    done = {v: f.result() for v, f in futures.items()}
            else:
                done = {v: run_pair(template, scratch, common, repeat, v) for v in order}
            for verify in order:
                mode = "on" if verify else "off"
                for run, (seconds, stats) in done[verify].items():
                    times.setdefault(f"{run} {mode}", []).append(seconds)
                    hashed[f"{run} {mode}"] = stats
                    report(repeat, mode, run, seconds, stats)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    how = "on and off at the same time, 1 thread each" if args.together else "taking turns"
    print(f"\nsvd run --profile {args.profile} ({how}), medians of {args.repeats}:")
    for run in ("fresh", "re-run"):
        on, off = (statistics.median(times[f"{run} {m}"]) for m in ("on", "off"))
        stats = hashed[f"{run} on"]
        print(f"  {run:7s} digests on {on:8.1f} s, off {off:8.1f} s, ratio {on / off:.3f} "
              f"(target <= 1.05); hashing {stats['seconds']:.2f} s for "
              f"{stats['bytes'] / 1e6:.1f} MB in {stats['files']} files; all digest code "
              f"{stats['overhead_seconds']:.2f} s in {stats['calls']} calls "
              f"= {100 * stats['overhead_seconds'] / on:.2f} % of the run")


if __name__ == "__main__":
    main()
