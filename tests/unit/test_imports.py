"""The package's import graph, built from the source's AST: layers depend downward only (core <- tasks <-
models <- search), `search/` has no import cycle, and no module imports a project module inside a function except the
two entry points that do so for start-up time (`search/cli.py`, `search/pipeline.py`)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "xstilts"
LAYERS = {"core": 0, "tasks": 1, "models": 2, "search": 3}
LAZY_ENTRY_POINTS = {"xstilts.search.cli", "xstilts.search.pipeline"}
# Ray and the heavy ML libraries that a module may import inside a function so that importing it stays cheap
HEAVY = {"ray", "torch", "transformers", "datasets", "optuna", "mlflow", "wandb", "matplotlib", "tensorboardX"}


def modules() -> dict[str, Path]:
    out = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([PACKAGE, *parts])] = path
    return out


def imports(path: Path, name: str, known: set[str]) -> list[tuple[str, bool]]:
    """(imported project module, imported inside a function) for each import in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                continue  # for type checkers only: never imported at run time
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in child.names]
            for target in targets:
                while target and target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in known and target != name:
                    found.append((target, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def graph() -> dict[str, list[tuple[str, bool]]]:
    mods = modules()
    return {name: imports(path, name, set(mods)) for name, path in mods.items()}


def test_layers_depend_downward_only():
    wrong = [
        f"{src} imports {dst}"
        for src, deps in graph().items()
        for dst, _ in deps
        if LAYERS[dst.split(".")[1]] > LAYERS[src.split(".")[1]]
    ]
    assert wrong == []


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the directed graph as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := walk(node)):
            return cycle
    return None


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("layer", list(LAYERS))
def test_no_import_cycle(layer):
    """Every import counts, at the top of a module or inside a function."""
    edges = {src: {dst for dst, _ in deps} for src, deps in graph().items() if src.split(".")[1] == layer}
    assert find_cycle(edges) is None


def test_project_modules_are_imported_at_the_top_outside_the_entry_points():
    lazy = [
        f"{src} imports {dst} inside a function"
        for src, deps in graph().items()
        for dst, inside in deps
        if inside and src not in LAZY_ENTRY_POINTS
    ]
    assert lazy == []


def test_unit_tests_are_pure():
    """tests/unit starts no process, no server and no Ray (those tests live in tests/integration and e2e)."""
    impure = ("subprocess", "s3_store", "ray.init", "Popen", "ray_cluster", "moto")
    found = [
        f"{path.relative_to(ROOT)}: {word}"
        for path in sorted((ROOT / "tests" / "unit").rglob("*.py"))
        for word in impure
        if word in path.read_text(encoding="utf-8") and path.name != "test_imports.py"
    ]
    assert found == []


def test_every_package_directory_is_installed() -> None:
    """A non-editable install (`pip install .` on a cluster node) ships exactly the packages pyproject lists;
    a sub-package missing from that list would import in the checkout and fail on the cluster."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {PACKAGE} | {
        ".".join([PACKAGE, *init.parent.relative_to(ROOT).parts])
        for layer in LAYERS
        for init in (ROOT / layer).rglob("__init__.py")
    }
    assert listed == on_disk


def test_test_modules_do_not_import_each_other():
    """Helpers that several tests share live in tests/helpers (or a conftest), never in a test module."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [module or ""]
            for name in names:
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, offenders
