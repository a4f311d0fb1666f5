"""benchmarks/replication.py: two runs' duration effects side by side, and a robust finding whose sign the
other run reverses named as a defect."""

import importlib.util

import pandas as pd

from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("replication", REPO / "benchmarks" / "replication.py")
replication = importlib.util.module_from_spec(spec)
spec.loader.exec_module(replication)


def table(estimates: dict[str, float], robust: set[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "intermediate_task": task,
                "lr": "3e-05",
                "from_step": 20,
                "to_step": 40,
                "summary": "mean",
                "estimate": est,
                "low": est - 1.0,
                "high": est + 1.0,
                "p_adjusted": 0.01 if task in robust else 0.5,
                "robust": task in robust,
                "n_trials": 3,
            }
            for task, est in estimates.items()
        ]
    )


def test_a_robust_finding_that_flips_is_a_defect_and_a_noisy_one_is_not():
    a = table({"sst2": +2.0, "squad_v2": -0.3, "commonsense_qa": +1.5}, robust={"sst2"})
    b = table({"sst2": -1.0, "squad_v2": +0.4, "commonsense_qa": +1.2}, robust=set())
    both = replication.side_by_side(a, b).set_index("intermediate_task")
    assert bool(both.loc["sst2", "defect"])  # robust in a, reversed in b
    assert not bool(both.loc["squad_v2", "defect"])  # flips, but neither run called it robust
    assert bool(both.loc["commonsense_qa", "signs_agree"]) and not bool(both.loc["commonsense_qa", "defect"])
    text = replication.markdown(both.reset_index(), "seed0", "seed1")
    assert "| sst2 | 3e-05 | 20 → 40 | mean |" in text and "**no**" in text and "robust" in text
