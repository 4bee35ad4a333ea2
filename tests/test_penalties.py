"""L1/L2 penalties: the gradient is lambda_1 * sign(W) + 2 * lambda_2 * W on weights, 0 on biases."""

import torch

from striate.config import OptimConfig
from striate.torch.learner import build_optimizer, penalty
from striate.torch.models import create_model


def test_penalty_gradients_match_the_closed_form():
    torch.manual_seed(0)
    model = create_model("mlp", (1, 4, 4), 3, hidden=[5])
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()   # output layer starts at zero; make every weight non-zero
    l1, l2 = 0.3, 0.05
    penalty(model, l1, l2).backward()
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert p.grad is None or torch.count_nonzero(p.grad) == 0, name
        else:
            expected = l1 * torch.sign(p.detach()) + 2 * l2 * p.detach()
            torch.testing.assert_close(p.grad, expected)


def test_penalty_value_is_the_tutorials_sums():
    model = create_model("logreg", (1, 2, 2), 2)
    with torch.no_grad():
        model.output.weight.copy_(torch.tensor([[1.0, -2.0, 0.0, 3.0], [0.5, 0.0, 0.0, -1.0]]))
        model.output.bias.fill_(100.0)   # biases are not penalised
    value = penalty(model, 0.1, 0.01).item()
    assert abs(value - (0.1 * 7.5 + 0.01 * 15.25)) < 1e-6


def test_weight_decay_applies_to_weights_only():
    model = create_model("mlp", (1, 2, 2), 2, hidden=[3])
    optimizer = build_optimizer(model, OptimConfig(optimizer="sgd", weight_decay=0.1))
    decays = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    for name, p in model.named_parameters():
        assert decays[id(p)] == (0.0 if name.endswith("bias") else 0.1), name


def test_update_rules_are_the_named_ones():
    model = create_model("logreg", (1, 2, 2), 2)
    kinds = {name: type(build_optimizer(model, OptimConfig(optimizer=name))).__name__
             for name in ("sgd", "momentum", "nesterov", "rmsprop", "adam")}
    assert kinds == {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD",
                     "rmsprop": "RMSprop", "adam": "AdamW"}
    nesterov = build_optimizer(model, OptimConfig(optimizer="nesterov", momentum=0.8))
    assert nesterov.nesterov and nesterov.momentum == 0.8
    momentum = build_optimizer(model, OptimConfig(optimizer="momentum", momentum=0.8))
    assert not momentum.nesterov and momentum.momentum == 0.8
    assert build_optimizer(model, OptimConfig(optimizer="sgd")).momentum == 0.0
