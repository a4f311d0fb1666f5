"""The trial's training path for every intermediate task (and the multi-task mixture): set up from the
pretrained encoder, train, checkpoint, and resume from the checkpoint with every weight intact."""

import math

import pytest
import torch

from xstilts.models.train import Snapshot, TrainConfig, train
from xstilts.tasks.registry import INTERMEDIATE_TASKS, build_registry

pytestmark = pytest.mark.integration
REG = build_registry()


def setup(task, plan, seed, ckpt_dir):
    """A trial's set-up: the model, its data and collate (search/sweep/trial.py calls the same function)."""
    s = plan.setup_training(task, seed, checkpoint=ckpt_dir)
    return s.model, s.data, s.collate


@pytest.mark.parametrize("name", [*INTERMEDIATE_TASKS, "multitask"])
def test_trains_checkpoints_and_resumes(name, offline_plan, tmp_path):
    torch.set_num_threads(1)
    task = REG[name]
    model, data, collate = setup(task, offline_plan, seed=0, ckpt_dir=None)
    saved = {}

    def on_eval(snap: Snapshot) -> None:
        snap.save(tmp_path / "ck")
        saved.update({k: v.clone() for k, v in snap.model.state_dict().items()})

    cfg = TrainConfig(max_steps=6 if name == "multitask" else 3, lr=1e-3, batch_size=4, device="cpu")
    result = train(model, data, collate, cfg, on_eval=on_eval)
    assert math.isfinite(result.final_loss)
    again, _, _ = setup(task, offline_plan, seed=1, ckpt_dir=str(tmp_path / "ck"))
    state = again.state_dict()
    assert state.keys() == saved.keys()
    assert all(torch.equal(state[k], saved[k]) for k in saved)  # the encoder and every trained head


def test_multitask_shares_one_encoder(offline_plan):
    model, _, _ = setup(REG["multitask"], offline_plan, seed=0, ckpt_dir=None)
    assert sorted(model.names) == sorted(INTERMEDIATE_TASKS)
    assert len({id(m.base_model) for m in model.tasks.values()}) == 1
