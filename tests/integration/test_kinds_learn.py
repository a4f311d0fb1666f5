"""Each task type learns the offline world: after a short English fine-tune it beats its chance level,
and retrieval from the pretrained encoder beats random ranking."""

import pytest
import torch

from xstilts.models.heads import auto_class, load_for_task
from xstilts.models.scoring import collate_for, evaluate_split
from xstilts.models.setup import features_for, tag_labels, tokenizer_for
from xstilts.models.train import TrainConfig, train
from xstilts.tasks.registry import build_registry

pytestmark = pytest.mark.integration
REG = build_registry()

# kind: (train task, eval task, eval lang, steps, score key, chance level, margin)
CASES = {
    "classification": ("xnli", "xnli", "en", 200, "accuracy", 100 / 3, 10),
    "multiple_choice": ("commonsense_qa", "commonsense_qa", "en", 300, "accuracy", 20.0, 10),
    # Trains on SQuAD v1.1, as XQuAD does. Token-overlap F1 of an untrained head is not 0 (about 8 here),
    # so its chance level is measured on the same model before training (None).
    "span": ("xquad", "xquad", "en", 150, "f1", None, 6),
    "tagging": ("panx", "panx", "en", 150, "f1", 0.0, 25),
    "retrieval": (None, "tatoeba", "de", 0, "accuracy", 100 / 150, 10),  # random ranking of 150 candidates
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_task_type_beats_chance(kind, offline_plan):
    torch.set_num_threads(1)
    train_task, eval_task, lang, steps, key, chance, margin = CASES[kind]
    plan, spec = offline_plan, REG[eval_task]
    pad = tokenizer_for(plan.encoder).pad_token_id
    labels = tag_labels(plan.source, spec)
    split = "dev" if "dev" in spec.sources else "test"
    eval_feats = features_for(plan.encoder, plan.source, spec, split, lang)
    if train_task is None:
        model = auto_class("retrieval").from_pretrained(plan.encoder)
    else:
        model = load_for_task(plan.encoder, spec, seed=0, labels=labels)
        if chance is None:
            chance = evaluate_split(model, spec, eval_feats, None, lang, pad, device="cpu", labels=labels)[key]
        data = features_for(plan.encoder, plan.source, REG[train_task], "train", "en")
        train(model, data, collate_for(spec, pad), TrainConfig(max_steps=steps, lr=1e-3, batch_size=16, device="cpu"))
    scores = evaluate_split(model, spec, eval_feats, None, lang, pad, device="cpu", labels=labels)
    assert scores[key] >= chance + margin, (scores, chance)
