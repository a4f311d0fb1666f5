"""What the code review asks of every module: functions short enough to read at once (at most 50 lines of
body, the docstring aside)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_BODY = 50


def test_no_function_body_exceeds_50_lines():
    long = []
    for layer in ("core", "tasks", "models", "search"):
        for path in sorted((ROOT / layer).rglob("*.py")):
            for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                body = fn.body[1:] if ast.get_docstring(fn) is not None and len(fn.body) > 1 else fn.body
                lines = fn.end_lineno - body[0].lineno + 1
                if lines > MAX_BODY:
                    long.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name} ({lines} lines)")
    assert not long, long
