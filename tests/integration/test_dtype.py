"""A half-precision checkpoint (config `dtype: float16`, as many hub checkpoints and the real bench's encoder
are saved) trains with float32 master weights: the loaded model is float32, and its first training steps'
losses match those of the float32 original."""

from pathlib import Path

import pytest
import torch

from xstilts.models.heads import checkpoint_dtype, load_for_task, transfer_encoder
from xstilts.models.predict import collate_for
from xstilts.models.setup import features_for, tokenizer_for
from xstilts.models.train import TrainConfig, train

pytestmark = pytest.mark.integration

# float16 keeps 11 significant bits: weights move by at most 2^-11 relative, so a 2-layer encoder's loss
# moves by ~1e-3; 1e-2 absolute leaves room without letting a float16 model's training (or a wrong cast)
# through (a float16 AdamW update of 2e-3 on weights ~1 rounds to nothing).
LOSS_TOLERANCE = 1e-2


@pytest.fixture(scope="module")
def half_copy(offline_plan, tmp_path_factory) -> Path:
    """The offline encoder saved in float16, its config saying so."""
    from transformers import AutoModelForMaskedLM

    out = tmp_path_factory.mktemp("fp16-encoder")
    model = AutoModelForMaskedLM.from_pretrained(offline_plan.encoder, dtype=torch.float32).half()
    model.save_pretrained(str(out))
    tokenizer_for(offline_plan.encoder).save_pretrained(str(out))
    return out


def losses(encoder: str, plan, steps: int = 5) -> list[float]:
    spec = plan.registry["xnli"]
    model = load_for_task(encoder, spec, seed=0)
    assert next(model.parameters()).dtype == torch.float32
    data = features_for(plan.encoder, plan.source, spec, "train", "en")
    seen: list[float] = []
    cfg = TrainConfig(max_steps=steps, lr=2e-3, batch_size=8, device="cpu", eval_every=1, warmup_ratio=0)
    collate = collate_for(spec, tokenizer_for(plan.encoder).pad_token_id)
    train(model, data, collate, cfg, on_eval=lambda snap: seen.append(float(snap.loss)))
    return seen


def test_a_float16_checkpoint_loads_and_trains_in_float32_like_its_float32_original(offline_plan, half_copy):
    from transformers import AutoModel

    assert checkpoint_dtype(half_copy) == "float16" and checkpoint_dtype(offline_plan.encoder) == "float32"
    assert next(AutoModel.from_pretrained(str(half_copy)).parameters()).dtype == torch.float16  # transformers' default
    half, full = losses(str(half_copy), offline_plan), losses(offline_plan.encoder, offline_plan)
    assert len(half) == len(full) == 5
    assert max(abs(a - b) for a, b in zip(half, full)) < LOSS_TOLERANCE, (half, full)
    assert half[-1] < half[0]  # it learns: float32 updates are not rounded away


def test_a_transferred_encoder_stays_float32(offline_plan, half_copy):
    model = load_for_task(str(half_copy), offline_plan.registry["xnli"])
    moved = transfer_encoder(model, offline_plan.registry["panx"], labels=("O", "B-PER", "I-PER"))
    assert {p.dtype for p in moved.parameters()} == {torch.float32}
