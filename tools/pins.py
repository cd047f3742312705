"""Print environment.yml's pip pins as a pip constraints file (one source of exact pins).

Usage: ``python tools/pins.py > constraints.txt``; then
``pip install -c constraints.txt -e ".[corpus,book,scale,dev,quantus,pretrained]"``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PIN = re.compile(r"^\s*-\s+([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s#]+)")


def pins(environment: Path) -> list[str]:
    """The ``name==version`` lines of the pip section (extras dropped: constraints take none)."""
    out, in_pip = [], False
    for line in environment.read_text().splitlines():
        if re.match(r"^\s*-\s+pip:\s*$", line):
            in_pip = True
            continue
        if in_pip and (m := PIN.match(line)):
            out.append(f"{m.group(1)}=={m.group(2)}")
    return out


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    lines = pins(root / "environment.yml")
    if not lines:
        sys.exit("tools/pins.py: no pins found in environment.yml's pip section")
    print("\n".join(lines))
