"""xstilts: English intermediate-task training for zero-shot cross-lingual transfer, searched with Ray Tune.

`xstilts.run_experiment(experiments_file, name="offline", address=None)` runs sweep -> evaluation -> report;
`xstilts.load_results(run_dir)` returns the sweep's milestones and the evaluation's rows as DataFrames.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["load_results", "run_experiment"]


def __getattr__(name: str) -> Any:
    # Deferred: the pipeline imports pandas and the config schema; `import xstilts` (and the CLI's --help)
    # stays fast.
    if name in __all__:
        from xstilts.search import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'xstilts' has no attribute {name!r}")
