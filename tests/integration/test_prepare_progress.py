"""Progress of the long steps: world generation, tokenizer training, MLM pretraining (steps, loss) and
featurisation are reported to the reporter the CLI sets, as a bar on a terminal or plain lines, and
nothing is reported (or printed) without one."""

import io

import pytest
from rich.console import Console

from tests.helpers.world import SMALL
from xstilts.models.pretrain import EncoderConfig, prepare_encoder
from xstilts.search.terminal import StageProgress
from xstilts.tasks.registry import build_registry
from xstilts.tasks.reporting import reporting
from xstilts.tasks.world import write_world

pytestmark = pytest.mark.integration


def test_prepare_reports_world_tokenizer_and_mlm_steps_with_loss(tmp_path, capsys):
    calls = []
    with reporting(lambda stage, done, total, info: calls.append((stage, done, total, info))):
        root = write_world(SMALL, tmp_path, build_registry())
        texts = sorted((root / "text").glob("*.txt"))
        prepare_encoder(texts, tmp_path / "enc", EncoderConfig(vocab_size=300, mlm_steps=20), "cpu")
    world = [c for c in calls if c[0] == "offline world"]
    assert world[0][1] == 0 and world[-1][1] == world[-1][2] and any(c[3] == "xnli" for c in world)
    assert [c[1] for c in calls if c[0] == "tokenizer"] == [0, 1]
    mlm = [c for c in calls if c[0] == "MLM pretraining"]
    assert [c[1] for c in mlm] == list(range(1, 21)) and all(c[2] == 20 for c in mlm)
    assert all(c[3].startswith("loss ") and float(c[3].split()[1]) > 0 for c in mlm)
    prepare_encoder(texts, tmp_path / "quiet", EncoderConfig(vocab_size=300, mlm_steps=5), "cpu")  # no reporter
    assert capsys.readouterr().out == ""


def test_stage_lines_off_a_terminal_and_bars_that_stop_on_one():
    buf = io.StringIO()
    plain = StageProgress(force_terminal=False, every=0.0, delay=60.0)
    plain.console = Console(file=buf, force_terminal=False)
    plain("MLM pretraining", 1, 3, "loss 7.100")
    plain("featurise xnli train en (train)", 10, 400)  # under the delay: not worth a line
    plain("MLM pretraining", 3, 3, "loss 5.000")
    out = buf.getvalue()
    assert "MLM pretraining: 1/3 · loss 7.100 · elapsed 0:00" in out and "MLM pretraining: 3/3" in out
    assert "featurise" not in out and "\x1b[" not in out
    bars = StageProgress(force_terminal=True, delay=0.0)
    bars.console = Console(file=io.StringIO(), force_terminal=True)
    bars("tokenizer", 0, 1)
    assert bars._bar is not None
    bars("tokenizer", 1, 1)
    assert bars._bar is None  # every stage finished: the terminal is free for the sweep's live view


def test_the_plan_prepared_beside_ray_s_start_reports_to_the_caller_s_reporter(tmp_path):
    """`connect_checked` prepares in a thread while Ray starts: the thread keeps the CLI's reporter."""
    import ray

    from tests.conftest import write_experiments
    from xstilts.search.cluster import connect_checked
    from xstilts.search.config import load_experiment
    from xstilts.tasks.reporting import report

    exp, _ = load_experiment(write_experiments(tmp_path, {}))
    calls = []

    def prepare():
        report("offline world", 1, 1, "written")
        return "plan"

    try:
        with reporting(lambda *call: calls.append(call)):
            assert connect_checked(None, exp, exp.resources, "offline.resources", prepare) == "plan"
    finally:
        ray.shutdown()
    assert calls == [("offline world", 1, 1, "written")]
