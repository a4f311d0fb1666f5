import pytest

from xstilts.search.cluster import check_fits
from xstilts.search.config import ConfigError
from xstilts.search.settings import Resources

LAPTOP = [{"CPU": 2.0, "memory": 8e9}]
GPU_NODES = [{"CPU": 16.0, "GPU": 1.0}, {"CPU": 8.0}]


def test_a_request_that_some_node_holds_passes():
    assert check_fits(Resources(cpu=1, gpu=0), "offline.resources", LAPTOP) == LAPTOP
    assert check_fits(Resources(cpu=4, gpu=0.5), "x.resources", GPU_NODES) == GPU_NODES[:1]
    assert check_fits(Resources(cpu=8, gpu=0), "x.resources", GPU_NODES) == GPU_NODES  # both have 8 CPUs
    assert check_fits(Resources(cpu=16, gpu=1), "x.resources", GPU_NODES) == GPU_NODES[:1]


@pytest.mark.parametrize(
    "request_,nodes,needles",
    [
        (Resources(cpu=1, gpu=1), LAPTOP, ["{cpu: 1, gpu: 1}", "1 node(s), at most 2 CPUs and 0 GPUs"]),
        (Resources(cpu=3), LAPTOP, ["{cpu: 3, gpu: 0}", "at most 2 CPUs"]),
        (Resources(cpu=8, gpu=1), [{"CPU": 16.0}, {"CPU": 4.0, "GPU": 1.0}], ["2 node(s), at most 16 CPUs and 1 GPUs"]),
        (Resources(gpu=2), GPU_NODES, ["gpu: 2", "at most 16 CPUs and 1 GPUs"]),
    ],
)
def test_a_request_no_node_can_hold_is_refused_naming_the_field(request_, nodes, needles):
    with pytest.raises(ConfigError) as err:
        check_fits(request_, "offline.resources", nodes)
    message = str(err.value)
    assert message.startswith("offline.resources: ") and "\n" not in message
    assert all(n in message for n in needles), message
    assert "offline.resources.autoscaling: true" in message


def test_an_autoscaling_cluster_waits_instead():
    with pytest.raises(ConfigError):
        check_fits(Resources(cpu=64, gpu=8), "x.resources", LAPTOP)
    assert check_fits(Resources(cpu=64, gpu=8, autoscaling=True), "x.resources", LAPTOP) is None  # not refused


def test_a_share_above_one_gpu_must_be_whole():
    assert Resources(gpu=2).gpu == 2 and Resources(gpu=0.25).gpu == 0.25
    with pytest.raises(ValueError, match="whole number of GPUs"):
        Resources(gpu=1.5)
