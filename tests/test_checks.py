"""`striate check` on both engines: sound set-ups pass, planted faults are caught, and the two
engines report the same table."""

import numpy as np
import pytest
import torch
from torch import nn

from striate.checks import unit_check, update_ratio_check
from striate.torch.hooks import unit_report

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
    if engine == "torch":  # the NumPy layers keep no hooks to watch their units with
        assert kinds & {"dead", "saturated"}


def test_both_engines_report_the_same_checks_of_a_shared_model(cli):
    """The same rows (the NumPy engine has no unit rows), the same header, and the same
    initial loss, computed from the same initial weights."""
    tables = {engine: cli(*DIGITS, *SMALL_MLP, "--engine", engine) for engine in ENGINES}
    assert all(result.code == 0 for result in tables.values())
    headers = {result.out.splitlines()[0] for result in tables.values()}
    assert len(headers) == 1 and headers.pop().split() == ["check", "result", "expected",
                                                           "verdict"]
    torch_rows, numpy_rows = (rows(tables[engine].out) for engine in ENGINES)
    assert [name for name in torch_rows if not name.startswith(("dead", "saturated"))] == \
        list(numpy_rows)
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


@pytest.mark.parametrize("activation, flagged", [("relu", "dead hidden.relu1"),
                                                 ("tanh", "saturated hidden.tanh1")])
def test_a_learning_rate_of_10_is_flagged(cli, activation, flagged):
    result = cli(*DIGITS, *SMALL_MLP, "--model-arg", f"activation={activation}", "--lr", "10")
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
    output = torch.rand(50, 20, 6, 6) + 0.1             # (N, channels, H, W), all active
    output[:, :3] = 0.0                                 # 3 of 20 channels never fire
    output[:, 5, 0, 0] = 0.0                            # one silent position is no dead unit
    check = unit_check(unit_report("conv", nn.ReLU(), output))
    assert check.value == "15% of 20 units" and not check.passed
    output[:, 1:3] = 1.0                                # one dead unit alone is chance
    assert unit_check(unit_report("conv", nn.ReLU(), output)).passed


def test_saturation_counts_units_saturated_for_most_inputs():
    output = torch.zeros(50, 10)                        # (N, units), tanh at 0: healthy
    output[:30, :2] = -0.999                            # two units saturated for 60% of inputs
    output[:20, 2:] = 0.999                             # the rest for only 40%
    check = unit_check(unit_report("fc", nn.Tanh(), output))
    assert check.value == "20% of 10 units" and not check.passed
    sigmoid = (output + 1) / 2                          # the same units through a sigmoid
    assert unit_check(unit_report("fc", nn.Sigmoid(), sigmoid)).value == "20% of 10 units"


def test_update_ratio_band():
    weight = np.ones((10, 10), np.float32)              # ||W|| = 10
    assert update_ratio_check("w", weight, weight + 0.01).passed      # 0.1 / 10 = 1e-2
    assert not update_ratio_check("w", weight, 2 * weight).passed     # 1
    assert not update_ratio_check("w", weight, weight).passed         # 0: not learning
    assert not update_ratio_check("w", weight, weight * float("nan")).passed
