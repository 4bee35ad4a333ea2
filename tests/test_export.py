"""`striate export`: the exported ONNX and TorchScript files give striate's own probabilities,
with the preprocessing inside the graph, for every kind of model the torch engine trains."""

import json

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

import striate
from helpers import tree_snapshot
from striate.export import METADATA_FILE, export_model
from striate.inference import load_predictor, probabilities
from striate.training.learner import TTA, as_tta

GRAY, RGB = (1, 16, 16), (3, 16, 16)
SMALL_LENET = {"nkerns": [4, 8], "hidden": 16, "activation": "relu"}
# model: (training options, image shape, test-time augmentation in the graph); between them
# every preprocessing the graph carries: a projection, whitening, per-channel, per-pixel, and
# test-time mirror images and shifts.
CASES = {
    "logreg": ({"model": "logreg", "preprocess": "pca-whiten", "pca_components": 20}, GRAY, False),
    "mlp": ({"model": "mlp", "model_args": {"hidden": [16]}, "preprocess": "zca"}, GRAY, False),
    "lenet": ({"model": "lenet", "model_args": SMALL_LENET}, GRAY, TTA(shift=2)),
    "vgg": ({"model": "vgg", "preprocess": "mean-image", "model_args": {
        "num_filters": [4, 8], "As": [1, 1], "hidden_dims": [8]}}, RGB, True),
    "resnet": ({"model": "resnet", "preprocess": "per-feature", "model_args": {"width": 4}},
               RGB, TTA(mirror=True, shift=1)),
}


def images(shape, count, seed):
    """uint8 images whose class (0..2) is where they are bright, so that a model learns."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    pixels = rng.integers(0, 80, (count, *shape))
    for image, label in zip(pixels, labels):
        image[:, :, label * 5:label * 5 + 6] += 170
    return pixels.astype(np.uint8), labels


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    trained = {}
    for name, (options, shape, _) in CASES.items():
        x, y = images(shape, 240, seed=1)
        data = striate.Dataset.from_arrays(x, y, class_names=["left", "middle", "right"])
        trained[name] = striate.train(data=data, run_dir=root / name, epochs=1, batch_size=32,
                                      progress="off", **options).run_dir
    return trained


def striate_probabilities(run, pixels, tta):
    """What `striate predict` computes for images already at the model's size."""
    log_proba, _, preprocess = load_predictor(run, None, "cpu", tta)
    return probabilities(log_proba, preprocess, pixels, 255.0)


@pytest.mark.parametrize("name", CASES)
def test_onnx_gives_striates_probabilities(runs, name, tmp_path):
    _, shape, tta = CASES[name]
    path = export_model(runs[name], "onnx", tmp_path / "model.onnx", tta=tta)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    props = session.get_modelmeta().custom_metadata_map
    assert json.loads(props["class_names"]) == ["left", "middle", "right"]
    assert json.loads(props["input_shape"]) == list(shape)
    assert json.loads(props["tta"]) == as_tta(tta).mirror
    assert json.loads(props["tta_shift"]) == as_tta(tta).shift
    assert session.get_inputs()[0].shape[1:] == list(shape)   # the batch dimension is free
    for count in (7, 1):   # neither is the traced example's batch of 2
        pixels, _ = images(shape, count, seed=2)
        ours = session.run(None, {"pixels": pixels.astype(np.float32)})[0]
        np.testing.assert_allclose(ours, striate_probabilities(runs[name], pixels, tta),
                                   rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_torchscript_gives_striates_probabilities(runs, name, tmp_path):
    _, shape, tta = CASES[name]
    path = export_model(runs[name], "torchscript", tmp_path / "model.pt", tta=tta)
    extra = {METADATA_FILE: ""}
    model = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(json.loads(extra[METADATA_FILE])["class_names"]) == \
        ["left", "middle", "right"]
    for count in (5, 1):
        pixels, _ = images(shape, count, seed=3)
        ours = model(torch.from_numpy(pixels).float()).numpy()
        np.testing.assert_allclose(ours, striate_probabilities(runs[name], pixels, tta),
                                   rtol=0, atol=1e-5)


def test_the_weights_load_into_a_model_with_plain_torch(runs):
    """docs/export.md's three lines: the weights file is exactly the model's state dict."""
    from safetensors.torch import load_file

    from striate.torch.models import create_model

    model = create_model("lenet", GRAY, 3, **SMALL_LENET)
    model.load_state_dict(load_file(runs["lenet"] / "model.safetensors"))   # strict
    trained = striate.load(runs["lenet"]).model
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 trained.state_dict().values()))


def test_predict_onnx_agrees_with_predict(runs, cli, tmp_path):
    pixels, _ = images(RGB, 3, seed=4)
    files = []
    for index, image in enumerate(pixels):
        files.append(tmp_path / f"{index}.png")
        Image.fromarray(image.transpose(1, 2, 0)).save(files[-1])
    exported = cli("export", runs["vgg"], "--out", tmp_path / "vgg.onnx", "--tta", "--json")
    assert exported.code == 0, exported.err
    assert json.loads(exported.out)["out"] == str(tmp_path / "vgg.onnx")
    with_onnx = cli("predict", "--onnx", tmp_path / "vgg.onnx", *files)
    with_striate = cli("predict", "--tta", runs["vgg"], *files)
    assert with_onnx.code == with_striate.code == 0, with_onnx.err + with_striate.err
    assert with_onnx.out == with_striate.out and len(with_onnx.out.splitlines()) == 3


def test_an_existing_file_is_kept_unless_forced(runs, cli, tmp_path):
    target = tmp_path / "model.onnx"
    target.write_text("the user's")
    result = cli("export", runs["logreg"], "--out", target)
    assert result.code == 2 and "exists; choose another --out, or --force" in result.err
    assert target.read_text() == "the user's"
    assert cli("export", runs["logreg"], "--out", target, "--force").code == 0
    assert target.stat().st_size > 1000


def test_default_path_is_beside_the_checkpoint(runs, cli):
    run = runs["mlp"]
    result = cli("export", run, "--format", "torchscript")
    assert result.code == 0 and result.out.strip() == f"wrote {run / 'model.pt'}"
    (run / "model.pt").unlink()


@pytest.mark.parametrize("argv, message", [
    (lambda run, tmp: ["export", run, "--format", "keras"], "invalid choice: 'keras'"),
    (lambda run, tmp: ["export", tmp / "none"], "no checkpoint at"),
    (lambda run, tmp: ["export", run, "--out", tmp / "missing" / "m.onnx"], "cannot write in"),
    (lambda run, tmp: ["predict", "--onnx", tmp / "none.onnx", tmp / "a.png"], "no ONNX file"),
    (lambda run, tmp: ["predict", "--onnx", run / "model.safetensors", tmp / "a.png"],
     "is not a readable ONNX model"),
    (lambda run, tmp: ["predict", "--onnx", run / "model.safetensors", "--tta", "a.png"],
     "--tta cannot apply to an exported --onnx file"),
    (lambda run, tmp: ["predict", run], "predict needs image files after the checkpoint"),
])
def test_bad_requests_are_one_line(runs, cli, tmp_path, argv, message):
    before = tree_snapshot(runs["logreg"])
    result = cli(*argv(runs["logreg"], tmp_path))
    assert result.code == 2 and message in result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert tree_snapshot(runs["logreg"]) == before


def test_an_onnx_file_without_striates_metadata_is_refused(runs, cli, tmp_path):
    import onnx

    path = export_model(runs["logreg"], "onnx", tmp_path / "m.onnx")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    Image.new("L", (16, 16)).save(tmp_path / "a.png")
    result = cli("predict", "--onnx", path, tmp_path / "a.png")
    assert result.code == 2 and "without striate's metadata" in result.err


def test_numpy_only_and_deskewed_models_are_refused(tmp_path):
    digits = striate.load_dataset("digits")
    svm = striate.train("svm", digits, engine="numpy", epochs=1, run_dir=tmp_path / "svm",
                        progress="off").run_dir
    with pytest.raises(striate.StriateError, match="only the NumPy engine has"):
        export_model(svm)
    deskewed = striate.train("logreg", digits, deskew=True, epochs=1,
                             run_dir=tmp_path / "deskewed", progress="off").run_dir
    with pytest.raises(striate.StriateError, match="cannot straighten"):
        export_model(deskewed)
    assert not list(tmp_path.rglob("*.onnx"))
