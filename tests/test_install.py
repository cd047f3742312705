"""svdlib installs like any package: a wheel into a fresh virtual environment, then
``svd run --profile tiny`` from a folder that is not the checkout."""

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    assert result.returncode == 0, f"{args}: {result.stdout[-1500:]}{result.stderr[-1500:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the sources (nothing is written into the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "svdlib", src / "svdlib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(dist), str(src)])
    (path,) = dist.glob("svdlib-*.whl")
    return path


def test_wheel_ships_the_profiles_and_py_typed(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for profile in ("tiny", "quick", "standard", "paper"):
        assert f"svdlib/profiles/{profile}.yml" in names
    assert "svdlib/py.typed" in names
    assert "svdlib/experiments/stages.py" in names and "svdlib/cli/__main__.py" in names


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_tiny_profile_outside_the_checkout(wheel, tmp_path):
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    # the dependencies come from this environment (nothing is downloaded); svdlib itself only
    # from the wheel: this environment's editable install is not visible through a plain path
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                         "['purelib'])"]).stdout.strip())
    (purelib / "_svd_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed",
          str(wheel)])
    work = tmp_path / "elsewhere"
    work.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SVD_RESULTS",
                                                               "SVD_DATA")}
    where = _run([str(python), "-c", "import svdlib; print(svdlib.__file__)"], cwd=work,
                 env=clean).stdout.strip()
    assert Path(where).is_relative_to(env), where
    result = _run([str(env / "bin" / "svd"), "run", "--profile", "tiny", "--quiet"], cwd=work,
                  env=clean, timeout=900)
    assert "== wall time per stage" in result.stdout
    (experiments,) = (work / "results" / "tiny" / "experiments").iterdir()   # tiny.yml
    for name in ("table1.csv", "table2.csv", "flip_counts.csv", "figure2.png"):
        assert (experiments / name).is_file(), name
