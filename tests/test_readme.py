"""The README's "use it with your own model" example runs as printed, outside the checkout,
with the public API only."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it with your own model", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


def test_own_model_example_is_short_and_uses_only_the_public_api():
    code = _example()
    assert 20 <= len(code.splitlines()) <= 30
    assert "Config" not in code and "Store" not in code and "experiments" not in code
    imports = re.findall(r"^from (\S+) import|^import (\S+)", code, flags=re.M)
    assert {a or b for a, b in imports} == {"numpy", "torch", "svdlib"}
    assert "from svdlib import" in code and "from svdlib." not in code


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> tuple[str, str]:
    """What the two examples print, run as one script (the second continues the first)."""
    folder = tmp_path_factory.mktemp("readme")
    script = folder / "own_model.py"
    script.write_text(_example() + 'print("-- own explainer --")\n' + _explainer_example(),
                      encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], cwd=folder, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = result.stdout.split("-- own explainer --\n")
    return first, second


def test_own_model_example_runs_and_prints_a_table1_rate(printed):
    rows = {line.split()[1]: [float(v) for v in line.split()[2:]]
            for line in printed[0].splitlines()[1:] if line.strip()}
    assert set(rows) == {"LIME", "energy"}
    for percent, low, high in rows.values():
        assert 0 <= low <= percent <= high <= 100
    # the planted class-1 evidence is local, so a few of its segments carry the flip
    assert rows["energy"][0] > 50


def _explainer_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it with your own model", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)[1]


def test_own_explainer_example_runs_beside_the_references(printed):
    code = _explainer_example()
    assert len(code.splitlines()) <= 16 and "from svdlib." not in code
    table = [line.split() for line in printed[1].splitlines()]
    rows = {cells[1]: [float(v) for v in cells[2:]] for cells in table
            if len(cells) == 5 and cells[1] in ("dimming", "kernelshap", "energy")}
    assert set(rows) == {"dimming", "kernelshap", "energy"}
    assert any(cells[1:3] == ["chance", "(k=3)"] for cells in table if len(cells) > 2)
    percent, vs_chance, table2 = rows["dimming"]
    # dimming a segment that carries the planted evidence lowers P(class 1): it finds δ
    assert percent > 50 and vs_chance > 0 and table2 > 50
