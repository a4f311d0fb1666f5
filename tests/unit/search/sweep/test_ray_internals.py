"""The one adapter over Ray Tune's private attributes: checked against the installed version, and each use
still means what the adapter says on it."""

from types import SimpleNamespace

from ray.tune.schedulers import AsyncHyperBandScheduler

from xstilts.search.sweep import ray_internals
from xstilts.search.sweep.ray_internals import (
    asha_forget,
    asha_holds,
    asha_max_t,
    asha_replay,
    asha_rungs,
    asha_time_attr,
    version_mismatches,
)


def test_the_installed_ray_is_the_one_the_adapter_was_checked_against():
    assert not version_mismatches(), "\n".join(version_mismatches())


def test_a_version_other_than_the_checked_one_is_named_with_what_to_do(monkeypatch):
    monkeypatch.setitem(ray_internals.CHECKED, "ray", "0.0.1")
    (line,) = version_mismatches()
    assert "checked against ray 0.0.1" in line and "update CHECKED" in line


def test_asha_internals_replay_hold_and_forget():
    asha = AsyncHyperBandScheduler(
        metric="mean", mode="min", time_attr="step", max_t=400, grace_period=100, reduction_factor=2, brackets=1
    )
    assert asha_max_t(asha) == 400 and asha_time_attr(asha) == "step"
    asha_replay(asha, "a", 100, 3.0)  # mode min: recorded negated, as on_trial_result records it
    rungs = asha_rungs(asha)
    assert rungs[0] == {"a": -3.0} and all(not r for r in rungs[1:])
    asha.on_trial_add(None, SimpleNamespace(trial_id="b"))
    assert asha_holds(asha, "b") and not asha_holds(asha, "a")
    asha_forget(asha, "b")
    asha_forget(asha, "b")  # a trial not in a bracket: no error
    assert not asha_holds(asha, "b")
