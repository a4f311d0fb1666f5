"""Whether the report's duration effects survive a rerun: two runs of one experiment with different seeds
(`benchmarks/real_bench.py --seed S`), their duration-effect tables side by side.

    .venv/bin/python benchmarks/replication.py RUN_DIR_A RUN_DIR_B [--markdown]

Each run's `report/tables/duration_effects.parquet` (one row per intermediate task, learning rate, step pair
and summary) is joined on those keys. Prints one JSON line: per row both estimates with their intervals, whether
each run calls it robust, and whether the signs agree; then the counts, and `defects`: the rows that one run
calls robust and whose sign the other run reverses (the report promises that a robust finding does not flip).
`--markdown` prints the side-by-side table instead, for benchmarks/README.md. Exit status 1 when there is a
defect.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

KEYS = ["intermediate_task", "lr", "from_step", "to_step", "summary"]
SHOWN = ["estimate", "low", "high", "p_adjusted", "robust", "n_trials"]


def effects(run: Path) -> pd.DataFrame:
    path = run / "report" / "tables" / "duration_effects.parquet"
    if not path.is_file():
        sys.exit(f"{path}: not found (run the bench and its report first)")
    return pd.read_parquet(path)[KEYS + SHOWN]


def side_by_side(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    both = a.merge(b, on=KEYS, how="outer", suffixes=("_a", "_b"))
    sign_a, sign_b = both["estimate_a"].map(_sign), both["estimate_b"].map(_sign)
    both["signs_agree"] = sign_a == sign_b
    robust_a = both["robust_a"].astype("boolean").fillna(False).astype(bool)
    robust_b = both["robust_b"].astype("boolean").fillna(False).astype(bool)
    both["defect"] = (robust_a | robust_b) & ~both["signs_agree"]
    return both


def _sign(x: float) -> int:
    return 0 if x is None or (isinstance(x, float) and math.isnan(x)) or x == 0 else (1 if x > 0 else -1)


def _cell(row: pd.Series, side: str) -> str:
    est, low, high = row[f"estimate_{side}"], row[f"low_{side}"], row[f"high_{side}"]
    if pd.isna(est):
        return "—"
    star = " robust" if bool(row[f"robust_{side}"]) else ""
    return f"{est:+.2f} [{low:+.2f}, {high:+.2f}] p_adj {row[f'p_adjusted_{side}']:.2f}{star}"


def markdown(both: pd.DataFrame, a: str, b: str) -> str:
    lines = [
        f"| task | lr | steps | summary | {a} | {b} | signs agree |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in both.sort_values(KEYS).iterrows():
        lines.append(
            f"| {r['intermediate_task']} | {r['lr']} | {int(r['from_step'])} → {int(r['to_step'])} | {r['summary']} "
            f"| {_cell(r, 'a')} | {_cell(r, 'b')} | {'yes' if r['signs_agree'] else '**no**'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--markdown", action="store_true", help="print the side-by-side table as Markdown")
    args = parser.parse_args()
    both = side_by_side(effects(args.run_a), effects(args.run_b))
    if args.markdown:
        print(markdown(both, args.run_a.name, args.run_b.name))
    else:
        rows = json.loads(both.to_json(orient="records"))
        print(
            json.dumps(
                {
                    "benchmark": "replication",
                    "runs": [str(args.run_a), str(args.run_b)],
                    "rows": rows,
                    "signs_agree": int(both["signs_agree"].sum()),
                    "of": len(both),
                    "robust_a": int(both["robust_a"].astype("boolean").fillna(False).sum()),
                    "robust_b": int(both["robust_b"].astype("boolean").fillna(False).sum()),
                    "defects": json.loads(both[both["defect"]][KEYS].to_json(orient="records")),
                }
            )
        )
    sys.exit(1 if both["defect"].any() else 0)


if __name__ == "__main__":
    main()
