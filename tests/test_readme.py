"""The README's "use it with your own model" examples run as printed, outside the checkout,
with the public API only. Each block is found by the comment on its first line."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _block(marker: str) -> str:
    """The one python block of the section whose first line starts with ``marker``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Use it with your own model", 1)[1].split("\n## ", 1)[0]
    found = [code for code in re.findall(r"```python\n(.*?)```", section, flags=re.S)
             if code.startswith(marker)]
    assert len(found) == 1, f"{len(found)} blocks start with {marker!r}"
    return found[0]


def _example() -> str:
    return _block("# Example 1:")


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
    return _block("# Example 2 (continues example 1):")


def test_own_explainer_example_runs_beside_the_references(printed):
    code = _explainer_example()
    assert len(code.splitlines()) <= 17 and "from svdlib." not in code
    table = [line.split() for line in printed[1].splitlines()]
    rows = {cells[1]: [float(v) for v in cells[2:]] for cells in table
            if len(cells) == 5 and cells[1] in ("dimming", "kernelshap", "energy")}
    assert set(rows) == {"dimming", "kernelshap", "energy"}
    assert any(cells[1:3] == ["chance", "(k=3)"] for cells in table if len(cells) > 2)
    percent, vs_chance, table2 = rows["dimming"]
    # dimming a segment that carries the planted evidence lowers P(class 1): it finds δ
    assert percent > 50 and vs_chance > 0 and table2 > 50


def _waveform_example() -> str:
    return _block("# Example 3:")


def _table_rows(text: str) -> list[tuple[str, list[float]]]:
    """``(method, [percent, ci_low, ci_high, vs chance])`` of each printed table row."""
    rows = []
    for line in text.splitlines():
        cells = line.split()
        if len(cells) >= 6 and cells[0].isdigit():
            rows.append((" ".join(cells[1:-4]), [float(v) for v in cells[-4:]]))
    return rows


def test_waveform_example_runs_with_time_and_stft_segments(tmp_path):
    code = _waveform_example()
    assert len(code.splitlines()) <= 30
    imports = re.findall(r"^from (\S+) import|^import (\S+)", code, flags=re.M)
    assert {a or b for a, b in imports} == {"numpy", "torch", "svdlib"}
    assert "from svdlib." not in code and "Config" not in code and "Store" not in code
    script = tmp_path / "waveform_model.py"
    script.write_text(code, encoding="utf-8")
    # one thread: the tiny model's operations gain nothing from more (7 s here instead of 20+
    # on a loaded 2-core machine); the printed properties hold for any thread count
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, check=False,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    first, *rest = result.stdout.splitlines()
    pairs, snr = re.fullmatch(r"pairs (\d+), median SNR (\S+) dB", first).groups()
    # at most the 12 attacked excerpts; δ (every sample within ±0.01) is below the signal
    assert 1 <= int(pairs) <= 12 and float(snr) > 0
    rows = _table_rows("\n".join(rest))
    methods = ["LIME", "occlusion", "energy", "chance (k=3)", "attainable (k=3)"]
    assert sorted(m for m, _ in rows) == sorted(methods * 2)        # one table per segmentation
    for table in (dict(rows[:5]), dict(rows[5:])):
        assert set(table) == set(methods)
        for percent, low, high, _ in table.values():
            assert 0 <= low <= percent <= high <= 100
        chance, attainable = table["chance (k=3)"][0], table["attainable (k=3)"][0]
        assert chance <= attainable
        for method in ("LIME", "occlusion", "energy"):
            percent, vs_chance = table[method][0], table[method][3]
            # a top 3 that flips is a 3-subset that flips; the gap to chance is paired per pair
            assert percent <= attainable + 1e-6
            assert abs(vs_chance - (percent - chance)) < 1e-3
