"""striate as a library: train on arrays, a folder, a module of one's own; use and load the
result; the same run directory as the CLI's, which the CLI then reads."""

import dataclasses
import json

import numpy as np
import pytest
import torch

import striate
from helpers import resave, tree_snapshot
from own_models import Softmax, TinyNet
from striate.config import TrainConfig, section_fields
from striate.recipes import recipe_config

QUIET = {"progress": "off"}


@pytest.fixture(scope="module")
def digits():
    return striate.load_dataset("digits")


@pytest.fixture(scope="module")
def trained_mlp(digits, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("api") / "mlp"
    return striate.train("mlp", digits, epochs=3, run_dir=run_dir, model_args={"hidden": [32]},
                         **QUIET)


def test_the_public_names_are_importable_from_striate():
    assert {"train", "load", "Trained", "load_dataset", "Dataset", "TrainConfig",
            "StriateError", "describe_models"} <= set(dir(striate))
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        striate.trian


def test_train_returns_the_model_its_figures_and_where_it_wrote(trained_mlp, digits):
    assert isinstance(trained_mlp.model, torch.nn.Module)
    assert trained_mlp.run_dir.name == "mlp"
    assert trained_mlp.metrics == json.loads((trained_mlp.run_dir / "metrics.json").read_text())
    assert [row["epoch"] for row in trained_mlp.history] == [1, 2, 3]
    result = trained_mlp.evaluate(digits)
    assert result["error"] == trained_mlp.metrics["test_error"]
    assert result["loss"] == pytest.approx(trained_mlp.metrics["test_loss"], rel=1e-6)


def test_predict_gives_probabilities_that_agree_with_evaluate(trained_mlp, digits):
    probabilities = trained_mlp.predict(digits.test.images)              # (N, 10)
    assert probabilities.shape == (len(digits.test), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    error = np.mean(probabilities.argmax(axis=1) != digits.test.labels)
    assert error == trained_mlp.metrics["test_error"]
    as_tensor = trained_mlp.predict(torch.from_numpy(digits.test.images[:, 0]))   # (N, H, W)
    np.testing.assert_array_equal(as_tensor, probabilities)


def test_load_gives_back_the_same_trained_model(trained_mlp, digits):
    loaded = striate.load(trained_mlp.run_dir)
    np.testing.assert_allclose(loaded.predict(digits.test.images[:50]),
                               trained_mlp.predict(digits.test.images[:50]), rtol=1e-6)
    assert loaded.metrics == trained_mlp.metrics and loaded.history == trained_mlp.history
    assert loaded.config == trained_mlp.config
    assert striate.load(trained_mlp.run_dir / "model.safetensors").run_dir is None


def test_the_cli_reads_a_run_trained_in_python(trained_mlp, cli):
    result = cli("evaluate", trained_mlp.run_dir)
    assert result.code == 0, result.err
    assert f"accuracy {trained_mlp.metrics['test_accuracy']:.2%}" in result.out


def test_run_dir_none_writes_nothing(digits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained = striate.train("logreg", digits, epochs=2, run_dir=None, **QUIET)
    assert trained.run_dir is None and len(trained.history) == 2
    assert tree_snapshot(tmp_path) == {}
    assert trained.evaluate(digits)["error"] == trained.metrics["test_error"]


def test_arrays_in_memory_train_and_cannot_be_reloaded_by_the_cli(cli, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (500, 8, 8), dtype=np.uint8)
    y = (x[:, :4].mean(axis=(1, 2)) > x[:, 4:].mean(axis=(1, 2))).astype(np.int64)  # brighter top?
    data = striate.Dataset.from_arrays(torch.from_numpy(x), y, class_names=["bottom", "top"])
    trained = striate.train("logreg", data, epochs=20, run_dir=tmp_path / "arrays", lr=0.1,
                            **QUIET)
    assert trained.class_names == ["bottom", "top"]
    assert trained.metrics["test_accuracy"] > 0.8
    refused = cli("evaluate", tmp_path / "arrays")
    assert refused.code == 2 and "striate.load(RUN).evaluate(data)" in refused.err


def test_a_module_of_ones_own_trains_and_the_cli_rebuilds_it(digits, cli, tmp_path):
    trained = striate.train(TinyNet((1, 8, 8), 10, width=24), digits, epochs=2,
                            model_args={"width": 24}, run_dir=tmp_path / "own", **QUIET)
    assert trained.config.model.model == "own_models:TinyNet"
    refused = cli("evaluate", tmp_path / "own")
    assert refused.code == 2 and "--trust-model-code" in refused.err
    result = cli("evaluate", tmp_path / "own", "--trust-model-code")
    assert result.code == 0, result.err
    assert f"accuracy {trained.metrics['test_accuracy']:.2%}" in result.out
    with pytest.raises(striate.StriateError, match="trust_model_code=True"):
        striate.load(tmp_path / "own")
    loaded = striate.load(tmp_path / "own", trust_model_code=True)
    assert isinstance(loaded.model, TinyNet)


def test_the_cli_trains_a_class_by_its_import_path(cli, tmp_path):
    result = cli("train", "--model", "own_models:TinyNet", "--model-arg", "width=8",
                 "--dataset", "digits", "--epochs", "1", "--out-dir", tmp_path, "--name", "cls",
                 "--progress", "off")
    assert result.code == 0, result.err
    config = striate.load(tmp_path / "cls", trust_model_code=True).config
    assert (config.model.model, config.model.model_args) == ("own_models:TinyNet", {"width": 8})


@pytest.mark.parametrize("model, message", [
    ("own_models:NotAModel", "NotAModel is not a torch nn.Module"),
    ("own_models:Softmax", "Softmax is not a torch nn.Module"),
    ("own_models:Nothing", "own_models has no Nothing"),
    ("no_such_module:Net", "cannot import no_such_module"),
    # tried on two training inputs before the run directory exists
    ("own_models:WrongWidth", "gives (3,) outputs per image, the data has 10 classes"),
    ("own_models:NoParameters", "fails on the data's (1, 8, 8) inputs: StopIteration"),
])
def test_a_bad_model_of_ones_own_is_one_line(cli, tmp_path, model, message):
    result = cli("train", "--model", model, "--dataset", "digits", "--out-dir", tmp_path)
    assert result.code == 2 and message in result.err and result.err.count("\n") == 1
    assert tree_snapshot(tmp_path) == {}


def test_a_numpy_model_of_ones_own_trains_on_the_numpy_engine(digits):
    trained = striate.train(Softmax((1, 8, 8), 10), digits, engine="numpy", epochs=5, lr=0.5,
                            run_dir=None, **QUIET)
    assert trained.metrics["test_accuracy"] > 0.85
    assert trained.evaluate(digits)["error"] == trained.metrics["test_error"]


def test_the_numpy_engine_trains_a_named_model(digits):
    trained = striate.train("convnet3", digits, engine="numpy", epochs=2, run_dir=None,
                            model_args={"num_filters": 4, "filter_size": 3, "hidden_dim": 16},
                            **QUIET)
    assert trained.engine.__name__ == "striate.numpy.engine"
    assert trained.evaluate(digits)["error"] == trained.metrics["test_error"]


def test_a_callback_sees_every_row_and_can_stop(digits):
    rows = []

    def enough(row):
        rows.append(row)
        return row["epoch"] == 2

    trained = striate.train("logreg", digits, epochs=10, run_dir=None, callbacks=[enough],
                            **QUIET)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert set(rows[0]) == set(trained.history[0])                      # metrics.csv's fields
    assert trained.metrics["stopped_by"] == "callback" and trained.metrics["epochs"] == 2


def test_every_training_option_of_the_cli_is_a_keyword_with_its_default(digits):
    """The same names and defaults: passing each field its own default changes nothing."""
    defaults = {leaf.name: getattr(getattr(TrainConfig(), section), leaf.name)
                for section, leaf in section_fields() if leaf.name not in ("model", "dataset")}
    explicit = striate.train("logreg", digits, run_dir=None, **{**defaults, "epochs": 1,
                                                                  **QUIET})
    implicit = striate.train("logreg", digits, run_dir=None, epochs=1, **QUIET)
    assert explicit.config == implicit.config
    assert explicit.metrics == implicit.metrics


@pytest.mark.parametrize("options, message", [
    ({"lrr": 0.1}, "striate.train() has no option 'lrr' (did you mean lr?)"),
    ({"lr": "fast"}, "lr must be float, got 'fast'"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of sgd, momentum"),
    ({"dataset": "mnist"}, "striate.train() has no option 'dataset'"),
])
def test_a_bad_keyword_is_one_line_naming_it(digits, options, message):
    with pytest.raises(striate.StriateError) as refused:
        striate.train("logreg", digits, run_dir=None, **options)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_recipe_applies_and_keywords_override_it(digits):
    trained = striate.train("mlp", digits, recipe="dlt-mlp", epochs=1, run_dir=None,
                            model_args={"hidden": [16]}, **QUIET)
    recipe = recipe_config("dlt-mlp")
    assert trained.config.optim == dataclasses.replace(recipe.optim,
                                                       batch_size=trained.config.optim.batch_size)
    assert trained.config.stop.epochs == 1


def test_the_tutorials_classes_train_with_striate(digits):
    from striate import dlt

    mlp = dlt.MLP(np.random.RandomState(1234), n_in=64, n_hidden=50, n_out=10)
    trained = striate.train(mlp, digits, epochs=5, lr=0.1, run_dir=None, **QUIET)
    assert trained.model is mlp
    assert trained.metrics["test_accuracy"] > 0.8


def test_the_tutorials_classes_are_rebuilt_from_their_run(digits, cli, tmp_path):
    """striate's own classes need no trust; their hparams rebuild them (the tutorial's seed)."""
    from striate import dlt

    mlp = dlt.MLP(np.random.RandomState(1234), n_in=64, n_hidden=20, n_out=10,
                  activation="sigmoid")
    trained = striate.train(mlp, digits, epochs=2, lr=0.1, run_dir=tmp_path / "dlt", **QUIET)
    assert trained.config.model.model_args == {"rng": None, "n_in": 64, "n_hidden": 20,
                                               "n_out": 10, "activation": "sigmoid"}
    loaded = striate.load(tmp_path / "dlt")
    assert isinstance(loaded.model, dlt.MLP)
    assert loaded.model.hiddenLayer.activation is torch.sigmoid
    np.testing.assert_allclose(loaded.predict(digits.test.images[:20]),
                               trained.predict(digits.test.images[:20]), rtol=1e-6)
    assert cli("evaluate", tmp_path / "dlt").code == 0


def test_load_puts_the_weights_into_a_model_one_built(digits, tmp_path):
    own = TinyNet((1, 8, 8), 10, width=12)
    trained = striate.train(own, digits, epochs=1, run_dir=tmp_path / "own", **QUIET)
    fresh = TinyNet((1, 8, 8), 10, width=12)
    loaded = striate.load(tmp_path / "own", model=fresh)
    assert loaded.model is fresh
    np.testing.assert_allclose(loaded.predict(digits.test.images[:20]),
                               trained.predict(digits.test.images[:20]), rtol=1e-6)
    with pytest.raises(striate.StriateError, match="does not hold weights for this"):
        striate.load(tmp_path / "own", model=TinyNet((1, 8, 8), 10, width=5))


def test_check_and_find_lr_take_the_same_arguments_as_train(digits):
    checks = striate.check("mlp", digits, model_args={"hidden": [32], "activation": "relu"},
                           engine="numpy")
    assert all(check.passed for check in checks)
    assert checks[0].name == "initial loss" and checks[0].value == "2.3026"
    sweep = striate.find_lr("mlp", digits, steps=40, start_lr=1e-5, progress="off")
    assert sweep.stopped_by == "divergence" and 1e-5 <= sweep.suggestion() < sweep.lrs[-1]
    with pytest.raises(striate.StriateError, match="--start-lr 1 must be below --end-lr 0.1"):
        striate.find_lr("mlp", digits, start_lr=1, end_lr=0.1)


def test_a_run_from_elsewhere_cannot_reach_past_the_tutorials_classes(trained_mlp, tmp_path):
    """striate.dlt's classes load without trust; nothing else reachable from that module does,
    so a crafted checkpoint cannot have numpy write a file through np.memmap."""
    victim = tmp_path / "victim.txt"
    victim.write_text("kept")
    crafted = resave(trained_mlp.run_dir, tmp_path / "crafted.safetensors", lambda _, meta: meta.update(
        model="striate.dlt:np.memmap",
        model_args={"filename": str(victim), "mode": "w+", "shape": [16]}))
    with pytest.raises(striate.StriateError, match="--trust-model-code"):
        striate.load(crafted)
    assert victim.read_text() == "kept"


def test_a_recipe_gives_its_model_and_data_when_train_is_given_none(digits):
    trained = striate.train(data=digits, recipe="dlt-mlp", epochs=1, run_dir=None,
                            model_args={"hidden": [8]}, **QUIET)
    assert trained.config.model.model == recipe_config("dlt-mlp").model.model == "mlp"


def test_a_folder_trained_in_python_is_read_again_by_the_cli(digits, cli, tmp_path):
    from PIL import Image

    for index, (image, label) in enumerate(zip(digits.train.images[:200],
                                               digits.train.labels[:200])):
        (tmp_path / "photos" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((image[0] * 15).astype(np.uint8)).save(
            tmp_path / "photos" / str(label) / f"{index}.png")
    data = striate.Dataset.from_folder(tmp_path / "photos")
    trained = striate.train("mlp", data, epochs=3, run_dir=tmp_path / "run", **QUIET)
    assert (trained.config.data.dataset, trained.config.data.data_dir) == (
        "folder", str(tmp_path / "photos"))
    result = cli("evaluate", tmp_path / "run")
    assert result.code == 0, result.err
    assert f"accuracy {trained.metrics['test_accuracy']:.2%}" in result.out


@pytest.mark.parametrize("call, message", [
    (lambda data: striate.train("logreg", 42), "data must be a Dataset or a data set's name"),
    (lambda data: striate.train("logreg", data, callbacks=print), "callbacks must be a list"),
    (lambda data: striate.train("logreg", data, callbacks=[1]), "callbacks must be a list"),
    (lambda data: striate.train("logreg", data, run_dir=5), "run_dir must be a path"),
    (lambda data: striate.train("logreg", data, nproc=2), "nproc > 1 launches processes"),
    (lambda data: striate.train("own_models:TinyNet", data, model_args={"seed": 1}),
     "--model-arg seed names what striate passes to every model itself"),
    (lambda data: striate.load(5), "path must be a run directory or checkpoint file"),
    (lambda data: striate.train("logreg", striate.Dataset.from_arrays(
        data.train.images, data.train.labels, name="mnist")), "the name of a built-in"),
])
def test_bad_arguments_are_one_line(digits, tmp_path, monkeypatch, call, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(striate.StriateError) as refused:
        call(digits)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert tree_snapshot(tmp_path) == {}


def test_predict_and_evaluate_refuse_data_of_another_scale_or_classes(trained_mlp, digits):
    with pytest.raises(striate.StriateError, match="white was 16 in the training data"):
        trained_mlp.predict(digits.test.images.astype(np.float32) * 16)
    other = striate.Dataset.from_arrays(digits.train.images, digits.train.labels % 5)
    with pytest.raises(striate.StriateError, match="evaluate it on the data it was trained on"):
        trained_mlp.evaluate(other)
    with pytest.raises(striate.StriateError, match="the torch engine takes a torch nn.Module"):
        striate.load(trained_mlp.run_dir, model=Softmax((1, 8, 8), 10))


def test_a_run_a_callback_stopped_stays_stopped_on_resume(digits, cli, tmp_path):
    trained = striate.train("logreg", digits, epochs=10, run_dir=tmp_path / "stopped",
                            callbacks=[lambda row: row["epoch"] == 2], **QUIET)
    assert trained.metrics["epochs"] == 2
    assert cli("train", "--resume", tmp_path / "stopped").code == 0
    assert json.loads((tmp_path / "stopped" / "metrics.json").read_text()) == trained.metrics
