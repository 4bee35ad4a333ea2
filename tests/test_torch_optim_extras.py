"""The torch engine's Adagrad (--optimizer adagrad) and max-norm constraint (--max-norm): the
rules as cs231n writes them, on one process, under autocast, and across data-parallel ranks."""

import numpy as np
import pytest
import torch
from helpers import interrupted_after_epochs, metrics_of, train_run
from safetensors.numpy import load_file
from test_distributed import TINY, finished, striate

from striate import dlt
from striate.checkpoint import load_weights
from striate.config import OptimConfig, TrainConfig
from striate.data.pipeline import prepare
from striate.torch.engine import build_learner
from striate.torch.learner import build_optimizer, constrain_max_norm, units_of_weights
from striate.torch.models import create_model

SMALL_LENET = {"filter_size": 3, "nkerns": [4, 8], "hidden": 16, "pool": 1}


def test_adagrad_is_cs231ns_rule_with_decay_on_weights_only():
    """cs231n's adagrad: cache += dw**2; w -= lr * dw / (sqrt(cache) + eps), the cache starting
    at 0, with --weight-decay added to the gradient of weights (never biases), as for SGD."""
    lr, eps, decay = 0.1, 1e-3, 0.01    # eps large enough that a wrong one shows
    model = create_model("logreg", (1, 2, 2), 3)          # output.weight (3, 4), bias (3,)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1, 1)
    optimizer = build_optimizer(model, OptimConfig(optimizer="adagrad", lr=lr, eps=eps,
                                                   weight_decay=decay))
    assert type(optimizer).__name__ == "Adagrad"
    assert optimizer.defaults["initial_accumulator_value"] == 0.0
    expected = {name: p.detach().double().numpy().copy() for name, p in model.named_parameters()}
    cache = {name: np.zeros_like(w) for name, w in expected.items()}
    rng = np.random.default_rng(0)
    for _ in range(3):
        for name, p in model.named_parameters():
            dw = rng.standard_normal(p.shape)
            p.grad = torch.from_numpy(dw).float()
            dw = dw + (decay * expected[name] if p.ndim > 1 else 0.0)
            cache[name] += dw ** 2
            expected[name] -= lr * dw / (np.sqrt(cache[name]) + eps)
        optimizer.step()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), expected[name], rtol=1e-5, atol=1e-7)


def unit_norms(weight: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """(units,) L2 norm of each unit's incoming weights, the units lying along `axis`."""
    return weight.movedim(axis, 0).flatten(1).norm(dim=1)


def lenet_after_one_step(precision: str, max_norm: float | None) -> dict[str, torch.Tensor]:
    """A small LeNet's state after one step on digits at a learning rate far too large."""
    config = TrainConfig()
    config.data.dataset, config.model.model = "digits", "lenet"
    config.model.model_args = SMALL_LENET
    config.optim.lr, config.optim.max_norm = 5.0, max_norm
    config.run.device, config.run.precision = "cpu", precision
    config = config.resolve()
    data = prepare(config.data, config.run.seed)
    learner = build_learner(config, data.inputs(), data.dataset.num_classes, data.preprocess)
    learner.start_epoch(0)
    learner.train_step(0, config.optim.lr)
    return learner.copy_state()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_max_norm_scales_back_only_the_units_beyond_it(precision):
    free = lenet_after_one_step(precision, max_norm=None)
    weights = [name for name, value in free.items() if value.ndim > 1]
    assert weights == ["features.conv1.conv.weight", "features.conv2.conv.weight",
                       "hidden.fc1.weight", "output.weight"]
    # A bound between the units' norms: some exceed it, and some do not.
    bound = torch.cat([unit_norms(free[name]) for name in weights]).median().item()
    bounded = lenet_after_one_step(precision, max_norm=bound)
    for name, value in free.items():
        if name not in weights:                   # biases: never constrained
            assert torch.equal(bounded[name], value), name
            continue
        assert bounded[name].dtype == torch.float32
        norms = unit_norms(value)
        inside = norms <= bound
        assert torch.equal(bounded[name][inside], value[inside]), name
        assert (unit_norms(bounded[name]) <= bound + 1e-6).all(), name
        # beyond the bound: the same direction, shortened to the bound
        scale = (bound / norms[~inside]).view(-1, *[1] * (value.ndim - 1))
        torch.testing.assert_close(bounded[name][~inside], value[~inside] * scale)
    clipped = sum(int((unit_norms(free[name]) > bound).sum()) for name in weights)
    assert 0 < clipped < sum(len(free[name]) for name in weights)


def test_the_tutorials_affine_units_are_columns_and_a_shared_w_counts_once():
    """striate.dlt keeps Theano's W (n_in, n_out): a unit's incoming weights are a column."""
    first = dlt.HiddenLayer(np.random.RandomState(0), n_in=6, n_out=4)
    shared = dlt.HiddenLayer(np.random.RandomState(1), n_in=6, n_out=4, W=first.W)
    model = torch.nn.Sequential(first, shared)
    units = units_of_weights(model)
    assert [(weight is first.W, axis) for weight, axis in units] == [(True, 1)]
    with torch.no_grad():
        first.W.mul_(10)
    constrain_max_norm(units, 1.0)
    torch.testing.assert_close(first.W.norm(dim=0), torch.ones(4))


def test_a_convolution_unit_is_a_filter():
    conv = torch.nn.Conv2d(2, 3, 3)                       # weight (3, 2, 3, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(54.0).view(3, 2, 3, 3) / 100)
    before = conv.weight.detach().clone()
    bound = unit_norms(before)[1].item()                  # filter 0 under it, filter 2 over
    constrain_max_norm(units_of_weights(conv), bound)
    assert torch.equal(conv.weight[:2], before[:2])
    torch.testing.assert_close(unit_norms(conv.weight)[2], torch.tensor(bound))


def test_two_ranks_constrain_as_one_process(tmp_path):
    """Each rank projects its own copy after the same averaged step: the ranks' weights stay
    those of one process, and within the bound."""
    bound = 0.6    # binds some of the tiny LeNet's units within two epochs
    args = ("train", *TINY, "--epochs", "2", "--max-norm", bound)
    single = striate(*args, "--name", "one", out_dir=tmp_path)
    double = striate(*args, "--name", "two", "--nproc", "2", out_dir=tmp_path)
    for process in (single, double):
        code, _, err = finished(process)
        assert code == 0, err
    one, two = (load_file(tmp_path / name / "model.safetensors") for name in ("one", "two"))
    at_bound = 0
    for name, weight in one.items():
        if weight.ndim > 1:
            norms = unit_norms(torch.from_numpy(weight))
            assert (norms <= bound + 1e-6).all(), name
            at_bound += int((norms > bound - 1e-5).sum())
        assert two[name] == pytest.approx(weight, rel=1e-4, abs=1e-6), name
    assert at_bound > 0


def test_an_adagrad_max_norm_hinge_run_resumes_bit_identically(cli, tmp_path):
    args = ("--dataset", "digits", "--model", "mlp", "--model-arg", "hidden=16",
            "--optimizer", "adagrad", "--lr", "0.05", "--max-norm", "0.5", "--loss", "hinge",
            "--epochs", "3", "--early-stopping", "none", "--progress", "off")
    whole = train_run(*args, "--out-dir", tmp_path / "a", "--name", "whole")
    with interrupted_after_epochs(1):
        assert cli("train", *args, "--out-dir", tmp_path / "b", "--name", "part").code == 130
    resumed = train_run("--resume", tmp_path / "b" / "part")
    assert metrics_of(resumed) == metrics_of(whole)
    hidden = torch.from_numpy(load_weights(whole)[0]["hidden.fc1.weight"])     # (16, 64)
    assert unit_norms(hidden).max().item() == pytest.approx(0.5)     # the bound is reached
    for name, array in load_weights(whole)[0].items():
        np.testing.assert_array_equal(load_weights(resumed)[0][name], array)
