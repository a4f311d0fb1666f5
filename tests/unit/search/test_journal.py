"""The journal: one definition of the best milestone, the same in the sweep's summary, `status`, the live view
and the evaluation's winners; state kept per event equal to the state read from the whole ledger."""

import math
import random

from xstilts.search.journal import Journal, best_by, metric_of, open_journal
from xstilts.search.rundir import RunDir
from xstilts.search.selection import Rule, WinnerBoard, select_winners
from xstilts.search.status import run_status
from xstilts.search.sweep.live import ProgressView
from xstilts.search.sweep.results import summarize

CONFIG = {
    "target": {"tasks": ["xnli"], "languages": ["en", "de", "sw"]},
    "search": {"num_samples": 5, "metric": "mean"},
}


def result(trial, task, step, mean):
    return {
        "event": "result",
        "trial_id": trial,
        "step": step,
        "config": {"intermediate_task": task, "intermediate_steps": 100, "lr": 1e-3, "batch_size": 16},
        "metrics": {"mean": mean, "low_resource_mean": mean, "worst": mean, "worst_lang": "sw"},
    }


# Where the old copies disagreed: `none` scores highest (the sweep's summary counted it as the best, `status`
# did not); two trials tie, the later trial id arriving first (the live view kept the first to arrive, the
# summary the first in trial order); one milestone has no score.
LEDGER = [
    result("n", "none", 0, 60.0),
    result("b", "mnli", 100, 50.0),
    result("a", "qqp", 100, 50.0),
    result("c", "sst2", 100, math.nan),
    result("d", "mnli", 100, 49.0),
]


def test_sweep_status_live_view_and_evaluation_name_the_same_best(tmp_path):
    run_dir = RunDir(tmp_path / "offline")
    run_dir.write_meta("offline", "abc", tmp_path, CONFIG)
    journal = open_journal(run_dir)
    view = ProgressView("mean", run_dir, force_terminal=False)
    view.setup()
    for event in LEDGER:  # as a sweep runs: the scheduler journals each result, then Ray tells the view
        journal.append(event)
        view.on_trial_result(0, [], _Trial(event), event["metrics"])

    summary = summarize(Journal(run_dir), "mean")
    status = run_status(run_dir)
    replayed = ProgressView("mean", run_dir, force_terminal=False)
    open_journal(run_dir)  # a resumed driver
    replayed.setup()
    winners = select_winners(Journal(run_dir).milestones(), Rule("mean", durations=False, top=1))

    assert (summary.best["trial_id"], summary.best["step"]) == ("a", 100)
    assert (status["best"]["trial_id"], status["best"]["step"]) == ("a", 100)
    assert view.best == replayed.best == (50.0, "a")
    assert {(w.name, w.trial_id) for w in winners} == {("qqp@best", "a"), ("none", "n")}
    assert summary.best_baseline["trial_id"] == status["baseline"]["trial_id"] == "n"


class _Trial:
    def __init__(self, event):
        self.trial_id, self.config, self.status, self.last_result = event["trial_id"], event["config"], "RUNNING", {}


def stream(seed, n=300):
    """Results of 20 trials over 5 steps in a random order, with re-reported results and NaN scores."""
    rng = random.Random(seed)
    tasks = ["none", "mnli", "qqp", "sst2"]
    events = []
    for _ in range(n):
        trial = rng.randrange(20)
        score = rng.choice([math.nan, *range(30, 40)])  # ties are common
        events.append(result(f"t{trial:02d}", tasks[trial % 4], 100 * rng.randrange(1, 6), float(score)))
        if rng.random() < 0.1:
            events.append({"event": "end", "trial_id": f"t{trial:02d}", "how": "stopped"})
    return events


def test_state_kept_per_event_equals_the_state_read_from_the_whole_ledger(tmp_path):
    for seed in range(5):
        run_dir = RunDir(tmp_path / f"s{seed}")
        live = Journal(run_dir)
        board = WinnerBoard("mean", True)
        for event in stream(seed):
            live.append(event)
            if event["event"] == "result":
                board.add(next(m for m in live.milestones({event["trial_id"]}) if m["step"] == event["step"]))
            for baseline in (False, True):
                batch = best_by(
                    (m for m in live.milestones() if (m["config"]["intermediate_task"] == "none") == baseline),
                    metric_of("mean"),
                )
                assert live.best("mean", baseline=baseline) == batch
        read = Journal(run_dir)
        assert read.milestones() == live.milestones() and read.ends == live.ends

        def holders(groups):
            return {key: (m["trial_id"], m["step"]) for key, m in groups.items()}

        assert holders(board.groups) == holders(WinnerBoard("mean", True, read.milestones()).groups)


def test_a_journal_reads_the_ledger_once_then_only_its_tail(tmp_path):
    run_dir = RunDir(tmp_path / "offline")
    mine = Journal(run_dir)
    mine.append(result("a", "mnli", 100, 40.0))
    other = RunDir(tmp_path / "offline")  # another process, e.g. a killed driver's last events
    other.append_event(result("b", "qqp", 100, 45.0))
    other.append_event({"event": "end", "trial_id": "b", "how": "stopped"})
    mine.refresh()
    mine.append(result("a", "mnli", 200, 41.0))
    mine.refresh()  # nothing new: this process's own events are not applied twice
    assert len(mine.events) == 4 and mine.end_of("b") == "stopped"
    assert mine.milestones() == Journal(run_dir).milestones()
    assert mine.best("mean")["trial_id"] == "b"


def test_the_journal_keeps_the_steps_a_milestone_spent():
    from xstilts.search.journal import score_keys

    result = {"step": 80, "mean": 50.0, "cooldown_steps": 16, "budget_steps": 104, "time_this_iter_s": 3.0}
    assert score_keys(result) == {"step": 80, "mean": 50.0, "cooldown_steps": 16, "budget_steps": 104}
