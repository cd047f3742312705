"""Make svdlib's run-time packages importable on a machine without network, from carried wheels.

Run: ``python bench/gpu_install.py --wheels bench/wheels --target /tmp/svd-site``, then put
``--target`` (and the repository root) on ``PYTHONPATH``; bench/gpu.sh does both.

It first checks, in a fresh interpreter with the current ``PYTHONPATH``, that every module
svdlib imports at run time is importable (and torch with it). If all are, it installs nothing.
Otherwise it installs, with ``pip install --no-index --no-deps --target``, each carried wheel
whose distribution this Python does not already have (setuptools only where ``pkg_resources``,
which pysinsy imports, is missing), so the machine's own torch, numpy, scipy and the rest are
kept. Then it checks again and prints where every module comes from. Exit status 1 if a
required module is still missing. The python that runs this script is the one that gets them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REQUIRED = ["torch", "numpy", "scipy", "sklearn", "librosa", "soundfile", "soxr", "lime",
            "safetensors", "yaml", "tqdm", "pandas", "matplotlib", "seaborn", "pysinsy",
            "pretty_midi", "tinysoundfont", "numba", "pkg_resources"]
OPTIONAL = ["captum"]

PROBE = """
import importlib, json, sys, warnings
warnings.simplefilter("ignore")
out = {}
for name in sys.argv[1:]:
    try:
        mod = importlib.import_module(name)
        out[name] = [getattr(mod, "__version__", "?"), getattr(mod, "__file__", "") or ""]
    except Exception as err:
        out[name] = None if isinstance(err, ImportError) else ["broken: " + repr(err)[:200], ""]
print(json.dumps(out))
"""


def probe(names: list[str]) -> dict[str, list[str] | None]:
    """Import each module in a fresh interpreter; ``None`` where it is missing."""
    result = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True,
                            text=True, check=True, env=os.environ.copy())
    return json.loads(result.stdout.strip().splitlines()[-1])


def usable(found: list[str] | None) -> bool:
    return found is not None and not found[0].startswith("broken")


def dist_name(wheel: Path) -> str:
    """The normalised distribution name of a wheel file."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()


def installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def main() -> None:
    """Install what is missing and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", default="bench/wheels")
    parser.add_argument("--target", default="/tmp/svd-site")
    parser.add_argument("--force", action="store_true", help="install even if all import")
    args = parser.parse_args()

    before = probe(REQUIRED + OPTIONAL)
    missing = [m for m in REQUIRED if not usable(before[m])]
    print(f"python {sys.version.split()[0]} at {sys.executable}")
    after = before
    if not missing and not args.force:
        print("every required module is importable: installing nothing")
    else:
        print(f"missing: {', '.join(missing) or 'none'}")
        wheels = sorted(Path(args.wheels).glob("*.whl"))
        if not wheels:
            print(f"no wheels in {args.wheels}: run bench/gpu_wheels.sh first")
            raise SystemExit(1)
        chosen = []
        for wheel in wheels:
            name = dist_name(wheel)
            if name == "setuptools":
                if not usable(before["pkg_resources"]):
                    chosen.append(wheel)
            elif not installed(name) or args.force:
                chosen.append(wheel)
        print(f"installing {len(chosen)} of {len(wheels)} carried wheels into {args.target}: "
              + ", ".join(w.name for w in chosen))
        if chosen:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index",
                            "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade",
                            "--disable-pip-version-check", "--target", args.target,
                            *map(str, chosen)], check=True)
        if args.target not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
            os.environ["PYTHONPATH"] = os.pathsep.join(
                p for p in (args.target, os.environ.get("PYTHONPATH", "")) if p)
        after = probe(REQUIRED + OPTIONAL)
    for name in REQUIRED + OPTIONAL:
        found = after[name]
        where = "MISSING" if found is None else f"{found[0]}  {found[1]}"
        print(f"  {name:14s} {'(optional) ' if name in OPTIONAL else ''}{where}")
    still = [m for m in REQUIRED if not usable(after[m])]
    if still:
        print(f"still missing: {', '.join(still)}")
        raise SystemExit(1)
    print("all required modules importable")


if __name__ == "__main__":
    main()
