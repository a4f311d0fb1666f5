"""The trial's multi-task path: all nine intermediate tasks on one encoder, checkpointed and resumed."""

import pytest
import torch

from xstilts.models.train import Snapshot, TrainConfig, train
from xstilts.search.trainable import _setup
from xstilts.tasks.registry import build_registry

pytestmark = pytest.mark.integration


def test_multitask_trains_every_head_and_resumes_with_them(offline_plan, tmp_path):
    torch.set_num_threads(1)
    task = build_registry()["multitask"]
    model, data, collate = _setup(task, offline_plan, seed=0, ckpt_dir=None)
    assert sorted(model.names) == sorted(task.members)
    assert len({id(m.base_model) for m in model.tasks.values()}) == 1  # one shared encoder
    saved = {}

    def on_eval(snap: Snapshot) -> None:
        snap.save(tmp_path / "ck")
        saved.update({k: v.clone() for k, v in snap.model.state_dict().items()})

    train(model, data, collate, TrainConfig(max_steps=12, lr=1e-3, batch_size=4, device="cpu"), on_eval=on_eval)
    again, _, _ = _setup(task, offline_plan, seed=0, ckpt_dir=str(tmp_path / "ck"))
    state = again.state_dict()
    assert state.keys() == saved.keys()
    assert all(torch.equal(state[k], saved[k]) for k in saved)  # encoder and all nine heads restored
