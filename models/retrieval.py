"""Sentence retrieval without training (BUCC, Tatoeba), after xtreme's third_party/evaluate_retrieval.py:
mean-pooled hidden states of one encoder layer, cosine nearest neighbours and BUCC's margin mining."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from xstilts.models.predict import length_batches, pad_ids
from xstilts.models.train import Data, Model, autocast, resolve_device
from xstilts.tasks.feature_cache import lengths, take
from xstilts.tasks.registry import RETRIEVAL_LAYER as DEFAULT_LAYER

MARGIN_K = 4  # utils_retrieve.mine_bitext: neighbourhood of the ratio margin


def pooling_layer(model: Model, layer: int = DEFAULT_LAYER) -> int:
    """Index into hidden_states (0 = embeddings) of the layer to pool, clamped to the model's depth."""
    return max(0, min(layer, model.config.num_hidden_layers))


@torch.no_grad()
def embed(
    model: Model,
    input_ids: Sequence[Sequence[int]],
    pad_id: int,
    layer: int = DEFAULT_LAYER,
    batch_size: int = 64,
    device: str = "auto",
) -> torch.Tensor:
    """Return L2-normalised mean-pooled embeddings [n, hidden] (float32, CPU) of one layer.

    The mean runs over all non-padding tokens, <s> and </s> included (XTREME's default, no
    --pool_skip_special_token). Works for a bare encoder or any model with a head (its base_model).
    """
    dev = resolve_device(device)
    encoder: Model = getattr(model, "base_model", model)
    encoder = encoder.to(dev).eval()
    index = pooling_layer(model, layer)
    out = torch.empty((len(input_ids), model.config.hidden_size))
    for rows in length_batches(lengths(input_ids).tolist(), batch_size):
        ids, mask = pad_ids(take(input_ids, rows), pad_id)
        with autocast(dev, "auto"):
            hidden = (
                encoder(input_ids=ids.to(dev), attention_mask=mask.to(dev), output_hidden_states=True)
                .hidden_states[index]
                .float()
            )
        m = mask.to(dev).unsqueeze(-1).float()
        out[rows] = ((hidden * m).sum(1) / m.sum(1)).cpu()
    return torch.nn.functional.normalize(out, dim=-1)


def knn(x: torch.Tensor, y: torch.Tensor, k: int, block: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the k largest dot products of each row of x with y and their indices [n_x, k] (blockwise)."""
    k = min(k, y.shape[0])
    sims, idx = [], []
    for start in range(0, x.shape[0], block):
        s, i = (x[start : start + block] @ y.T).topk(k, dim=1)
        sims.append(s)
        idx.append(i)
    return torch.cat(sims), torch.cat(idx)


def nearest(src: torch.Tensor, tgt: torch.Tensor) -> list[int]:
    """Index of each source embedding's cosine nearest target (Tatoeba's similarity_search)."""
    return knn(src, tgt, 1)[1][:, 0].tolist()


def mine(
    src: torch.Tensor, tgt: torch.Tensor, margin: str = "ratio", k: int = MARGIN_K
) -> list[tuple[int, int, float]]:
    """Mine (src index, tgt index, score) pairs as utils_retrieve.mine_bitext(mode='mine', retrieval='max').

    Scores are cosine (margin 'absolute') or cosine / mean of both sentences' k-NN similarities
    (margin 'ratio', XTREME's BUCC setting). Forward and backward best candidates are pooled and taken
    greedily by score, each sentence used at most once.
    """
    if margin not in ("ratio", "absolute"):
        raise ValueError(f"unknown margin {margin!r} (have 'ratio', 'absolute')")
    x2y_sim, x2y_idx = knn(src, tgt, k)
    y2x_sim, y2x_idx = knn(tgt, src, k)
    x_mean, y_mean = x2y_sim.mean(1), y2x_sim.mean(1)

    def scores(sim: torch.Tensor, idx: torch.Tensor, own: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return sim if margin == "absolute" else sim / ((own[:, None] + other[idx]) / 2)

    fwd, bwd = scores(x2y_sim, x2y_idx, x_mean, y_mean), scores(y2x_sim, y2x_idx, y_mean, x_mean)
    fwd_best, bwd_best = fwd.argmax(1), bwd.argmax(1)
    pairs = [(i, int(x2y_idx[i, fwd_best[i]]), float(fwd[i, fwd_best[i]])) for i in range(src.shape[0])]
    pairs += [(int(y2x_idx[j, bwd_best[j]]), j, float(bwd[j, bwd_best[j]])) for j in range(tgt.shape[0])]
    seen_src, seen_tgt, out = set(), set(), []
    for i, j, score in sorted(pairs, key=lambda p: -p[2]):
        if i not in seen_src and j not in seen_tgt:
            seen_src.add(i)
            seen_tgt.add(j)
            out.append((i, j, score))
    return out


def tatoeba_predictions(
    model: Model, features: Data, pad_id: int, layer: int = DEFAULT_LAYER, device: str = "auto"
) -> list[int]:
    """For each source sentence, the index of its nearest English sentence."""
    src = embed(model, features["src_input_ids"], pad_id, layer, device=device)
    tgt = embed(model, features["tgt_input_ids"], pad_id, layer, device=device)
    return nearest(src, tgt)


def bucc_candidates(
    model: Model,
    features: Data,
    pad_id: int,
    layer: int = DEFAULT_LAYER,
    margin: str = "ratio",
    device: str = "auto",
) -> list[tuple[str, str, float]]:
    """Mined (xx id, en id, score) candidates of `featurize_bucc` features; repeated texts are dropped."""
    src = embed(model, features["src_input_ids"], pad_id, layer, device=device)
    tgt = embed(model, features["tgt_input_ids"], pad_id, layer, device=device)
    src_ids, tgt_ids = list(features["src_ids"]), list(features["tgt_ids"])
    return [
        (src_ids[i], tgt_ids[j], score)
        for i, j, score in mine(src, tgt, margin)
        if src_ids[i] is not None and tgt_ids[j] is not None
    ]
