import math

import pytest
import torch

from tests.helpers.models import tiny_model, toy_data
from xstilts.models.checkpoint import load_resume
from xstilts.models.heads import load_for_task, save_encoder, transfer_encoder
from xstilts.models.predict import classification_collate, mlm_collate
from xstilts.models.sampling import batch_indices
from xstilts.models.train import TrainConfig, autocast, lr_lambda, resolve_device, train
from xstilts.tasks.registry import build_registry

pytestmark = pytest.mark.integration
REG = build_registry()


def test_batches_are_a_pure_function_of_step_and_cover_each_epoch():
    a = [batch_indices(10, 4, 7, k) for k in range(5)]
    assert a == [batch_indices(10, 4, 7, k) for k in range(5)]
    flat = sum(a, [])
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))


def test_linear_warmup_then_decay():
    f = lr_lambda(warmup=4, total=10)
    assert [round(f(s), 2) for s in (0, 3, 4, 7, 10)] == [0.25, 1.0, 1.0, 0.5, 0.0]


def test_training_reduces_loss_and_is_seeded():
    cfg = TrainConfig(max_steps=120, lr=1e-2, batch_size=8, seed=1, device="cpu")
    m1, m2 = tiny_model(), tiny_model()
    r1 = train(m1, toy_data(), classification_collate(1), cfg)
    r2 = train(m2, toy_data(), classification_collate(1), cfg)
    assert r1.final_loss == r2.final_loss
    assert r1.final_loss < 0.8  # chance cross-entropy is ln 3 = 1.10


def test_grad_accumulation_matches_a_bigger_batch():
    data = toy_data()
    big, acc = tiny_model(dropout=0.0), tiny_model(dropout=0.0)
    train(big, data, classification_collate(1), TrainConfig(max_steps=3, batch_size=8, seed=2, device="cpu"))
    # the same 8 rows per optimizer step, fed as 2 micro-batches of 4 (batch_indices is a pure stream)
    train(
        acc, data, classification_collate(1), TrainConfig(max_steps=3, batch_size=4, grad_accum=2, seed=2, device="cpu")
    )
    for p, q in zip(big.parameters(), acc.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


@pytest.mark.parametrize("grouped", [False, True])
def test_resume_from_checkpoint_equals_uninterrupted(tmp_path, grouped):
    data = toy_data()
    cfg = TrainConfig(max_steps=12, lr=5e-3, batch_size=8, seed=3, device="cpu", eval_every=6, group_by_length=grouped)
    full = tiny_model()
    train(full, data, classification_collate(1), cfg)

    first = tiny_model()
    train(
        first, data, classification_collate(1), cfg, on_eval=lambda snap: snap.step == 6 and snap.save(tmp_path / "ck")
    )
    from transformers import XLMRobertaForSequenceClassification

    resumed = XLMRobertaForSequenceClassification.from_pretrained(tmp_path / "ck")
    resume = load_resume(tmp_path / "ck")  # torch.load(weights_only=True) inside
    assert resume.step == 6
    assert (tmp_path / "ck" / "model.safetensors").is_file()
    train(resumed, data, classification_collate(1), cfg, resume=resume)
    for (name, p), q in zip(full.named_parameters(), resumed.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name


def test_cpu_runs_fp32_and_auto_device_falls_back_to_cpu():
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
    with autocast(torch.device("cpu"), "auto"):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32


def test_mlm_collate_masks_only_ordinary_tokens():
    data = {"input_ids": [[0, 7, 8, 9, 10, 11, 12, 2]] * 64}
    batch = mlm_collate(1, 4, 40, [0, 1, 2, 3, 4], prob=0.5)(data, list(range(64)), torch.Generator().manual_seed(0))
    masked = batch["labels"] != -100
    assert masked.any() and not masked[:, 0].any() and not masked[:, -1].any()
    assert (batch["input_ids"][masked] == 4).float().mean() > 0.6  # 80% become <mask>


def test_head_transfer_keeps_the_encoder_and_makes_a_new_head(tmp_path):
    source = tiny_model()
    train(source, toy_data(), classification_collate(1), TrainConfig(max_steps=5, lr=1e-2, batch_size=8, device="cpu"))
    moved = transfer_encoder(source, REG["xnli"], seed=9)
    src, dst = source.base_model.state_dict(), moved.base_model.state_dict()
    assert src.keys() == dst.keys() and all(torch.equal(src[k], dst[k]) for k in src)
    assert not torch.equal(moved.classifier.out_proj.weight, source.classifier.out_proj.weight)
    assert moved.config.id2label[2] == "contradiction"

    save_encoder(source, tmp_path / "enc")
    loaded = load_for_task(tmp_path / "enc", REG["xnli"], seed=9)
    got = loaded.base_model.state_dict()
    assert all(torch.equal(src[k], got[k]) for k in src)


def test_transfer_does_not_alias_the_source():
    source = tiny_model()
    moved = transfer_encoder(source, REG["xnli"])
    with torch.no_grad():
        next(moved.base_model.parameters()).add_(1.0)
    assert not torch.equal(next(moved.base_model.parameters()), next(source.base_model.parameters()))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a visible CUDA device")
def test_bf16_autocast_on_cuda():
    cfg = TrainConfig(max_steps=3, batch_size=8, device="cuda")
    result = train(tiny_model(), toy_data(), classification_collate(1), cfg)
    assert math.isfinite(result.final_loss)


def test_micro_batch_cap_keeps_the_effective_batch():
    from xstilts.models.train import cap_micro_batch

    cfg = TrainConfig(max_steps=1, batch_size=32, grad_accum=1)
    assert cap_micro_batch(cfg, None) == cfg and cap_micro_batch(cfg, 32) == cfg
    assert (cap_micro_batch(cfg, 16).batch_size, cap_micro_batch(cfg, 16).grad_accum) == (16, 2)
    assert (cap_micro_batch(cfg, 12).batch_size, cap_micro_batch(cfg, 12).grad_accum) == (8, 4)  # a divisor
    two = TrainConfig(max_steps=1, batch_size=24, grad_accum=2)
    assert (cap_micro_batch(two, 10).batch_size, cap_micro_batch(two, 10).grad_accum) == (8, 6)
    # the capped run sees the same examples each step and ends where the uncapped one does
    data = toy_data()
    big, small = tiny_model(dropout=0.0), tiny_model(dropout=0.0)
    train(big, data, classification_collate(1), TrainConfig(max_steps=3, batch_size=8, seed=2, device="cpu"))
    capped = cap_micro_batch(TrainConfig(max_steps=3, batch_size=8, seed=2, device="cpu"), 4)
    train(small, data, classification_collate(1), capped)
    for a, b in zip(big.state_dict().values(), small.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5)


def test_a_trial_s_sampled_batch_is_capped(tmp_path):
    from types import SimpleNamespace

    from xstilts.search.sweep.trial import intermediate_config

    plan = SimpleNamespace(
        device="cpu", milestone_every=100, max_micro_batch=16, group_by_length=True, compile=True, precision="bf16",
        schedule="wsd", warmup_steps=7, cooldown_fraction=0.3, cooldown_shape="1-sqrt",
    )  # fmt: skip
    cfg = intermediate_config(plan, {"intermediate_steps": 200, "lr": 1e-3, "batch_size": 32}, seed=4)
    assert (cfg.batch_size, cfg.grad_accum, cfg.max_steps, cfg.seed) == (16, 2, 200, 4)
    assert cfg.group_by_length and cfg.compile and cfg.precision == "bf16"  # the experiment's precision
    # the experiment's schedule: wsd with its fixed warm-up and cooldowns
    assert (cfg.schedule, cfg.warmup_steps, cfg.cooldown_fraction, cfg.cooldown_shape) == ("wsd", 7, 0.3, "1-sqrt")


def test_cuda_out_of_memory_names_the_batch_size(monkeypatch):
    from xstilts.models.train import OutOfMemory

    model = tiny_model()

    def no_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model, "forward", no_memory)
    with pytest.raises(OutOfMemory, match=r"CUDA out of memory at batch size 8 \(2 micro-batch"):
        train(
            model,
            toy_data(),
            classification_collate(1),
            TrainConfig(max_steps=2, batch_size=8, grad_accum=2, device="cpu"),
        )


def test_compiled_training_matches_eager_and_saves_the_plain_model(tmp_path, monkeypatch):
    from dataclasses import replace

    from safetensors.torch import load_file

    # inductor (the default backend) needs a C++ toolchain and about a minute on 2 cores; aot_eager traces
    # the same graphs (dynamo's forward, AOTAutograd's backward) without generating code
    real, calls = torch.compile, []
    monkeypatch.setattr(torch, "compile", lambda m, **kw: calls.append(kw) or real(m, backend="aot_eager", **kw))
    cfg = TrainConfig(max_steps=4, batch_size=8, seed=1, device="cpu", lr=1e-2)
    eager, comp = tiny_model(dropout=0.0), tiny_model(dropout=0.0)
    plain = train(eager, toy_data(), classification_collate(1), cfg)
    assert calls == []
    done = train(
        comp,
        toy_data(),
        classification_collate(1),
        replace(cfg, compile=True),
        on_eval=lambda s: s.save(tmp_path / "c"),
    )
    assert calls == [{"dynamic": True}] and math.isclose(done.final_loss, plain.final_loss, rel_tol=1e-4)
    for p, q in zip(eager.parameters(), comp.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
    saved = load_file(str(tmp_path / "c" / "model.safetensors"))
    assert saved and set(saved) <= set(comp.state_dict()) and not any("_orig_mod" in k for k in saved)


def test_precision_bf16_autocasts_on_cpu_and_keeps_float32_master_weights():
    x, layer = torch.randn(4, 8), torch.nn.Linear(8, 8)
    cpu = torch.device("cpu")
    with autocast(cpu, "bf16"):
        assert layer(x).dtype == torch.bfloat16  # the matmul runs in bf16 (AMX / AVX-512 bf16 where present)
    for precision in ("auto", "fp32"):  # auto: bf16 on CUDA only, fp32 on CPU
        with autocast(cpu, precision):
            assert layer(x).dtype == torch.float32
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast(cpu, "fp16")
    model = tiny_model()
    cfg = TrainConfig(max_steps=120, lr=1e-2, batch_size=8, seed=1, device="cpu", precision="bf16")
    result = train(model, toy_data(), classification_collate(1), cfg)
    assert result.final_loss < 0.8 and all(p.dtype == torch.float32 for p in model.parameters())
