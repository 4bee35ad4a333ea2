"""The torch engine's training losses (--loss): cs231n's multiclass SVM loss and its squared
form against cs231n's own numbers, torch's multi_margin_loss and the NumPy engine's formulas;
what a hinge-trained run reports; and what `striate check` expects of each loss."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from striate.config import TrainConfig
from striate.data.pipeline import prepare
from striate.numpy import losses as numpy_losses
from striate.torch.engine import build_learner
from striate.torch.losses import data_loss, multiclass_hinge

# cs231n's lecture example: three images (cat, car, frog) scored for the classes (cat, car, frog).
LECTURE_SCORES = torch.tensor([[3.2, 5.1, -1.7],
                               [1.3, 4.9, 2.0],
                               [2.2, 2.5, -3.1]])
LECTURE_LABELS = torch.tensor([0, 1, 2])


def test_hinge_is_cs231ns_svm_loss_of_the_lecture_example():
    """cs231n: the images' losses are 2.9, 0 and 12.9 (= 6.3 + 6.6), their mean 5.27."""
    loss = multiclass_hinge(LECTURE_SCORES, LECTURE_LABELS)
    assert loss.item() == pytest.approx((2.9 + 0 + 12.9) / 3, abs=1e-5)


def test_squared_hinge_squares_each_margin_of_the_lecture_example():
    loss = multiclass_hinge(LECTURE_SCORES, LECTURE_LABELS, squared=True)
    assert loss.item() == pytest.approx((2.9 ** 2 + 6.3 ** 2 + 6.6 ** 2) / 3, abs=1e-4)


@pytest.mark.parametrize("loss, p, numpy_loss", [
    ("hinge", 1, numpy_losses.svm_loss),
    ("squared-hinge", 2, numpy_losses.squared_hinge_loss)])
def test_hinges_equal_c_times_multi_margin_loss_and_the_numpy_formula(loss, p, numpy_loss):
    """torch's multi_margin_loss divides each example's sum by the C classes; the NumPy engine's
    loss and its gradient by hand (dscores) are the same function as autograd's."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(6, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 5, (6,), generator=generator)
    value = data_loss(scores, labels, loss)
    value.backward()
    assert value.item() == pytest.approx(5 * F.multi_margin_loss(scores, labels, p=p).item())
    expected, dscores = numpy_loss(scores.detach().numpy(), labels.numpy())
    assert value.item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(scores.grad.numpy(), dscores, rtol=1e-12)


def test_cross_entropy_is_torchs_with_label_smoothing():
    value = data_loss(LECTURE_SCORES, LECTURE_LABELS, "cross-entropy", label_smoothing=0.1)
    expected = F.cross_entropy(LECTURE_SCORES, LECTURE_LABELS, label_smoothing=0.1)
    assert torch.equal(value, expected)


def digits_mlp(loss: str):
    config = TrainConfig()
    config.data.dataset, config.model.model = "digits", "mlp"
    config.model.model_args = {"hidden": [16]}
    config.optim.loss, config.run.device = loss, "cpu"
    config = config.resolve()
    data = prepare(config.data, config.run.seed)
    return build_learner(config, data.inputs(), data.dataset.num_classes, data.preprocess)


@pytest.mark.parametrize("loss, expected", [("cross-entropy", math.log(10)), ("hinge", 9.0),
                                            ("squared-hinge", 9.0)])
def test_a_step_returns_the_configured_loss(loss, expected):
    """The MLP's output layer starts at zero, so every score is 0: softmax's loss is ln(10),
    each of the 9 wrong classes violates the margin by exactly 1."""
    learner = digits_mlp(loss)
    learner.start_epoch(0)
    assert learner.train_step(0, 0.05).item() == pytest.approx(expected, rel=1e-6)


def test_a_hinge_trained_model_reports_the_cross_entropy_of_the_softmax_of_its_scores():
    learner = digits_mlp("hinge")
    learner.start_epoch(0)
    for batch in range(5):
        learner.train_step(batch, 0.05)
    loss, error = learner.evaluate("valid")
    valid = learner.splits["valid"]
    with torch.no_grad():
        scores = learner.model.eval()(valid.images)                  # (N, 10)
    assert loss == pytest.approx(F.cross_entropy(scores, valid.labels).item(), rel=1e-5)
    assert error == pytest.approx((scores.argmax(1) != valid.labels).float().mean().item())


def test_label_smoothing_with_a_hinge_loss_is_refused(cli, tmp_path):
    for command in ("train", "check"):
        result = cli(command, "--dataset", "digits", "--model", "logreg", "--loss", "hinge",
                     "--label-smoothing", "0.1", "--out-dir", tmp_path)
        assert result.code == 2
        assert result.err == ("striate: error: --label-smoothing smooths cross-entropy's "
                              "targets, and --loss hinge has none; drop --label-smoothing or "
                              "use --loss cross-entropy\n")
    assert not any(tmp_path.iterdir())


def check_rows(output: str) -> dict[str, list[str]]:
    """The report's rows by check name: {'initial loss': ['9.0000', 'C', ..., 'pass']}."""
    rows = (line.partition("  ") for line in output.splitlines()[1:])
    return {name.strip(): rest.split() for name, _, rest in rows}


@pytest.mark.parametrize("loss", ["hinge", "squared-hinge"])
def test_check_expects_c_minus_1_of_a_hinge_loss_and_its_gradients_pass(cli, loss):
    result = cli("check", "--dataset", "digits", "--model", "mlp", "--model-arg", "hidden=32",
                 "--loss", loss, "--lr", "0.01")
    assert result.code == 0, result.out + result.err
    rows = check_rows(result.out)
    assert rows["initial loss"] == ["9.0000", "C", "-", "1", "=", "9", "pass"]
    assert all(row[-1] == "pass" for row in rows.values()), result.out
