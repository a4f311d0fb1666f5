"""Whether two runs of the same experiment produced the same numbers: results.parquet, evaluation.parquet and
every report table, compared cell by cell after mapping each run's Ray trial ids (random per run) to the trial's
sampled configuration, and leaving out what differs by design (the provenance's date and commit).

    .venv/bin/python benchmarks/compare_runs.py RUN_DIR_A RUN_DIR_B [--rtol 0]

Prints one JSON line: per table, whether it is identical (same rows, same columns, equal values; floats within
`rtol`), else how many cells differ and the largest difference. Exit status 0 when every table is identical.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# what a second run changes by design: when and from which commit, and the checkout's own encoder cache path
SKIP_PROVENANCE = {"git commit", "date (UTC)", "sweep: encoder", "evaluation: encoder"}
TRIAL_KEYS = ["intermediate_task", "intermediate_steps", "lr", "batch_size", "seed"]


def trial_names(run: Path) -> dict[str, str]:
    """Ray trial id -> the trial's sampled configuration, as text (the same in both runs of one sweep)."""
    results = pd.read_parquet(run / "results.parquet")
    configs = results.drop_duplicates("trial_id").set_index("trial_id")[TRIAL_KEYS]
    return {tid: "|".join(str(v) for v in row) for tid, row in configs.iterrows()}


def normalised(df: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """Trial ids (in columns and inside winner names) replaced by configurations; rows in a stable order."""
    df = df.copy()
    for col in df.columns:
        if (
            df[col].dtype == object
            or pd.api.types.is_string_dtype(df[col])
            or isinstance(df[col].dtype, pd.CategoricalDtype)
        ):
            values = df[col].astype(str)
            for tid, name in names.items():
                values = values.str.replace(tid, name, regex=False)
            df[col] = values
    if "key" in df.columns and "value" in df.columns:
        df = df[~df["key"].isin(SKIP_PROVENANCE)]
    return df.sort_values(list(df.columns), kind="mergesort").reset_index(drop=True)


def compare(a: pd.DataFrame, b: pd.DataFrame, rtol: float) -> dict:
    """Cell by cell on the columns both have (a column only one has is reported and makes them differ)."""
    only = {"columns_only_in_a": sorted(set(a.columns) - set(b.columns))}
    only["columns_only_in_b"] = sorted(set(b.columns) - set(a.columns))
    if len(a) != len(b):
        return {"identical": False, "why": f"{len(a)} rows vs {len(b)}", **only}
    shared = [c for c in a.columns if c in set(b.columns)]
    a, b = (x[shared].sort_values(shared, kind="mergesort").reset_index(drop=True) for x in (a, b))
    differing, largest = 0, 0.0
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
            same = np.isclose(xv, yv, rtol=rtol, atol=0, equal_nan=True)
            if (~same).any():
                largest = max(largest, float(np.nanmax(np.abs(xv - yv)[~same])))
            differing += int((~same).sum())
        else:
            differing += int((x.astype(str).fillna("<na>") != y.astype(str).fillna("<na>")).sum())
    same = differing == 0 and not only["columns_only_in_a"] and not only["columns_only_in_b"]
    return {"identical": same, "cells_differing": differing, "largest_difference": largest, **only}


def tables(run: Path) -> dict[str, Path]:
    out = {"results": run / "results.parquet", "evaluation": run / "evaluation" / "evaluation.parquet"}
    out |= {f"report/{p.stem}": p for p in sorted((run / "report" / "tables").glob("*.parquet"))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance of floats (0: equal)")
    args = parser.parse_args()
    names_a, names_b = trial_names(args.a), trial_names(args.b)
    ta, tb = tables(args.a), tables(args.b)
    report = {}
    for name in sorted(set(ta) | set(tb)):
        if name not in ta or name not in tb:
            report[name] = {"identical": False, "why": "only in " + ("b" if name in tb else "a")}
            continue
        a = normalised(pd.read_parquet(ta[name]), names_a)
        b = normalised(pd.read_parquet(tb[name]), names_b)
        report[name] = compare(a, b, args.rtol)
    same = all(r["identical"] for r in report.values())
    print(json.dumps({"benchmark": "compare_runs", "identical": same, "tables": report}))
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
