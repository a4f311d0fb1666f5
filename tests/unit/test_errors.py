"""Every error xstilts raises on purpose has the one base, and bad input is told apart from failed work."""

import pytest

from xstilts.core.errors import InputError, WorkFailed, XstiltsError
from xstilts.core.storage import StorageError
from xstilts.models.train import OutOfMemory
from xstilts.search.config import ConfigError
from xstilts.search.evaluation.evaluate import EvaluationFailed
from xstilts.search.evaluation.export import ExportError
from xstilts.search.interrupt import Interrupted
from xstilts.search.lease import LeaseHeld
from xstilts.search.report.tables import ReportError
from xstilts.search.rundir import RunDirError
from xstilts.search.sweep.trial import InjectedFault
from xstilts.tasks.adapters import MissingColumns
from xstilts.tasks.loading import DataError
from xstilts.tasks.names import UnknownNameError

INPUT = (ConfigError, DataError, UnknownNameError, StorageError, ReportError, ExportError, RunDirError, LeaseHeld)
WORK = (EvaluationFailed, Interrupted, InjectedFault, OutOfMemory)


@pytest.mark.parametrize("cls", INPUT + (MissingColumns,))
def test_bad_input_is_an_input_error(cls):
    assert issubclass(cls, InputError) and issubclass(cls, XstiltsError) and not issubclass(cls, WorkFailed)


@pytest.mark.parametrize("cls", WORK)
def test_failed_work_is_not_bad_input(cls):
    assert issubclass(cls, WorkFailed) and issubclass(cls, XstiltsError) and not issubclass(cls, InputError)


def test_the_builtins_they_always_were_still_catch_them():
    assert issubclass(ConfigError, ValueError) and issubclass(StorageError, OSError)
    assert issubclass(RunDirError, FileNotFoundError) and issubclass(MissingColumns, KeyError)
    assert not issubclass(LeaseHeld, ConfigError)  # a held lease is not a bad experiments file


def test_the_cli_exits_2_on_every_input_error_and_nothing_else():
    from xstilts.search.cli import _user_errors

    caught = _user_errors()
    assert all(issubclass(cls, caught) for cls in INPUT)
    assert not any(issubclass(cls, caught) for cls in WORK)


def test_each_error_carries_its_exit_status():
    import signal

    assert all(cls.exit_status == 2 for cls in INPUT)
    assert all(cls.exit_status == 1 for cls in (EvaluationFailed, InjectedFault, OutOfMemory))
    assert Interrupted(signal.SIGTERM, "stopped").exit_status == 143
    assert Interrupted(signal.SIGINT, "stopped").exit_status == 130
