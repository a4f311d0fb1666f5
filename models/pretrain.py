"""The offline encoder: a tokenizer trained locally, wrapped as XLM-R's, and a tiny XLM-R pretrained
briefly with MLM on the world's multilingual text (phase i of the protocol). Saved with save_pretrained,
so it loads through the same `from_pretrained(name_or_path)` code as `xlm-roberta-large`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from xstilts.core.files import atomic_path, build_lock
from xstilts.models.heads import quiet_transformers
from xstilts.models.predict import mlm_collate
from xstilts.models.train import Snapshot, TrainConfig, train
from xstilts.tasks.reporting import report, reporting_now

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4, the XLM-R convention


@dataclass(frozen=True)
class EncoderConfig:
    """Size of the tiny XLM-R and its MLM pretraining recipe."""

    # XLM-R's architecture at a size that pretrains in about a minute on 2 CPU cores
    vocab_size: int = 2000
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 2
    intermediate_size: int = 128
    # positions (the world's sentences are short) and the MLM recipe (phase i of the protocol)
    max_len: int = 128
    mlm_steps: int = 1200
    mlm_batch_size: int = 32
    mlm_lr: float = 2e-3
    seed: int = 0


def train_tokenizer(lines: list[str], vocab_size: int, max_len: int):
    """Train a Unigram tokenizer on `lines` and wrap it as an XLM-R tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaTokenizer  # the tokenizers-backed (fast) class in transformers 5

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace("▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace("▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator(lines, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[(s, tok.token_to_id(s)) for s in ("<s>", "</s>")],
    )
    return XLMRobertaTokenizer(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=max_len,
    )


def prepare_encoder(text_files: list[Path], out_dir: Path, cfg: EncoderConfig, device: str = "auto") -> Path:
    """Build tokenizer + tiny MLM-pretrained XLM-R into out_dir (once; atomic; of processes building it at once,
    one builds and the others wait for it); return out_dir."""
    if (out_dir / "encoder.json").is_file():
        return out_dir
    with build_lock(out_dir):
        if not (out_dir / "encoder.json").is_file():
            _build_encoder(text_files, out_dir, cfg, device)
    return out_dir


def _build_encoder(text_files: list[Path], out_dir: Path, cfg: EncoderConfig, device: str) -> None:
    from transformers import AutoModelForMaskedLM, XLMRobertaConfig

    quiet_transformers()
    lines = [ln for f in text_files for ln in Path(f).read_text(encoding="utf-8").splitlines() if ln]
    report("tokenizer", 0, 1, f"Unigram, {cfg.vocab_size} pieces, {len(lines)} lines")
    tokenizer = train_tokenizer(lines, cfg.vocab_size, cfg.max_len)
    report("tokenizer", 1, 1, f"{len(tokenizer)} pieces")
    # fmt: off
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads, intermediate_size=cfg.intermediate_size,
        max_position_embeddings=cfg.max_len + 2, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        type_vocab_size=1, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
    # fmt: on
    torch.manual_seed(cfg.seed)
    model = AutoModelForMaskedLM.from_config(config)
    data = {"input_ids": tokenizer(lines, truncation=True, max_length=cfg.max_len)["input_ids"]}
    collate = mlm_collate(tokenizer.pad_token_id, tokenizer.mask_token_id, len(tokenizer), list(range(len(SPECIALS))))

    def progress(snap: Snapshot) -> None:
        report("MLM pretraining", snap.step, cfg.mlm_steps, f"loss {snap.loss:.3f}")

    result = train(
        model,
        data,
        collate,
        TrainConfig(
            max_steps=cfg.mlm_steps,
            lr=cfg.mlm_lr,
            batch_size=cfg.mlm_batch_size,
            seed=cfg.seed,
            device=device,
            warmup_ratio=0.05,
            eval_every=max(1, cfg.mlm_steps // 100) if reporting_now() else 0,  # progress, not evaluation
        ),
        on_eval=progress if reporting_now() else None,
    )
    with atomic_path(out_dir, directory=True) as tmp:
        model.to("cpu").save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        info = {
            "config": asdict(cfg),
            "mlm_final_loss": result.final_loss,
            "lines": len(lines),
            "seconds": round(result.seconds, 1),
        }
        (tmp / "encoder.json").write_text(json.dumps(info, indent=1))
