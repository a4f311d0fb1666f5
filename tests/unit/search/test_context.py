"""One experiment context per command: built from an experiments file or from a run directory, carrying the
registry that is built once per process; no function takes an experiment and its base directory apart."""

import ast
from pathlib import Path

from tests.conftest import write_experiments
from xstilts.search.config import ExperimentContext, load_context
from xstilts.search.rundir import RunDir
from xstilts.tasks.registry import declared_registry

ROOT = Path(__file__).resolve().parents[3]


def _functions():
    for layer in ("core", "tasks", "models", "search"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield path.relative_to(ROOT), node


def test_no_function_takes_an_experiment_and_its_base_apart():
    offenders = []
    for path, fn in _functions():
        names = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}
        if {"exp", "base"} <= names:
            offenders.append(f"{path}:{fn.lineno} {fn.name}")
    assert not offenders, f"pass an ExperimentContext instead: {offenders}"


def test_the_registry_is_built_in_one_place_and_once_per_process():
    callers = []
    for layer in ("core", "models", "search"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "build_registry":
                    callers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not callers, f"use declared_registry() or the context's registry: {callers}"
    assert declared_registry() is declared_registry()


def test_a_run_directory_gives_the_context_the_experiments_file_gave(tmp_path):
    ctx = load_context(write_experiments(tmp_path), "offline")
    assert isinstance(ctx, ExperimentContext) and ctx.name == "offline" and ctx.base == tmp_path.resolve()
    run_dir = RunDir(tmp_path / "runs" / "offline")
    run_dir.write_meta(ctx.name, ctx.exp.digest(), ctx.base, ctx.exp.model_dump())
    again = run_dir.context()
    assert (again.name, again.base, again.exp.digest()) == (ctx.name, ctx.base, ctx.exp.digest())
    assert again.registry is ctx.registry
