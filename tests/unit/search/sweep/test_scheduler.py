"""PersistentASHA (search/sweep/scheduler.py): journaled rungs and decisions survive a restore."""

from types import SimpleNamespace

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from xstilts.search.journal import Journal, open_journal, trial_ends
from xstilts.search.ledger_files import LEDGER_NAME
from xstilts.search.rundir import RunDir
from xstilts.search.sweep.ray_internals import asha_holds, asha_rungs
from xstilts.search.sweep.scheduler import PersistentASHA


class FakeController:
    def __init__(self, trials):
        self.trials = trials
        self.stopped = []

    def get_trials(self):
        return self.trials

    def stop_trial(self, trial):
        self.stopped.append(trial.trial_id)
        trial.status = Trial.TERMINATED


def fake_trial(tid, status=Trial.RUNNING):
    return SimpleNamespace(trial_id=tid, status=status, config={"intermediate_task": "mnli", "lr": 1e-3})


def scheduler(path):
    """A scheduler as a (new) driver builds it: the ledger read afresh."""
    open_journal(RunDir(path))
    s = PersistentASHA(RunDir(path), time_attr="step", max_t=300, grace_period=100, reduction_factor=2)
    s.set_search_properties("mean", "max")
    return s


def started(path, names, status=Trial.RUNNING):
    """A scheduler on the ledger at `path` with trials `names` added: (scheduler, controller, trials)."""
    trials = {t: fake_trial(t, status) for t in names}
    sched = scheduler(path)
    ctrl = FakeController(list(trials.values()))
    for t in trials.values():
        sched.on_trial_add(ctrl, t)
    return sched, ctrl, trials


# (trial, step, mean) in arrival order: enough trials for ASHA to cut at both rungs
STREAM = [
    ("a", 100, 50.0),
    ("b", 100, 40.0),
    ("c", 100, 45.0),
    ("a", 200, 55.0),
    ("d", 100, 30.0),
    ("c", 200, 44.0),
    ("e", 100, 48.0),
    ("e", 200, 60.0),
    ("f", 100, 20.0),
    ("b", 200, 41.0),
]


def run(sched, ctrl, events, trials):
    decisions = []
    for tid, step, value in events:
        result = {"step": step, "mean": value, "probe/xnli/de": value, "worst_lang": "de", "pid": 7}
        decisions.append(sched.on_trial_result(ctrl, trials[tid], result))
    return decisions


def test_resumed_scheduler_makes_the_same_decisions(tmp_path):
    trials = {t: fake_trial(t) for t in "abcdef"}
    (tmp_path / "u").mkdir()
    (tmp_path / "r").mkdir()
    uninterrupted = scheduler(tmp_path / "u")
    ctrl = FakeController(list(trials.values()))
    for t in trials.values():
        uninterrupted.on_trial_add(ctrl, t)
    expected = run(uninterrupted, ctrl, STREAM, trials)
    assert TrialScheduler.STOP in expected and TrialScheduler.CONTINUE in expected

    first = scheduler(tmp_path / "r")
    for t in trials.values():
        first.on_trial_add(ctrl, t)
    got = run(first, ctrl, STREAM[:6], trials)
    # driver killed here; a restored sweep builds a fresh scheduler from tuner.pkl
    resumed = scheduler(tmp_path / "r")
    for t in trials.values():
        resumed.on_trial_add(ctrl, t)
    # a restored trial re-reports its last milestone from the checkpoint before going on
    assert resumed.on_trial_result(ctrl, trials["c"], {"step": 200, "mean": 44.0}) == expected[5]
    got += run(resumed, ctrl, STREAM[6:], trials)
    assert got == expected
    assert asha_rungs(resumed) == asha_rungs(uninterrupted)


def test_trials_that_ended_before_the_kill_are_not_revived(tmp_path):
    sched, ctrl, trials = started(tmp_path, "abcd")
    decisions = run(sched, ctrl, [("a", 100, 50.0), ("b", 100, 45.0), ("c", 100, 10.0)], trials)
    assert decisions[2] == TrialScheduler.STOP
    sched.on_trial_complete(ctrl, trials["a"], {"step": 100, "mean": 50.0})
    assert {e["trial_id"]: e["how"] for e in RunDir(tmp_path).read_ledger() if e["event"] == "end"} == {
        "b": "stopped",
        "c": "stopped",
        "a": "complete",
    }

    # the experiment snapshot lagged: Ray restores a, b and c as PENDING beside d, which never reported
    fresh, ctrl2, restored = started(tmp_path, "abcd", Trial.PENDING)
    chosen = fresh.choose_trial_to_run(ctrl2)
    assert sorted(ctrl2.stopped) == ["a", "b", "c"]
    assert chosen.trial_id == "d"
    assert fresh.on_trial_result(ctrl2, restored["c"], {"step": 100, "mean": 99.0}) == TrialScheduler.STOP


def test_results_keep_one_row_per_milestone_and_survive_a_torn_line(tmp_path):
    sched, ctrl, trials = started(tmp_path, "ab")
    run(sched, ctrl, [("a", 100, 50.0), ("b", 100, 40.0), ("a", 100, 50.0)], trials)
    with open(tmp_path / LEDGER_NAME, "a") as fh:
        fh.write('{"event": "result", "trial_')  # a kill mid-append
    rows = Journal(RunDir(tmp_path)).milestones()
    assert [(r["trial_id"], r["step"]) for r in rows] == [("a", 100), ("b", 100)]
    assert rows[0]["metrics"] == {"step": 100, "mean": 50.0, "probe/xnli/de": 50.0, "worst_lang": "de"}
    resumed = scheduler(tmp_path)  # the next driver's first event is not swallowed by the torn line
    c = fake_trial("c")
    resumed.on_trial_add(ctrl, c)
    run(resumed, ctrl, [("c", 100, 60.0)], {"c": c})
    rows = Journal(RunDir(tmp_path)).milestones()
    assert [(r["trial_id"], r["step"]) for r in rows] == [("a", 100), ("b", 100), ("c", 100)]


def test_baseline_runs_once_and_tpe_still_proposes_other_tasks():
    import optuna
    from ray import tune

    from xstilts.search.sweep.searcher import OptunaWithBaseline

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {"intermediate_task": tune.choice(["mnli", "none"]), "lr": tune.loguniform(1e-4, 1e-2)}
    s = OptunaWithBaseline(
        space=space,
        metric="mean",
        mode="max",
        baseline_runs=1,
        points_to_evaluate=[{"intermediate_task": "none", "lr": 1e-4}],
        sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=2),
    )
    tasks, seeds = [], []
    for i in range(12):
        cfg = s.suggest(f"t{i}")
        tasks.append(cfg["intermediate_task"])
        seeds.append(cfg["seed"])
        s.on_trial_complete(f"t{i}", {"mean": 30.0 if cfg["intermediate_task"] == "none" else 40.0 + i})
    assert tasks[0] == "none" and tasks.count("none") == 1
    assert seeds == list(range(12))  # one seed per suggestion, redrawn baseline proposals included only once


def test_trial_seeds_follow_suggestion_order_and_survive_a_restore(tmp_path):
    import optuna
    from ray import tune

    from xstilts.search.sweep.searcher import OptunaWithBaseline

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def searcher():
        return OptunaWithBaseline(
            space={"lr": tune.loguniform(1e-4, 1e-2)},
            metric="mean",
            mode="max",
            seed_base=7,
            sampler=optuna.samplers.TPESampler(seed=0),
        )

    first = searcher()
    configs = [first.suggest(f"t{i}") for i in range(3)]
    assert [c["seed"] for c in configs] == [7, 8, 9]
    again = searcher()  # a sweep run again from scratch draws the same configurations and seeds
    assert [again.suggest(f"u{i}") for i in range(3)] == configs
    first.save(str(tmp_path / "searcher.pkl"))
    restored = searcher()
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored.suggest("t3")["seed"] == 10


def test_results_drop_trials_that_ray_never_snapshotted(tmp_path):
    sched, ctrl, trials = started(tmp_path, "ab")
    run(sched, ctrl, [("a", 100, 50.0), ("b", 100, 40.0)], trials)
    assert [r["trial_id"] for r in Journal(RunDir(tmp_path)).milestones({"a"})] == ["a"]


def test_a_trial_takes_the_searchers_seed_else_one_from_its_id():
    import zlib

    from xstilts.search.sweep.trial import trial_seed

    assert trial_seed(3, "abc", {"seed": 5}) == 5
    assert trial_seed(3, "abc", {}) == trial_seed(3, "abc", {"seed": None}) == 3 + zlib.crc32(b"abc") % 100_000


def test_an_error_is_journaled_with_its_last_line_and_a_retry_takes_it_back(tmp_path):
    from xstilts.search.sweep.scheduler import error_reason

    log = tmp_path / "error.txt"
    log.write_text(
        'Failure # 1 (occurred at 2026-12-02)\nray::ImplicitFunc.train() (pid=1)\n  File "x.py", line 3, in f\n'
        "    raise OutOfMemory(...)\nxstilts.models.train.OutOfMemory: CUDA out of memory at batch size 32\n"
    )
    trial = SimpleNamespace(
        trial_id="t1",
        status=Trial.RUNNING,  # Ray tells a final error while the trial is still RUNNING
        config={"lr": 1e-3},
        error_file=str(log),
        get_error=lambda: None,
        should_recover=lambda: False,
    )
    assert error_reason(trial) == "OutOfMemory: CUDA out of memory at batch size 32"
    assert error_reason(SimpleNamespace(error_file=None, get_error=lambda: None)) == "unknown error"

    run_dir = RunDir(tmp_path / "exp")
    sched = PersistentASHA(run_dir, time_attr="step", metric="mean", mode="max", max_t=200, grace_period=100)
    sched.on_trial_error(FakeController([]), trial)
    (end,) = [e for e in run_dir.read_ledger() if e["event"] == "end"]
    assert (end["how"], end["reason"], end["config"]) == ("error", error_reason(trial), {"lr": 1e-3})
    assert sched.ended() == {"t1": "error"}
    run_dir.append_event({"event": "retry", "trial_id": "t1"})  # `sweep --retry-errored`, then a new driver
    open_journal(run_dir)
    fresh = PersistentASHA(run_dir, time_attr="step", metric="mean", mode="max", max_t=200, grace_period=100)
    assert fresh.ended() == {} and trial_ends(run_dir.read_ledger()) == {}


def test_a_trial_ray_recovers_is_not_journaled_as_ended(tmp_path):
    """Ray calls on_trial_error also when it requeues a trial for a retry (a lost node): not an end."""
    run_dir = RunDir(tmp_path / "exp")
    sched = PersistentASHA(run_dir, time_attr="step", metric="mean", mode="max", max_t=200, grace_period=100)
    recovering = SimpleNamespace(
        trial_id="t2",
        status=Trial.ERROR,  # Ray marks it ERROR before it requeues it
        config={},
        error_file=None,
        get_error=lambda: None,
        should_recover=lambda: True,
    )
    sched.on_trial_add(FakeController([]), recovering)
    sched.on_trial_error(FakeController([]), recovering)
    assert sched.ended() == {} and not [e for e in run_dir.read_ledger() if e["event"] == "end"]
    assert not asha_holds(sched, "t2")  # out of its rung until Ray adds it again
    final = SimpleNamespace(**{**vars(recovering), "status": Trial.RUNNING, "should_recover": lambda: False})
    sched.on_trial_error(FakeController([]), final)  # out of retries: Ray calls it while RUNNING
    assert sched.ended() == {"t2": "error"}


def test_an_orphaned_trial_s_results_do_not_count_in_the_resumed_rungs(tmp_path):
    """A trial that reported before Ray's snapshot named it runs again under a new id (same config and seed):
    its journaled results must not count twice in ASHA's rungs."""
    import json

    trials = {t: fake_trial(t) for t in "abcdef"}
    ctrl = FakeController(list(trials.values()))
    first = scheduler(tmp_path)
    for t in trials.values():
        first.on_trial_add(ctrl, t)
    run(first, ctrl, STREAM[:6], trials)
    orphan = fake_trial("z")
    first.on_trial_add(ctrl, orphan)
    first.on_trial_result(ctrl, orphan, {"step": 100, "mean": 99.0, "worst_lang": "de"})  # then the kill
    snapshot = {"trial_data": [[json.dumps({"trial_id": t}), {}] for t in trials]}  # Ray's: z not in it
    (tmp_path / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(snapshot))
    resumed = scheduler(tmp_path)
    for t in trials.values():
        resumed.on_trial_add(ctrl, t)
    assert all("z" not in rung for rung in asha_rungs(resumed))
    assert any("z" in rung for rung in asha_rungs(first))  # it had counted before the kill
