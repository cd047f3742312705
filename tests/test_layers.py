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
    {"svdlib.detector", "svdlib.pretrained"},
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


def _example_lines(tree: ast.AST) -> list[int]:
    """Line numbers of the docstrings' ``Examples`` sections (runnable documentation, tested
    by tests/test_api_examples.py), which the size limits do not count."""
    lines = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                           | ast.AsyncFunctionDef) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            continue
        doc = body[0]
        text = doc.value.value.split("\n")
        start = next((i for i in range(len(text) - 1) if text[i].strip() == "Examples"
                      and set(text[i + 1].strip()) == {"-"}), None)
        if start is not None:
            lines += range(doc.lineno + start, doc.end_lineno + 1)
    return lines


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_modules_and_functions_are_small(path):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    examples = _example_lines(tree)
    lines = len(source.splitlines()) - len(examples)
    assert lines <= MAX_MODULE_LINES, f"{path.name}: {lines} lines (at most {MAX_MODULE_LINES})"
    sizes = [(node.name, node.end_lineno - node.lineno + 1
              - sum(node.lineno <= line <= node.end_lineno for line in examples))
             for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    long = [f"{name} ({size} lines)" for name, size in sizes if size > MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_examples_are_not_counted_but_code_is():
    """The size limits skip a docstring's Examples section, and nothing else."""
    body = "\n".join(f"    x{i} = {i}" for i in range(3))
    source = (f'def f():\n    """One line.\n\n    Examples\n    --------\n    >>> f()\n    """\n'
              f"{body}\n")
    tree = ast.parse(source)
    assert _example_lines(tree) == [4, 5, 6, 7]
    assert len(source.splitlines()) - len(_example_lines(tree)) == 6


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


# -- no import cycles, no private names across modules, experiments' subpackages in order ------
#: The experiments layer by job, lowest first: a subpackage imports only from those below it
#: (the configuration, the store and its splits, work items and executors, what each stage
#: computes, then the orchestrator and the explorer, which do not import each other).
EXPERIMENT_JOBS = [
    {"svdlib.experiments.config"},
    {"svdlib.experiments.storage"},
    {"svdlib.experiments.execution"},
    {"svdlib.experiments.artifacts"},
    {"svdlib.experiments.stages", "svdlib.experiments.explorer"},
]
NAMES = {_module_name(path): path for path in MODULES}


def _edges(source: str, module: str, is_package: bool = False) -> list[tuple[int, str, str]]:
    """(line, imported module, imported name or "") of every svdlib import, lazy ones included.

    ``from package import module`` counts as an import of the module itself.
    """
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, "") for a in node.names if a.name.startswith("svdlib")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("svdlib"):
                out += [(node.lineno, f"{target}.{a.name}", "") if f"{target}.{a.name}" in NAMES
                        else (node.lineno, target, a.name) for a in node.names]
    return out


def _module_edges(path: Path) -> list[tuple[int, str, str]]:
    return _edges(path.read_text(encoding="utf-8"), _module_name(path),
                  path.name == "__init__.py")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    """No svdlib module imports itself through others (module-level and lazy imports alike)."""
    graph = {name: {target for _, target, _ in _module_edges(path)
                    if target in NAMES and target != name} for name, path in NAMES.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]


def _private_uses(source: str, module: str, is_package: bool = False) -> list[str]:
    """Underscore-private names of other svdlib modules that ``source`` imports or reads."""
    uses = [f"line {line}: {target}.{name}" for line, target, name
            in _edges(source, module, is_package)
            if name.startswith("_") and not name.startswith("__") and target != module]
    tree = ast.parse(source)
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names
                            if a.asname and a.name.startswith("svdlib")})
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("svdlib"):
            aliases.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names
                            if f"{node.module}.{a.name}" in NAMES})
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and aliases[node.value.id] != module
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            uses.append(f"line {node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return uses


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_no_private_names_across_modules(path):
    """A helper two modules share is public (documented) or lives where it is used."""
    uses = _private_uses(path.read_text(encoding="utf-8"), _module_name(path),
                         path.name == "__init__.py")
    assert not uses, f"{_module_name(path)} uses private names of other modules: {uses}"


def test_the_checker_sees_a_private_name():
    source = ("from svdlib.files import _umask, save_json\n"
              "from svdlib.attacks import optimise as opt\n"
              "def f():\n    return opt._Frozen, opt.__name__\n")
    assert _private_uses(source, "svdlib.viz.probe") == [
        "line 1: svdlib.files._umask", "line 4: svdlib.attacks.optimise._Frozen"]


def _job(module: str) -> int | None:
    for level, members in enumerate(EXPERIMENT_JOBS):
        if any(module == m or module.startswith(m + ".") for m in members):
            return level
    return None


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:3])


@pytest.mark.parametrize("path", [p for p in MODULES
                                  if _module_name(p).startswith("svdlib.experiments.")],
                         ids=lambda p: _module_name(p))
def test_each_experiments_subpackage_holds_one_job(path):
    """config < storage < execution < artifacts < stages, explorer (DESIGN.md)."""
    module = _module_name(path)
    own = _job(module)
    assert own is not None, f"{module} is in no job; add it to EXPERIMENT_JOBS and DESIGN.md"
    wrong = [f"line {line}: {target}" for line, target, _ in _module_edges(path)
             if target.startswith("svdlib.experiments") and _unit(target) != _unit(module)
             and (_job(target) is None or _job(target) >= own)]
    assert not wrong, f"{module} imports its own level or above: {wrong}"
