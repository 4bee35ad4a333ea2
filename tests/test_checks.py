"""`striate check` on both engines: sound set-ups pass, planted faults are caught, and the two
engines report the same table."""

import numpy as np
import pytest
import torch
from torch import nn

from striate.checks import unit_check, update_ratio_check
from striate.config import TrainConfig

DIGITS = ("check", "--dataset", "digits")
SMALL_MLP = ("--model", "mlp", "--model-arg", "hidden=32")
SMALL_LENET = ("--model", "lenet", "--model-arg", "filter_size=3", "--model-arg", "nkerns=4,8",
               "--model-arg", "hidden=16", "--model-arg", "pool=1")


def rows(output: str) -> dict[str, str]:
    """The report's rows by check name: {'gradient output.weight': '3.1e-10 ... pass'}."""
    table = {}
    for line in output.splitlines()[1:]:
        name, _, rest = line.partition("  ")
        table[name.strip()] = rest
    return table


def verdict(row: str) -> str:
    return row.split()[-1]


@pytest.mark.parametrize("engine", ["torch", "numpy"])
@pytest.mark.parametrize("model", [(*SMALL_MLP, "--model-arg", "activation=relu"), SMALL_LENET])
def test_a_sound_setup_passes_every_check(cli, model, engine):
    result = cli(*DIGITS, *model, "--engine", engine)
    assert result.code == 0, result.out + result.err
    table = rows(result.out)
    assert all(verdict(row) == "pass" for row in table.values()), result.out
    kinds = {name.split()[0] for name in table}
    assert {"initial", "gradient", "overfit", "loss", "update/weight"} <= kinds
    assert kinds & {"dead", "saturated"}


def test_both_engines_report_the_same_checks_of_a_shared_model(cli):
    """The same rows in the same order, parameters named alike (activations are named by the
    torch modules, by kind and order in NumPy), the same header, and the same initial loss (the
    zero output layer makes it exactly ln 10 in both)."""
    tables = {engine: cli(*DIGITS, *SMALL_MLP, "--engine", engine) for engine in ENGINES}
    assert all(result.code == 0 for result in tables.values())
    headers = {result.out.splitlines()[0] for result in tables.values()}
    assert len(headers) == 1 and headers.pop().split() == ["check", "result", "expected",
                                                           "verdict"]
    torch_rows, numpy_rows = (rows(tables[engine].out) for engine in ENGINES)
    assert list(numpy_rows) == [name.replace("hidden.", "") if name.startswith("saturated")
                                else name for name in torch_rows]
    assert torch_rows["initial loss"].split()[0] == numpy_rows["initial loss"].split()[0]


ENGINES = ("torch", "numpy")


class WrongTanh(torch.autograd.Function):
    """tanh forward, but a backward that forgets to square: 1 - y instead of 1 - y^2."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, = ctx.saved_tensors
        return grad * (1 - y)


def test_a_broken_backward_fails_the_gradient_check_below_it(cli, monkeypatch):
    monkeypatch.setattr(nn.Tanh, "forward", lambda self, x: WrongTanh.apply(x))
    result = cli(*DIGITS, *SMALL_MLP)
    assert result.code == 1
    table = rows(result.out)
    # The fault sits between the hidden and the output layer: only gradients below it are wrong.
    assert verdict(table["gradient hidden.fc1.weight"]) == "FAIL"
    assert verdict(table["gradient hidden.fc1.bias"]) == "FAIL"
    assert verdict(table["gradient output.weight"]) == "pass"
    assert verdict(table["initial loss"]) == "pass"


@pytest.mark.parametrize("engine, activation, flagged", [
    ("torch", "relu", "dead hidden.relu1"), ("torch", "tanh", "saturated hidden.tanh1"),
    ("numpy", "relu", "dead relu1"), ("numpy", "tanh", "saturated tanh1")])
def test_a_learning_rate_of_10_is_flagged(cli, engine, activation, flagged):
    result = cli(*DIGITS, *SMALL_MLP, "--model-arg", f"activation={activation}", "--lr", "10",
                 "--engine", engine)
    assert result.code == 1
    table = rows(result.out)
    assert verdict(table[flagged]) == "FAIL"
    assert verdict(table["overfit 50 examples"]) == "FAIL"
    # The model itself is sound: what fails is what the learning rate does to it.
    assert all(verdict(row) == "pass" for name, row in table.items()
               if name.startswith(("initial", "gradient")))


def test_a_tiny_learning_rate_shows_in_the_update_ratio(cli):
    result = cli(*DIGITS, *SMALL_MLP, "--lr", "1e-9", "--optimizer", "sgd")
    assert result.code == 1
    table = rows(result.out)
    assert verdict(table["update/weight hidden.fc1.weight"]) == "FAIL"
    assert verdict(table["overfit 50 examples"]) == "FAIL"


def test_a_convolution_unit_is_a_channel():
    output = np.random.default_rng(0).random((50, 20, 6, 6)) + 0.1   # (N, channels, H, W)
    output[:, :3] = 0.0                                 # 3 of 20 channels never fire
    output[:, 5, 0, 0] = 0.0                            # one silent position is no dead unit
    check = unit_check("conv", "relu", output)
    assert (check.name, check.value, check.passed) == ("dead conv", "15% of 20 units", False)
    output[:, 1:3] = 1.0                                # one dead unit alone is chance
    assert unit_check("conv", "relu", output).passed


def test_saturation_counts_units_saturated_for_most_inputs():
    output = np.zeros((50, 10))                         # (N, units), tanh at 0: healthy
    output[:30, :2] = -0.999                            # two units saturated for 60% of inputs
    output[:20, 2:] = 0.999                             # the rest for only 40%
    check = unit_check("fc", "tanh", output)
    assert (check.name, check.value, check.passed) == ("saturated fc", "20% of 10 units", False)
    sigmoid = (output + 1) / 2                          # the same units through a sigmoid
    assert unit_check("fc", "sigmoid", sigmoid).value == "20% of 10 units"


@pytest.mark.parametrize("kind", ["relu", "tanh", "sigmoid"])
def test_both_engines_catch_the_same_activations(kind):
    """The torch hooks and the NumPy layer wrappers see the same outputs of the same network:
    an mlp whose NumPy weights are loaded from the torch one."""
    from striate.numpy import engine as numpy_engine
    from striate.numpy.learner import NumpyLearner
    from striate.numpy.models import create_model as numpy_model
    from striate.numpy.weights import load_arrays
    from striate.torch.hooks import activations
    from striate.torch.models import create_model as torch_model

    torch.manual_seed(0)
    net = torch_model("mlp", (1, 8, 8), 10, hidden=(6, 5), activation=kind)
    images = np.random.default_rng(0).standard_normal((7, 1, 8, 8)).astype(np.float32)
    labels = np.arange(7) % 10
    ours = numpy_model("mlp", (1, 8, 8), 10, hidden=(6, 5), activation=kind)
    load_arrays(ours, {name: value.detach().numpy() for name, value in net.state_dict().items()},
                "torch state", "mlp")
    learner = NumpyLearner(ours, {"train": (images, labels)},
                           TrainConfig().resolve().optim, seed=0)
    caught = numpy_engine.layer_outputs(learner)
    expected = activations(net, torch.from_numpy(images))
    assert [(c.layer, c.kind) for c in caught] == [(f"{kind}1", kind), (f"{kind}2", kind)]
    assert [e.layer for e in expected] == [f"hidden.{kind}1", f"hidden.{kind}2"]
    for ours_output, theirs in zip(caught, expected):
        np.testing.assert_allclose(ours_output.output, theirs.output, rtol=1e-5, atol=1e-6)


def test_update_ratio_band():
    weight = np.ones((10, 10), np.float32)              # ||W|| = 10
    assert update_ratio_check("w", weight, weight + 0.01).passed      # 0.1 / 10 = 1e-2
    assert not update_ratio_check("w", weight, 2 * weight).passed     # 1
    assert not update_ratio_check("w", weight, weight).passed         # 0: not learning
    assert not update_ratio_check("w", weight, weight * float("nan")).passed
