"""striate.torch.sgd: torch.optim.SGD's arithmetic (dampening 0) to the bit, without importing
torch._dynamo, and a state that resumes exactly."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from striate.checkpoint import load_state, map_arrays, save_state
from striate.torch.sgd import SGD

RULES = {"sgd": {"momentum": 0.0, "nesterov": False},
         "momentum": {"momentum": 0.9, "nesterov": False},
         "nesterov": {"momentum": 0.9, "nesterov": True}}


SHAPES = [(4, 3), (5, 2, 3), (4,), (5,)]   # two weights, then two biases


def two_groups(seed: int) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(shape, generator=generator)) for shape in SHAPES]


def groups_of(params, decay: float) -> list[dict]:
    """Weights decayed, biases not, as build_optimizer groups them."""
    return [{"params": params[:2], "weight_decay": decay},
            {"params": params[2:], "weight_decay": 0.0}]


def gradients(steps: int) -> list[list[torch.Tensor | None]]:
    """Per step, a gradient per parameter; the third parameter has none on the first step (a
    layer unused at first): its velocity must start from its own first gradient."""
    generator = torch.Generator().manual_seed(1)
    return [[None if (step == 0 and i == 2) else torch.randn(shape, generator=generator)
             for i, shape in enumerate(SHAPES)] for step in range(steps)]


def train(optimizer, params, grads, lrs) -> None:
    for step_grads, lr in zip(grads, lrs):
        optimizer.zero_grad(set_to_none=True)
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.clone()
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("decay", [0.0, 5e-4])
def test_every_step_equals_torch_optim_sgd_to_the_bit(rule, decay):
    ours, theirs = two_groups(0), two_groups(0)
    grads, lrs = gradients(6), [0.05, 0.2, 0.2, 0.1, 0.01, 0.3]
    train(SGD(groups_of(ours, decay), lr=0.1, **RULES[rule]), ours, grads, lrs)
    train(torch.optim.SGD(groups_of(theirs, decay), lr=0.1, foreach=True, **RULES[rule]),
          theirs, grads, lrs)
    for mine, reference in zip(ours, theirs):
        assert torch.equal(mine, reference)
    assert not torch.equal(ours[0], two_groups(0)[0])   # it did train


def test_a_resumed_optimizer_continues_exactly():
    grads, lrs = gradients(6), [0.1] * 6
    whole = two_groups(0)
    train(SGD(groups_of(whole, 1e-3), lr=0.1, **RULES["nesterov"]), whole, grads, lrs)
    params = two_groups(0)
    first = SGD(groups_of(params, 1e-3), lr=0.1, **RULES["nesterov"])
    train(first, params, grads[:3], lrs[:3])
    saved = {name: {key: value.clone() for key, value in part.items()} if name == "velocity"
             else list(part) for name, part in first.state_dict().items()}
    second = SGD(groups_of(params, 1e-3), lr=0.1, **RULES["nesterov"])
    second.load_state_dict(saved)
    train(second, params, grads[3:], lrs[3:])
    for resumed, straight in zip(params, whole):
        assert torch.equal(resumed, straight)


@pytest.mark.parametrize("rule", RULES)
def test_a_state_written_by_torch_optim_sgd_resumes_exactly(rule, tmp_path):
    """Runs of striate versions that trained with torch.optim.SGD: their train state, through
    the safetensors state file as a run writes it, continues in SGD as if nothing changed."""
    grads, lrs = gradients(6), [0.1, 0.2, 0.2, 0.1, 0.05, 0.01]
    whole = two_groups(0)
    train(SGD(groups_of(whole, 1e-3), lr=0.1, **RULES[rule]), whole, grads, lrs)
    params = two_groups(0)
    first = torch.optim.SGD(groups_of(params, 1e-3), lr=0.1, foreach=True, **RULES[rule])
    train(first, params, grads[:3], lrs[:3])
    save_state(tmp_path / "state.safetensors",
               map_arrays(first.state_dict(), torch.Tensor, lambda t: t.numpy().copy()))
    loaded = map_arrays(load_state(tmp_path / "state.safetensors"), np.ndarray, torch.from_numpy)
    second = SGD(groups_of(params, 1e-3), lr=0.1, **RULES[rule])
    second.load_state_dict(loaded)
    assert [group["lr"] for group in second.param_groups] == [0.2, 0.2]
    train(second, params, grads[3:], lrs[3:])
    for resumed, straight in zip(params, whole):
        assert torch.equal(resumed, straight)


def test_torch_optim_entries_without_a_momentum_buffer_start_afresh():
    """torch.optim.SGD keeps {"momentum_buffer": None} for parameters it stepped without
    momentum; they get no velocity, the others theirs."""
    params = two_groups(0)
    optimizer = SGD(groups_of(params, 0.0), lr=0.1, momentum=0.9)
    buffer = torch.full((4, 3), 0.5)
    optimizer.load_state_dict({
        "state": {0: {"momentum_buffer": buffer}, 1: {"momentum_buffer": None}},
        "param_groups": [{"lr": 0.3, "params": [0, 1], "dampening": 0},
                         {"lr": 0.3, "params": [2, 3], "dampening": 0}]})
    assert list(optimizer.velocity) == [0] and torch.equal(optimizer.velocity[0], buffer)


@pytest.mark.parametrize("groups", [
    [{"lr": 0.1, "params": [0, 1, 2], "dampening": 0}, {"lr": 0.1, "params": [3], "dampening": 0}],
    [{"lr": 0.1, "params": [0, 1], "dampening": 0.5}, {"lr": 0.1, "params": [2, 3],
                                                        "dampening": 0.5}]])
def test_a_torch_optim_state_of_other_groups_or_dampening_is_refused(groups):
    optimizer = SGD(groups_of(two_groups(0), 0.0), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="other parameters or rules"):
        optimizer.load_state_dict({"state": {}, "param_groups": groups})


def test_a_state_for_other_parameters_is_refused():
    params = two_groups(0)
    optimizer = SGD(groups_of(params, 0.0), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="other parameters"):
        optimizer.load_state_dict({"velocity": {"0": torch.zeros(3, 4)}, "lr": [0.1, 0.1]})
    with pytest.raises(ValueError, match="other parameters"):
        optimizer.load_state_dict({"velocity": {"7": torch.zeros(4)}, "lr": [0.1, 0.1]})


def test_nesterov_without_momentum_is_refused():
    with pytest.raises(ValueError, match="momentum > 0"):
        SGD(groups_of(two_groups(0), 0.0), lr=0.1, momentum=0.0, nesterov=True)


def test_training_with_the_sgd_family_never_imports_dynamo(tmp_path):
    """What the optimizer is for: a run of the SGD family leaves torch._dynamo unimported
    (a second of start-up on this project's CPU); Adam, through torch.optim, imports it."""
    script = ("import sys, striate\n"
              "for optimizer in sys.argv[1:]:\n"
              "    striate.train('logreg', 'digits', run_dir=None, epochs=1, "
              "optimizer=optimizer, progress='off')\n"
              "    print(optimizer, 'torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script, "sgd", "momentum", "nesterov", "adam"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["sgd", "False", "momentum", "False", "nesterov", "False", "adam", "True"]
