"""Training with each input transform, and the transform travelling in the checkpoint.

`striate evaluate` and `striate predict` rebuild the transform from the checkpoint alone, so a
checkpoint that evaluates to its run's recorded test accuracy carries exactly the transform the
model was trained with.
"""

import numpy as np
import pytest
from helpers import csv_column, metrics_of, train_run, tree_snapshot
from PIL import Image

from striate.checkpoint import load_weights, model_input_shape, read_checkpoint
from striate.config import TrainConfig
from striate.data import Preprocess, load_dataset
from striate.inference import evaluate, load_predictor
from striate.data.pipeline import split

BASE = ("--dataset", "digits", "--epochs", "2", "--progress", "off", "--device", "cpu")
QUICK = (*BASE, "--model", "mlp", "--model-arg", "hidden=32")
D = 64  # values in a digits image (1 x 8 x 8)
KINDS = {  # --preprocess: (extra flags, the preprocess.* tensors and their shapes)
    "scalar-mean": ((), {"mean": (1,)}),
    "mean-image": ((), {"mean": (D,)}),
    "per-feature": ((), {"mean": (D,), "std": (D,)}),
    "zca": ((), {"mean": (D,), "matrix": (D, D)}),
    "pca-whiten": (("--pca-components", "20"), {"mean": (D,), "matrix": (D, 20)}),
    "pca": (("--pca-components", "20"), {"mean": (D,), "matrix": (D, 20)}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("runs")
    return {kind: train_run(*QUICK, "--preprocess", kind, *flags, "--out-dir", out_dir,
                            "--name", kind)
            for kind, (flags, _) in KINDS.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_each_transform_trains_and_is_stored_with_the_weights(runs, kind):
    run = runs[kind]
    assert metrics_of(run)["test_accuracy"] > 0.6
    tensors, meta = read_checkpoint(run, preprocessing=True)
    expected = KINDS[kind][1]
    assert {name: array.shape for name, array in tensors.items()} == \
        {name: shape for name, shape in expected.items()}
    assert meta["preprocess"]["kind"] == kind and meta["input_shape"] == [1, 8, 8]
    weights = load_weights(run)[0]
    assert not any(name.startswith("preprocess.") for name in weights)
    # What is stored is the transform fitted on this run's training split.
    config = TrainConfig()
    config.data.dataset = "digits"
    dataset = load_dataset("digits")
    train = split(dataset, config.data, config.run.seed)["train"]
    components = 20 if "pca" in kind else None
    fitted = Preprocess.fit(kind, train.images, dataset.pixel_max, components)
    for name, array in fitted.tensors.items():
        np.testing.assert_array_equal(tensors[name], array)
    # PCA feeds the network k scores, not an image.
    k = (20, 1, 1) if "pca" in kind else (1, 8, 8)
    assert model_input_shape(meta) == k
    assert weights["hidden.fc1.weight"].shape == (32, int(np.prod(k)))


@pytest.mark.parametrize("kind", KINDS)
def test_evaluate_reproduces_the_recorded_test_accuracy(runs, cli, kind):
    run = runs[kind]
    metrics = metrics_of(run)
    result = evaluate(run, "test", device="cpu")
    assert result["accuracy"] == metrics["test_accuracy"]
    assert result["loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)
    printed = cli("evaluate", run, "--device", "cpu")
    assert printed.code == 0, printed.err
    assert f"accuracy {metrics['test_accuracy']:.2%}" in printed.out


def test_predict_applies_the_stored_zca_to_image_files(runs, cli, tmp_path):
    run = runs["zca"]
    test = load_dataset("digits").test
    count = 8
    paths = []
    for k in range(count):
        pixels = (test.images[k, 0].astype(np.float32) * 255 / 16).round().astype(np.uint8)
        paths.append(tmp_path / f"digit{k}.png")
        Image.fromarray(pixels, mode="L").save(paths[-1])
    result = cli("predict", run, *paths, "--device", "cpu")
    assert result.code == 0, result.err
    rows = [line.split("\t") for line in result.out.splitlines()]
    assert [row[0] for row in rows] == [str(p) for p in paths]
    # The files hold the test images to 1/255 (rounding): the same predictions as from the data.
    log_proba, meta, preprocess = load_predictor(run, None, "cpu")
    expected = np.exp(log_proba(preprocess.apply(test.images[:count], 16.0)))  # (count, 10)
    assert [row[1] for row in rows] == [meta["class_names"][i] for i in expected.argmax(1)]
    np.testing.assert_allclose([float(row[2]) for row in rows], expected.max(1), atol=0.02)


CONV_MODELS = [  # (--model and its options, what the refusal says)
    (("lenet",), "lenet convolves images, but --preprocess pca turns them into component "
                 "scores; "),
    (("convnet3",), "convnet3 convolves images, but --preprocess pca turns them into "
                    "component scores; "),
    (("convnet3", "--engine", "numpy"), "convnet3 convolves images, but --preprocess pca "
                                        "turns them into component scores; "),
    (("vgg", "--model-arg", "num_filters=4,8", "--model-arg", "As=1,1"),
     "vgg convolves images, but --preprocess pca turns them into component scores; "),
    (("resnet", "--model-arg", "width=4"),
     "resnet convolves images, but --preprocess pca turns them into component scores; "),
]


@pytest.mark.parametrize("model, message", CONV_MODELS, ids=[m[0] for m, _ in CONV_MODELS])
def test_conv_models_are_refused_pca_scores(cli, tmp_path, model, message):
    """PCA outputs k component scores, (k, 1, 1), which convolutions cannot use as an image."""
    result = cli("train", "--out-dir", tmp_path, *BASE, "--epochs", "1", "--model", *model,
                 "--preprocess", "pca", "--pca-components", "20")
    assert result.code == 2, result.out
    assert result.err.startswith(f"striate: error: {message}"), result.err
    assert result.err.startswith("striate: error: ") and result.err.count("\n") == 1
    assert tree_snapshot(tmp_path) == {}


@pytest.mark.parametrize("args, message", [
    (("--pca-components", "20"), "--pca-components applies only to --preprocess pca or "
                                 "pca-whiten (standardize has no components)"),
    (("--preprocess", "zca", "--pca-components", "20"), "(zca keeps all components)"),
    (("--preprocess", "mean-image", "--pca-components", "5"), "--pca-components applies only"),
    (("--preprocess", "pca"), "--preprocess pca needs --pca-components K"),
    (("--preprocess", "pca", "--pca-components", "65"), "--pca-components 65 is outside 1..64"),
    (("--preprocess", "zca", "--whiten-eps", "0"), "--whiten-eps 0.0 is not a positive number"),
    (("--preprocess", "pca-whiten", "--translate", "1"), "turns images into component scores"),
    (("--preprocess", "pca", "--pca-components", "5", "--crop-padding", "1"),
     "turns images into component scores"),
])
def test_bad_preprocessing_requests_get_one_line_exit_2(cli, tmp_path, args, message):
    result = cli("train", "--out-dir", tmp_path, *QUICK, *args)
    assert result.code == 2 and result.err.count("\n") == 1
    assert message in result.err
    assert tree_snapshot(tmp_path) == {}


def test_zca_keeps_images_so_crops_still_apply(runs, tmp_path):
    run = train_run(*QUICK, "--preprocess", "zca", "--crop-padding", "1", "--out-dir", tmp_path,
                    "--name", "zca-crop")
    assert metrics_of(run)["test_accuracy"] > 0.3
    # the crops were applied: the same run without them (runs["zca"]) trained on other numbers
    assert csv_column(run, "train_loss") != csv_column(runs["zca"], "train_loss")


@pytest.fixture(scope="module")
def mirror_folder(tmp_path_factory):
    """A folder data set tta is allowed on (unlike digits): 4x4 RGB noise, two classes."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir()
        for k in range(10):
            Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), mode="RGB").save(
                root / name / f"{k}.png")
    return root


def test_tta_is_refused_with_pca(cli, tmp_path, mirror_folder):
    args = ("--dataset", "folder", "--data-dir", mirror_folder, "--model", "logreg",
            "--epochs", "1", "--progress", "off", "--device", "cpu", "--preprocess", "pca",
            "--pca-components", "5")
    result = cli("train", "--out-dir", tmp_path / "tta", *args, "--tta")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "--preprocess pca turns images into component scores" in result.err
    assert not (tmp_path / "tta").exists()

    run = train_run(*args, "--out-dir", tmp_path, "--name", "pca")
    image = next((mirror_folder / "a").iterdir())
    for command in (("evaluate", run), ("predict", run, image)):
        for flags, says in ((["--tta"], "--tta mirrors"),
                            (["--tta-shift", "1"], "--tta-shift shifts")):
            before = tree_snapshot(tmp_path)
            result = cli(*command, *flags, "--device", "cpu")
            assert result.code == 2 and result.err.count("\n") == 1
            assert f"{says} images, but this model takes pca component scores" in result.err
            assert tree_snapshot(tmp_path) == before
    assert cli("evaluate", run, "--device", "cpu").code == 0


def test_numpy_engine_trains_with_zca_and_its_checkpoint_evaluates_the_same(tmp_path):
    run = train_run("--dataset", "digits", "--engine", "numpy", "--model", "logreg",
                    "--epochs", "3", "--progress", "off", "--preprocess", "zca",
                    "--out-dir", tmp_path, "--name", "numpy")
    metrics = metrics_of(run)
    assert metrics["test_accuracy"] > 0.6
    assert read_checkpoint(run, preprocessing=True)[0]["matrix"].shape == (D, D)
    for engine in ("numpy", "torch"):
        result = evaluate(run, "test", device="cpu", engine=engine)
        assert result["accuracy"] == metrics["test_accuracy"], engine
        assert result["loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)
