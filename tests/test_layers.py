"""The architecture, enforced: imports run only downward, Config and Store stay in the
experiment layer, and modules and functions stay small (DESIGN.md)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "svdlib"

#: Lowest first. A module may import from its own layer and the layers below it.
LAYERS = [
    {"svdlib.errors", "svdlib.constants", "svdlib.provenance", "svdlib.files",
     "svdlib.digests", "svdlib.seeding", "svdlib.devices", "svdlib.locks"},
    {"svdlib.audio"},
    {"svdlib.data"},
    {"svdlib.detector"},
    {"svdlib.attacks"},
    {"svdlib.explain"},
    {"svdlib.veracity"},
    {"svdlib.viz"},
    {"svdlib.experiments"},
    {"svdlib.book"},
    {"svdlib.cli"},
]
#: The package's front door may re-export from anywhere (lazily).
EXEMPT = {"svdlib", "svdlib.__main__"}
#: Where the configuration and the store may appear.
BOUND = ("svdlib.experiments", "svdlib.book", "svdlib.cli")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int:
    for index, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return index
    raise AssertionError(f"{module} is in no layer; add it to LAYERS and DESIGN.md")


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every svdlib import, at any depth (lazy ones included)."""
    package = _module_name(path) if path.name == "__init__.py" else \
        _module_name(path).rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("svdlib")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("svdlib"):
                names = [f"{module}.{a.name}" for a in node.names
                         if (PACKAGE / a.name).is_dir() or (PACKAGE / f"{a.name}.py").is_file()]
                names = names if module == "svdlib" else [module]
                out += [(node.lineno, name) for name in names]
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_run_only_downward(path):
    module = _module_name(path)
    if module in EXEMPT:
        return
    own = _layer(module)
    upward = [f"line {line}: {target} (layer {_layer(target)} > {own})"
              for line, target in _imports(path) if target not in EXEMPT
              and _layer(target) > own]
    assert not upward, f"{module} imports upward: " + "; ".join(upward)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_config_and_store_stay_in_the_experiment_layer(path):
    module = _module_name(path)
    if module in EXEMPT or module.startswith(BOUND):
        return
    bound = [f"line {line}: {target}" for line, target in _imports(path)
             if target.startswith(("svdlib.experiments", "svdlib.book", "svdlib.cli"))]
    assert not bound, f"{module} reaches the configuration or the store: {bound}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The test above fails on an upward import (a lazy one inside a function included)."""
    probe = PACKAGE / "audio" / "_probe_upward.py"
    probe.write_text("def f():\n    from svdlib.experiments.storage.store import Store\n"
                     "    return Store\n")
    try:
        assert [t for _, t in _imports(probe)] == ["svdlib.experiments.storage.store"]
        assert _layer("svdlib.experiments.storage.store") > _layer(_module_name(probe))
    finally:
        probe.unlink()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_modules_and_functions_are_small(path):
    source = path.read_text(encoding="utf-8")
    lines = len(source.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines (at most {MAX_MODULE_LINES})"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_each_constant_is_defined_once():
    """SPLITS, DOMAINS, TARGETS, the excerpt length and the band count live in constants."""
    defined = {}
    for path in MODULES:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id in (
                            "SPLITS", "DOMAINS", "TARGETS", "EXCERPT_FRAMES", "MEL_BANDS"):
                        defined.setdefault(target.id, []).append(_module_name(path))
    assert defined == {name: ["svdlib.constants"] for name in defined}
    assert set(defined) == {"SPLITS", "DOMAINS", "TARGETS", "EXCERPT_FRAMES", "MEL_BANDS"}
