"""`xstilts status RUN_DIR`: where a sweep and its evaluation stand, read from the run directory alone (the
ledger, the experiment record, the evaluation's winners and parts) without starting Ray or taking any lock,
so it is safe on a sweep that is running."""

from __future__ import annotations

from typing import Any

from xstilts.search.journal import Journal
from xstilts.search.lease import clock, holder_of
from xstilts.search.rundir import RunDir

TRIAL_STATES = ("complete", "stopped", "error", "running", "not started")


def _milestone(m: dict | None, metric: str) -> dict | None:
    if m is None:
        return None
    return {
        "trial_id": m["trial_id"],
        "intermediate_task": m["config"]["intermediate_task"],
        "step": m["step"],
        metric: m["metrics"][metric],
    }


def run_status(run_dir: RunDir) -> dict[str, Any]:
    """The run's state as plain data (what `--json` prints)."""
    ctx = run_dir.context()
    exp = ctx.exp
    metric = exp.search.metric
    journal = Journal(run_dir)  # the ledger is read once (on an object store: one GET per event)
    started = {e["trial_id"] for e in journal.events if e["event"] in ("result", "end")}
    states = {t: journal.end_of(t) for t in started}
    counts = {s: sum(1 for v in states.values() if v == s) for s in TRIAL_STATES[:-1]}
    counts["not started"] = max(0, exp.search.num_samples - len(started))
    best, base = journal.best(metric), journal.best(metric, baseline=True)
    winners = run_dir.read_winners()
    done = len(run_dir.parts()) if winners else 0
    failed_jobs = [e for e in journal.failed_jobs() if not all(run_dir.has_part(*p) for p in e["parts"])]
    report = f"{run_dir.report_dir}/report.md"
    holder = holder_of(run_dir)
    return {
        "run_dir": run_dir.uri,
        "experiment": ctx.name,
        "source": run_dir.source_label(),
        "metric": metric,
        "trials": {"total": exp.search.num_samples, **counts},
        "milestones": len(journal.results),
        "best": _milestone(best, metric),
        "baseline": _milestone(base, metric),
        "delta_vs_none": (best["metrics"][metric] - base["metrics"][metric]) if best and base else None,
        "failed_trials": [
            {"trial_id": t, "reason": journal.ends[t].get("reason", "")}
            for t, s in sorted(states.items())
            if s == "error"
        ],
        "evaluation": {
            "winners": len(winners),
            "parts_done": done,
            # a part per (winner's replicate, target task, seed); the baseline's replicates are the pretrained
            # encoder fine-tuned with each replicate's target seeds
            "parts_planned": len(winners) * exp.search.replicates * len(exp.evaluation.tasks) * exp.evaluation.seeds,
            "complete": run_dir.has_evaluation(),
            "failed_jobs": [{"job": e["job"], "reason": e["reason"]} for e in failed_jobs],
        },
        "report": report if run_dir.loc.is_file("report/report.md") else None,
        "driver": None
        if holder is None
        else {"command": holder.command, "host": holder.host, "pid": holder.pid, "since": holder.since},
    }


def status_lines(status: dict[str, Any]) -> list[str]:
    """The status as lines for a terminal or a log."""
    t, ev, metric = status["trials"], status["evaluation"], status["metric"]
    lines = [
        f"{status['experiment']}: {status['run_dir']}",
        f"data source: {status['source']}",
        f"trials: {sum(t[s] for s in TRIAL_STATES[:-1])} of {t['total']} started: "
        + ", ".join(f"{t[s]} {s}" for s in TRIAL_STATES),
        f"milestones journaled: {status['milestones']}",
    ]
    best, base = status["best"], status["baseline"]
    if best:
        delta = status["delta_vs_none"]
        vs = f" ({delta:+.2f} vs none at {base[metric]:.2f})" if delta is not None else " (no 'none' result yet)"
        lines.append(
            f"best {metric}: {best[metric]:.2f} by {best['intermediate_task']} "
            f"(trial {best['trial_id']}, step {best['step']}){vs}"
        )
    lines += [f"failed trial {f['trial_id']}: {f['reason']}" for f in status["failed_trials"]]
    if ev["winners"]:
        state = "complete" if ev["complete"] else "under way or interrupted"
        lines.append(
            f"evaluation: {ev['parts_done']} of {ev['parts_planned']} parts ({ev['winners']} winners), {state}"
        )
        lines += [f"failed evaluation job {f['job']}: {f['reason']}" for f in ev["failed_jobs"]]
    else:
        lines.append("evaluation: not started")
    lines.append(f"report: {status['report'] or 'not written yet'}")
    driver = status["driver"]
    if driver:
        since = clock(driver["since"])
        lines.append(f"driver: xstilts {driver['command']} (host {driver['host']}, pid {driver['pid']}, since {since})")
    else:
        lines.append("driver: none (the run directory is free)")
    return lines
