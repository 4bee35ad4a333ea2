"""Search spaces: the spec syntax, the grid it makes, and the values it refuses before training."""

import math

import pytest

from striate.config import TrainConfig
from striate.errors import StriateError
from striate.tune.space import apply_params, grid_points, parse_param, parse_space


def test_values_and_choice_are_the_same_spec():
    listed, chosen = parse_param("optimizer", "[sgd, adam]"), parse_param("optimizer",
                                                                          "choice(sgd, adam)")
    assert listed == chosen and listed.values == ("sgd", "adam")
    # YAML alone would read 1e-3 as a string; a value written as a number is a number
    assert parse_param("lr", "[1e-3, 0.01]").values == (0.001, 0.01)
    # model options may be lists: they are values too, not a flattened list
    assert parse_param("model_args.hidden", "choice([100], [300, 100])").values == (
        [100], [300, 100])


def test_ranges():
    lr = parse_param("lr", "loguniform(1e-4, 1e-1)")
    assert (lr.kind, lr.low, lr.high, lr.log) == (float, 1e-4, 0.1, True)
    batch = parse_param("batch_size", "logint(16, 256)")
    assert (batch.kind, batch.low, batch.high, batch.log) == (int, 16, 256, True)
    assert parse_param("momentum", "uniform(0, 0.99)").log is False


def test_grid_spacing():
    """A log range gives log-spaced points, as the tutorials advise for lr and penalties."""
    assert parse_param("lr", "loguniform(1e-4, 1e-1)").grid(4) == [1e-4, 1e-3, 1e-2, 1e-1]
    assert parse_param("momentum", "uniform(0, 0.9)").grid(4) == pytest.approx([0, .3, .6, .9])
    assert parse_param("batch_size", "logint(16, 128)").grid(4) == [16, 32, 64, 128]
    points = parse_param("lr", "loguniform(1e-5, 1)").grid(6)
    assert all(math.isclose(b / a, 10.0) for a, b in zip(points, points[1:]))


def test_grid_is_every_combination_once():
    space = {name: parse_param(name, spec) for name, spec in
             (("lr", "loguniform(1e-3, 1e-1)"), ("optimizer", "[sgd, adam]"))}
    points = grid_points(space, 3)
    assert len(points) == 6
    assert {(p["lr"], p["optimizer"]) for p in points} == {
        (lr, opt) for lr in (1e-3, 1e-2, 1e-1) for opt in ("sgd", "adam")}


def test_space_file_and_flags(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("lr: loguniform(1e-4, 1e-1)\nweight_decay: [0, 1e-4]\n")
    space = parse_space(str(path), ["weight_decay=[0.001]", "model_args.hidden=[[50], [100]]"])
    assert list(space) == ["lr", "weight_decay", "model_args.hidden"]
    assert space["weight_decay"].values == (0.001,)  # the flag overrides the file


def test_apply_params_sets_options_and_model_args():
    base = TrainConfig()
    base.model.model_args = {"activation": "relu"}
    config = apply_params(base, {"lr": 0.3, "model_args.hidden": [7]}, "trial 0")
    assert config.optim.lr == 0.3
    assert config.model.model_args == {"activation": "relu", "hidden": [7]}
    assert base.optim.lr == 0.05 and base.model.model_args == {"activation": "relu"}


@pytest.mark.parametrize("name, spec, message", [
    ("learning_rate", "[0.1]", "unknown option 'learning_rate'; searchable: preprocess,"),
    ("seed", "[1, 2]", "unknown option 'seed'"),
    ("lr", "gaussian(0, 1)", "unknown function gaussian()"),
    ("lr", "loguniform(0, 1)", "needs LOW < HIGH and LOW > 0"),
    ("lr", "uniform(1, 0.1)", "needs LOW < HIGH"),
    ("batch_size", "uniform(16, 256)", "--batch-size takes whole numbers; use int()"),
    ("epochs", "int(1.5, 3)", "int() takes whole numbers"),
    ("optimizer", "uniform(0, 1)", "--optimizer is not a number; list its values"),
    ("lr", "0.1", "expected values [a, b] or a range"),
    ("lr", "[0.1, 0.1]", "repeat; list each once"),
    ("lr", "[]", "give at least one value"),
    ("lr", "uniform(1)", "uniform() takes two numbers"),
])
def test_bad_specs_are_refused(name, spec, message):
    with pytest.raises(StriateError) as error:
        parse_param(name, spec)
    assert message in str(error.value)


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(StriateError) as error:
        parse_param("learning_rate", "[0.1]")
    assert all(f" {name}," in str(error.value) for name in ("lr", "weight_decay", "epochs"))
    assert str(error.value).endswith("or model_args.KEY")
