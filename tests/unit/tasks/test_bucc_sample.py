"""BUCC under `max_eval_rows`: a seeded sample of gold pairs whose sentences stay in pools of distractors."""

from xstilts.tasks.loading import BUCC_POOL_PER_PAIR, bucc_rows, sample_bucc


def pools(n_src: int, n_tgt: int, n_gold: int) -> dict[str, list]:
    src = {f"zh-{i}": f"zh sentence {i}" for i in range(n_src)}
    tgt = {f"en-{i}": f"en sentence {i}" for i in range(n_tgt)}
    return bucc_rows(src, tgt, {(f"zh-{i}", f"en-{i}") for i in range(n_gold)})


def side(rows: dict[str, list], name: str) -> list[tuple[str, str]]:
    return [(i, t) for s, i, t in zip(rows["side"], rows["id"], rows["text"]) if s == name]


def test_sampled_pairs_keep_their_sentences_among_distractors_and_the_sample_is_fixed():
    rows = pools(500, 800, 60)
    out = sample_bucc(rows, 10)
    gold = side(out, "gold")
    src, tgt = dict(side(out, "src")), dict(side(out, "tgt"))
    assert len(gold) == 10 and set(gold) <= set(side(rows, "gold"))
    assert all(a in src and b in tgt for a, b in gold)  # every sampled pair can be mined
    assert len(src) == len(tgt) == BUCC_POOL_PER_PAIR * 10  # the rest are distractors
    assert len(set(src) - {a for a, _ in gold}) == (BUCC_POOL_PER_PAIR - 1) * 10
    assert sample_bucc(rows, 10) == out  # the same rows for every encoder


def test_a_split_with_no_more_pairs_than_asked_is_kept_whole():
    rows = pools(30, 40, 5)
    assert sample_bucc(rows, 5) == rows


def test_distractors_are_never_half_of_an_unsampled_gold_pair():
    rows = pools(300, 300, 300)  # every sentence has a translation: dense gold
    out = sample_bucc(rows, 20)
    gold = set(side(out, "gold"))
    src, tgt = {i for i, _ in side(out, "src")}, {i for i, _ in side(out, "tgt")}
    unmarked = {(a, b) for a, b in side(rows, "gold")} - gold
    assert not any(a in src and b in tgt for a, b in unmarked)  # no true pair scored as a false match
    assert len(gold) == 20 and src == {a for a, _ in gold} and tgt == {b for _, b in gold}
