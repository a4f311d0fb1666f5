"""The live view: rows, states and best-so-far; plain lines when stdout is not a terminal."""

import io
from types import SimpleNamespace

from rich.console import Console

from xstilts.search.journal import open_journal
from xstilts.search.rundir import RunDir
from xstilts.search.sweep.live import ProgressView


def trial(tid, task="mnli", steps=200, status="RUNNING"):
    return SimpleNamespace(
        trial_id=tid,
        status=status,
        last_result={},
        error_file=None,
        config={"intermediate_task": task, "intermediate_steps": steps, "lr": 1e-3, "batch_size": 16},
    )


def result(step, mean):
    return {"step": step, "mean": mean, "low_resource_mean": mean - 5, "worst": mean - 10, "worst_lang": "sw"}


def render_text(view):
    buf = io.StringIO()
    Console(file=buf, width=200).print(view.render())
    return buf.getvalue()


def test_plain_lines_and_table_when_not_a_terminal(tmp_path, capsys):
    ledger = RunDir(tmp_path)
    journal = open_journal(ledger)
    view = ProgressView("mean", ledger, force_terminal=False)
    view.setup()
    a, b, n = trial("a"), trial("b"), trial("n", task="none")
    for t in (a, b, n):
        view.on_trial_start(0, [], t)
    for t, step, mean in [(n, 0, 55.0), (a, 100, 50.0), (b, 100, 40.0)]:  # the scheduler journals, then Ray tells
        journal.append(
            {"event": "result", "trial_id": t.trial_id, "step": step, "config": t.config}
            | {"metrics": result(step, mean)}
        )
        view.on_trial_result(0, [], t, result(step, mean))
    journal.append({"event": "end", "trial_id": "b", "how": "stopped"})
    view.on_trial_complete(0, [], b)
    view.on_trial_complete(0, [], n)
    out = capsys.readouterr().out
    assert "trial a started: mnli for 200 steps" in out
    assert "trial a mnli step 100: mean 50.0 low-resource 45.0 worst 40.0 (sw)" in out
    assert "best so far: a mnli step 100 mean=50.0" in out
    assert "trial b stopped (ASHA) at step 100" in out and "trial n done at step 0" in out
    assert "\x1b[" not in out  # no terminal control codes in CI logs
    table = render_text(view)
    assert "best mean 50.0 (a)" in table and "a ★" in table
    assert "stopped (ASHA)" in table and "running" in table and "100/200" in table


def test_resumed_view_rebuilds_rows_from_the_ledger(tmp_path, capsys):
    ledger = RunDir(tmp_path)
    cfg = trial("a").config
    ledger.append_event({"event": "result", "trial_id": "a", "step": 100, "config": cfg, "metrics": result(100, 47.0)})
    ledger.append_event({"event": "end", "trial_id": "a", "how": "stopped"})
    open_journal(ledger)  # the resumed driver reads the ledger
    view = ProgressView("mean", ledger, force_terminal=False)
    view.setup()
    assert capsys.readouterr().out == ""  # replay prints nothing
    assert view.rows["a"]["state"] == "stopped (ASHA)" and view.rows["a"]["step"] == 100
    assert view.best == (47.0, "a")


def test_view_survives_pickling_into_tuner_pkl(tmp_path):
    import pickle

    view = ProgressView("mean", RunDir(tmp_path), force_terminal=True)
    view.setup()
    try:
        clone = pickle.loads(pickle.dumps(view))
    finally:
        view.on_experiment_end([])
    assert clone._live is None and clone.metric == "mean"


def test_pending_trials_that_do_not_fit_say_waiting_for_resources(tmp_path, capsys):
    free = {"CPU": 0.0, "GPU": 0.0}
    view = ProgressView(
        "mean", RunDir(tmp_path), force_terminal=False, request={"CPU": 1, "GPU": 0.5}, free_resources=lambda: free
    )
    view.setup()
    running, pending = trial("a"), trial("b", status="PENDING")
    view.on_step_begin(0, [running, pending])
    assert view.waiting is None  # a trial whose actor is starting holds its resources: not waiting yet
    view.patience, view._checked = 0.0, 0.0
    view.on_step_begin(0, [running, pending])
    assert view.waiting and "waiting for resources: 1 pending trial(s) need cpu 1, gpu 0.5" in view.waiting
    assert "free now: cpu 0, gpu 0" in view.waiting and "waiting for resources" in render_text(view)
    assert "waiting for resources" in capsys.readouterr().out  # the plain line
    free.update(CPU=4.0, GPU=1.0)
    view._checked = 0.0  # the next check (Ray is asked at most every 2 s)
    view.on_step_begin(1, [running, pending])
    assert view.waiting is None and "waiting" not in render_text(view)
    assert "resources free" in capsys.readouterr().out
    view._checked = 0.0
    view.on_step_begin(2, [running])  # nothing pending: never waiting, whatever is free
    assert view.waiting is None


def test_progress_says_trials_done_of_all_running_pending_elapsed_eta_and_cluster_use(tmp_path, capsys):
    view = ProgressView("mean", RunDir(tmp_path), force_terminal=False, request={"CPU": 1})
    view.usage_of = lambda: {"CPU": (2.0, 2.0), "GPU": (0.5, 1.0)}
    view.setup(num_samples=4, total_num_samples=4)
    a, b = trial("a"), trial("b")
    view.on_trial_start(0, [], a)
    view.on_trial_start(0, [], b)
    view.on_step_begin(0, [a, b])  # asks Ray (here: usage_of) for the cluster's use
    assert "ETA —" in view.progress_text()  # nothing finished yet: no rate
    view._session_t0 -= 60  # one trial done after a minute of this session: 3 left at that rate
    view._t0 -= 60
    view.on_trial_complete(0, [], a)
    text = view.progress_text()
    assert text.startswith("progress: trials 1/4 done · running 1 · pending 2 · elapsed 1:00")
    assert "ETA 3:00" in text and "CPU 2/2 GPU 0.5/1" in text
    assert "progress: trials 1/4 done" in capsys.readouterr().out  # the plain line says the same
    assert "trials 1/4 done · running 1 · pending 2" in render_text(view)


def test_job_progress_lines_say_done_of_all_elapsed_eta_and_cluster_use(capsys):
    from xstilts.search.terminal import JobProgress

    jobs = JobProgress("xstilts evaluate", force_terminal=False, usage_of=lambda: {"CPU": (1.0, 2.0), "GPU": (0, 0)})
    jobs.add_done(2)  # done before this session: not part of the rate
    for name in ("x", "y", "z"):
        jobs.add_running(name)
    jobs._t0 -= 30
    jobs.finished("x", ok=True)
    line = capsys.readouterr().out
    assert "done: x (3 of 5 done, running 2 · failed 0 · elapsed 0:30 · ETA 1:00 · CPU 1/2 GPU 0/0)" in line


def test_progress_counts_the_cooldowns_in_the_steps_spent(tmp_path):
    view = ProgressView("mean", RunDir(tmp_path), force_terminal=False)
    view.setup(num_samples=2, total_num_samples=2)
    a, b = trial("a"), trial("b")
    for t in (a, b):
        view.on_trial_start(0, [], t)
    assert "steps" not in view.progress_text()  # nothing spent yet (and under linear schedules, never shown)
    view._update_scores(a, result(100, 50.0) | {"budget_steps": 120})  # 100 steps + a 20-step cooldown
    view._update_scores(b, result(200, 40.0) | {"budget_steps": 260})  # 200 + 20 + 40
    assert "steps 380 (80 cooldown)" in view.progress_text()
