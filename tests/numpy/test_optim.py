"""Update rules: hand-computed steps, and whole trajectories against torch.optim."""

import numpy as np
import pytest
import torch

from helpers import assert_matches_torch
from striate.numpy import optim


def test_sgd_step_by_hand():
    w, dw = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    next_w, config = optim.sgd(w, dw, {"learning_rate": 0.1})
    np.testing.assert_allclose(next_w, [0.95, -2.4])
    # coupled weight decay: the gradient becomes dw + 0.5 * w = [1.0, 3.0]
    next_w, _ = optim.sgd(w, dw, {"learning_rate": 0.1, "weight_decay": 0.5})
    np.testing.assert_allclose(next_w, [0.9, -2.3])


def test_sgd_momentum_steps_by_hand():
    w, dw = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    config = {"learning_rate": 0.1, "momentum": 0.5}
    w1, config = optim.sgd_momentum(w, dw, config)
    np.testing.assert_allclose(config["velocity"], [-0.05, -0.4])   # v = 0.5 * 0 - 0.1 * dw
    np.testing.assert_allclose(w1, [0.95, -2.4])
    w2, config = optim.sgd_momentum(w1, dw, config)
    np.testing.assert_allclose(config["velocity"], [-0.075, -0.6])  # v = 0.5 * v - 0.1 * dw
    np.testing.assert_allclose(w2, [0.875, -3.0])


def test_defaults_are_filled_in_and_state_is_kept_in_config():
    w = np.ones(3)
    _, config = optim.adam(w, w)
    assert config["learning_rate"] == 1e-3 and config["beta1"] == 0.9
    assert config["beta2"] == 0.999 and config["epsilon"] == 1e-8 and config["t"] == 1
    _, config = optim.rmsprop(w, w, {"learning_rate": 0.5})
    assert config["learning_rate"] == 0.5 and config["decay_rate"] == 0.99
    assert config["cache"].shape == (3,)
    _, config = optim.nesterov(w, w)
    assert config["momentum"] == 0.9 and config["velocity"].shape == (3,)


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop",
                                  "adam"])
def test_float32_stays_float32(rule):
    w = np.ones((2, 3), dtype=np.float32)
    config = None
    for _ in range(2):
        w, config = getattr(optim, rule)(w, w * 0.5, config)
    assert w.dtype == np.float32


def torch_optimizer(rule, param, config):
    lr, decay = config["learning_rate"], config.get("weight_decay", 0.0)
    if rule == "sgd":
        return torch.optim.SGD([param], lr=lr, weight_decay=decay)
    if rule in ("sgd_momentum", "nesterov"):
        return torch.optim.SGD([param], lr=lr, momentum=config["momentum"],
                               nesterov=rule == "nesterov", weight_decay=decay)
    if rule == "adagrad":
        return torch.optim.Adagrad([param], lr=lr, eps=config["epsilon"], weight_decay=decay)
    if rule == "rmsprop":
        return torch.optim.RMSprop([param], lr=lr, alpha=config["decay_rate"],
                                   eps=config["epsilon"], weight_decay=decay)
    betas = (config["beta1"], config["beta2"])
    if decay:
        return torch.optim.AdamW([param], lr=lr, betas=betas, eps=config["epsilon"],
                                 weight_decay=decay)
    return torch.optim.Adam([param], lr=lr, betas=betas, eps=config["epsilon"])


CONFIGS = {"sgd": {"learning_rate": 0.1},
           "sgd_momentum": {"learning_rate": 0.1, "momentum": 0.8},
           "nesterov": {"learning_rate": 0.1, "momentum": 0.8},
           "adagrad": {"learning_rate": 0.1, "epsilon": 1e-6},
           "rmsprop": {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-6},
           "adam": {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6}}


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("rule", sorted(CONFIGS))
def test_trajectory_equals_torch(rule, weight_decay):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3))
    gradients = [rng.standard_normal((4, 3)) for _ in range(6)]

    def trajectory(w):
        """The weights after each step of torch.optim's rule, from w (float64) on."""
        param = torch.nn.Parameter(w)
        optimizer = torch_optimizer(rule, param, dict(CONFIGS[rule], weight_decay=weight_decay))
        steps = []
        for dw in gradients:
            param.grad = torch.tensor(dw)
            optimizer.step()
            steps.append(param.detach().clone())
        return torch.stack(steps)                          # (steps, 4, 3)

    w, config, ours = w0, dict(CONFIGS[rule], weight_decay=weight_decay), []
    for dw in gradients:
        w, config = getattr(optim, rule)(w, dw, config)
        ours.append(w)
    assert_matches_torch((np.stack(ours), None), trajectory, [w0], rtol=1e-10, atol=1e-12)
