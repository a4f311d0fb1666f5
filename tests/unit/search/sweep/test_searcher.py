"""OptunaWithBaseline: milestones told to Optuna at the intermediate step; a trial ASHA stopped is PRUNED, one
that reached its own step count COMPLETE; the baseline keeps working; a restore keeps all of it."""

import optuna
from optuna.trial import TrialState
from ray import tune

from xstilts.search.sweep.ray_internals import optuna_study, optuna_trial
from xstilts.search.sweep.searcher import OptunaWithBaseline

SPACE = {
    "intermediate_task": tune.choice(["mnli", "qqp", "none"]),
    "intermediate_steps": tune.choice([200, 300]),
    "lr": tune.loguniform(1e-4, 1e-3),
    "batch_size": tune.choice([8, 16]),
}
BASELINE = {"intermediate_task": "none", "intermediate_steps": 200, "lr": 1e-4, "batch_size": 8}


def searcher():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = OptunaWithBaseline(sampler=optuna.samplers.TPESampler(seed=0), points_to_evaluate=[BASELINE])
    s.set_search_properties("mean", "max", SPACE)
    return s


def next_real(s, prefix):
    """Suggest until a trial that is not the baseline (repeated baselines are redrawn by the searcher)."""
    config = s.suggest(prefix)
    assert config["intermediate_task"] != "none"
    return config


def by_number(s):
    return {t.number: t for t in optuna_study(s).get_trials(deepcopy=False)}


def test_stopped_is_pruned_completed_is_complete_and_restore_keeps_both(tmp_path):
    s = searcher()
    base = s.suggest("base")
    assert base["intermediate_task"] == "none" and base["seed"] == 0
    s.on_trial_result("base", {"step": 0, "mean": 30.0, "training_iteration": 1})
    s.on_trial_complete("base", {"step": 0, "mean": 30.0})

    stopped = next_real(s, "stopped")
    s.on_trial_result("stopped", {"step": 100, "mean": 20.0, "training_iteration": 1})
    s.on_trial_result("stopped", {"step": 100, "mean": 20.0, "training_iteration": 2})  # re-reported: once
    s.on_trial_complete("stopped", {"step": 100, "mean": 20.0})  # ASHA stopped it before its own steps

    done = next_real(s, "done")
    for step, mean in [(100, 25.0), (200, 35.0), (300, 40.0)][: done["intermediate_steps"] // 100]:
        s.on_trial_result("done", {"step": step, "mean": mean, "training_iteration": step // 100})
    last = {"step": done["intermediate_steps"], "mean": 35.0 if done["intermediate_steps"] == 200 else 40.0}
    s.on_trial_complete("done", last)

    def check(study_trials):
        base_t, stopped_t, done_t = (study_trials[optuna_trial(s, t).number] for t in ("base", "stopped", "done"))
        assert base_t.state == TrialState.COMPLETE and base_t.value == 30.0
        assert stopped_t.state == TrialState.PRUNED and stopped_t.intermediate_values == {100: 20.0}
        assert done_t.state == TrialState.COMPLETE and done_t.value == last["mean"]
        assert sorted(done_t.intermediate_values) == [100, 200, 300][: done["intermediate_steps"] // 100]

    check(by_number(s))
    assert stopped["seed"] != done["seed"]
    path = tmp_path / "searcher.pkl"
    s.save(str(path))
    again = searcher()
    again.restore(str(path))
    check(by_number(again))
    again.on_trial_result("stopped", {"step": 200, "mean": 1.0})  # an ended trial: nothing more is told
    assert by_number(again)[optuna_trial(again, "stopped").number].intermediate_values == {100: 20.0}


def test_an_errored_trial_fails_and_a_repeated_baseline_is_told_its_score():
    s = searcher()
    s.suggest("base")
    s.on_trial_complete("base", {"step": 0, "mean": 30.0})
    bad = next_real(s, "bad")
    assert bad["intermediate_task"] in ("mnli", "qqp")
    s.on_trial_result("bad", {"step": 100, "mean": 10.0})
    s.on_trial_complete("bad", None, error=True)
    assert by_number(s)[optuna_trial(s, "bad").number].state == TrialState.FAIL
    for i in range(8):  # TPE proposes 'none' again sometimes: told the baseline's score, never rerun
        assert s.suggest(f"t{i}")["intermediate_task"] != "none"
    told = [t for t in optuna_study(s).get_trials() if t.params.get("intermediate_task") == "none"]
    assert all(t.state == TrialState.COMPLETE and t.value == 30.0 for t in told)


def test_every_intermediate_task_is_tried_before_tpe_proposes():
    from tests.conftest import REPO
    from xstilts.search.config import load_experiment
    from xstilts.search.sweep.driver import _first_points
    from xstilts.tasks.registry import build_registry

    exp, _ = load_experiment(REPO / "experiments.yaml", "offline", registry=build_registry())
    points = _first_points(exp)
    assert [p["intermediate_task"] for p in points] == ["none", *[t for t in exp.intermediate.tasks if t != "none"]]
    assert len(points) == 11 <= exp.search.num_samples  # the offline default covers all eleven
    for p in points[1:]:
        assert p["intermediate_steps"] == max(exp.intermediate.steps)
        assert exp.search.space.lr.low < p["lr"] < exp.search.space.lr.high
    assert {p["batch_size"] for p in points[1:]} == set(exp.search.space.batch_size)
    few = exp.model_copy(update={"search": exp.search.model_copy(update={"num_samples": 3})})
    assert [p["intermediate_task"] for p in _first_points(few)] == ["none", "anli", "commonsense_qa"]
    off = exp.model_copy(update={"search": exp.search.model_copy(update={"cover_tasks": False})})
    assert [p["intermediate_task"] for p in _first_points(off)] == ["none"]

    s = OptunaWithBaseline(sampler=optuna.samplers.TPESampler(seed=0), points_to_evaluate=points)
    from xstilts.search.sweep.driver import _param_space

    s.set_search_properties("mean", "max", _param_space(exp))
    suggested = [s.suggest(f"t{i}")["intermediate_task"] for i in range(11)]
    assert sorted(suggested) == sorted(exp.intermediate.tasks)  # in Ray's order: each choice once


def test_a_trial_ended_after_the_snapshot_is_told_with_its_last_journaled_milestone(tmp_path):
    """A resumed sweep ends a trial with the result of Ray's older snapshot; the journal has its later
    milestones, and TPE is told those, as an uninterrupted sweep would have told it."""
    from xstilts.search.journal import open_journal
    from xstilts.search.rundir import RunDir

    run_dir = RunDir(tmp_path / "run")
    s = searcher()
    s.run_dir = run_dir
    s.suggest("base")
    config = next_real(s, "stopped")
    s.on_trial_result("stopped", {"step": 100, "mean": 20.0})
    journal = open_journal(run_dir)
    for step, mean in [(100, 20.0), (200, 26.0)]:  # 200: journaled, then the driver was killed
        journal.append(
            {"event": "result", "trial_id": "stopped", "step": step, "config": config, "metrics": {"mean": mean}}
        )
    journal.append({"event": "end", "trial_id": "stopped", "how": "stopped"})
    s.on_trial_complete("stopped", {"step": 100, "mean": 20.0})  # the snapshot's last result
    told = by_number(s)[optuna_trial(s, "stopped").number]
    if config["intermediate_steps"] > 200:
        assert told.state == TrialState.PRUNED and told.intermediate_values == {100: 20.0, 200: 26.0}
    else:  # it had reached its own step count
        assert told.state == TrialState.COMPLETE and told.value == 26.0
