"""Evaluation rows built for report tests: winners, seeds and languages of a small constructed evaluation."""

import numpy as np
import pandas as pd

from xstilts.tasks.languages import JOSHI_CLASS, resource_tier

SEEDS = (0, 1, 2)


LANGS = {"xnli": ("en", "de", "ru", "el", "th", "sw"), "xquad": ("en", "de", "ru", "el", "th", "hi")}


LOW = {lang for langs in LANGS.values() for lang in langs if lang != "en" and JOSHI_CLASS[lang] <= 3}


WINNERS = {
    "none": ("baseline", "none", 0, "t0", 0.0),
    "mnli@best": ("best", "mnli", 200, "t1", 4.0),
    "mnli@step100": ("duration", "mnli", 100, "t2", 2.0),
    "mnli@step200": ("duration", "mnli", 200, "t1", 4.0),
    "qqp@best": ("best", "qqp", 100, "t3", 1.0),
    "qqp@step100": ("duration", "qqp", 100, "t3", 1.0),
    "qqp@step200": ("duration", "qqp", 200, "t4", -1.5),
}


def evaluation_rows(seeds=SEEDS, langs=LANGS, winners=WINNERS, source="offline world") -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    for winner, (role, task, step, trial, offset) in winners.items():
        for target, target_langs in langs.items():
            for seed in seeds:
                for lang in target_langs:
                    base = dict(
                        winner=winner,
                        role=role,
                        intermediate_task=task,
                        step=step,
                        trial_id=trial,
                        target_task=target,
                        seed=seed,
                        lang=lang,
                        resource_tier=resource_tier(lang),
                        low_resource=lang in LOW,
                        source=source,
                    )
                    for split in ("dev", "test"):
                        acc = float(
                            np.clip(50 + offset - 2 * JOSHI_CLASS[lang] ** -0.5 * 10 + rng.normal(0, 3), 0, 100)
                        )
                        if target == "xquad":
                            em, f1 = acc - 10, acc + rng.uniform(0, 5)
                            rows += [
                                {**base, "split": split, "metric": "exact_match", "score": em, "headline": False},
                                {**base, "split": split, "metric": "f1", "score": f1, "headline": False},
                                {
                                    **base,
                                    "split": split,
                                    "metric": "avg_metric",
                                    "score": (em + f1) / 2,
                                    "headline": True,
                                },
                            ]
                        else:
                            rows.append({**base, "split": split, "metric": "accuracy", "score": acc, "headline": True})
    return pd.DataFrame(rows)
