"""The CLI invoked in-process, and the check that bad input is refused with one line and nothing written."""

from typer.testing import CliRunner

from xstilts.search.cli import app


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_rejected(result, tmp_path, *needles):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert not (tmp_path / "runs").exists()
