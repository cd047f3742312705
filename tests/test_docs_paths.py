"""Every file, folder and module that README.md and DESIGN.md name exists (computed from the
text and the source tree, so a move that forgets the documents fails here)."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ("README.md", "DESIGN.md")
#: Backticked paths in DESIGN.md are relative to svdlib/ when they start with a package.
PACKAGES = {p.name for p in (ROOT / "svdlib").iterdir() if p.is_dir() and p.name != "__pycache__"}


def _text(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _svdlib_paths(text: str) -> set[str]:
    """``svdlib/...`` paths, and backticked ``package/...`` paths of svdlib's packages."""
    paths = {m.rstrip(".,:;") for m in re.findall(r"svdlib/[\w./-]*", text)}
    for quoted in re.findall(r"`([\w./-]+)`", text):
        head = quoted.split("/")[0]
        if "/" in quoted and head in PACKAGES and not quoted.startswith("svdlib/") \
                and not (ROOT / quoted).exists():       # e.g. the book's own book/api.md
            paths.add(f"svdlib/{quoted}")
    return paths


def _dotted_names(text: str) -> set[str]:
    return {m.rstrip(".") for m in re.findall(r"svdlib(?:\.\w+)+", text)}


def _defines(path: Path, name: str) -> bool:
    """Whether a module defines or imports ``name`` at its top level."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and \
                node.name == name:
            return True
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        elif isinstance(node, ast.Import | ast.ImportFrom) and any(
                (a.asname or a.name.split(".")[0]) == name for a in node.names):
            return True
    return False


def _resolves(dotted: str) -> bool:
    """``svdlib.a.b.name``: the longest prefix is a module and the rest a name it defines."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:cut])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if module.is_file():
            rest = parts[cut:]
            return not rest or _defines(module, rest[0])
    return False


def _path_exists(path: str) -> bool:
    """A file or folder, or ``package/module.name`` with ``name`` defined in the module."""
    if (ROOT / path).exists():
        return True
    module, _, name = path.rpartition(".")
    return bool(module) and (ROOT / f"{module}.py").is_file() and \
        _defines(ROOT / f"{module}.py", name)


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_svdlib_path_exists(document):
    paths = _svdlib_paths(_text(document))
    assert paths, f"{document} names no svdlib path (the pattern is broken)"
    missing = sorted(p for p in paths if not _path_exists(p))
    assert not missing, f"{document} names paths that do not exist: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_dotted_svdlib_name_exists(document):
    missing = sorted(n for n in _dotted_names(_text(document)) if not _resolves(n))
    assert not missing, f"{document} names modules or functions that do not exist: {missing}"


def test_the_checks_see_a_missing_path():
    text = ("see `svdlib/config.py`, `experiments/stages.py`, `veracity/rules.Nothing` and "
            "`svdlib.experiments.vars.apply_vars`")
    assert _svdlib_paths(text) == {"svdlib/config.py", "svdlib/experiments/stages.py",
                                   "svdlib/veracity/rules.Nothing"}
    assert not _path_exists("svdlib/config.py")
    assert _path_exists("svdlib/experiments/stages.py")
    assert not _path_exists("svdlib/veracity/rules.Nothing")
    assert _path_exists("svdlib/veracity/rules.DecisionRule")
    assert not _resolves("svdlib.experiments.vars.apply_vars")
    assert _resolves("svdlib.experiments.config.vars.apply_vars")
