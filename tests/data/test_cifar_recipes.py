"""The cs231n recipes run end to end on CIFAR-10 files in the exact on-disk format."""

import numpy as np
import pytest

from helpers import metrics_of, train_run
from striate.inference import load_predictor


def write_batches(root, formats, accept):
    """An extracted cifar-10-batches-py/ directory of 5 x 40 training and 40 test images, taken
    for the official one."""
    formats.write_cifar_extracted(root, formats.cifar_batches(per_batch=40))
    accept("cifar10-batches", root)
    return root


@pytest.mark.parametrize("recipe", ["cs231n-convnet3", "cs231n-vgg"])
def test_cs231n_recipe_trains_on_cifar10_files(cli, capsys, formats, accept, tmp_path, recipe):
    data = write_batches(tmp_path / "data", formats, accept)
    run = train_run("--recipe", recipe, "--data-dir", data, "--valid-size", "40", "--epochs", "1",
                    "--out-dir", tmp_path, "--name", "run")
    assert "on cifar10 (160/40/40 train/valid/test)" in capsys.readouterr().out
    metrics = metrics_of(run)
    assert metrics["epochs"] == 1
    # The oracle: the saved checkpoint's predictions for test_batch as the file holds it, rows of
    # 3072 bytes (1024 red, then green, then blue), classified without striate's data loading.
    test_batch = formats.cifar_batches(per_batch=40)["test_batch"]
    images = test_batch[b"data"].reshape(-1, 3, 32, 32)                  # (40, 3, 32, 32)
    log_proba, _, preprocess = load_predictor(run, None, "cpu")
    predicted = log_proba(preprocess.apply(images, 255.0)).argmax(axis=1)
    correct = int((predicted == np.array(test_batch[b"labels"])).sum())
    assert metrics["test_accuracy"] == pytest.approx(correct / 40, abs=1e-9)
    evaluated = cli("evaluate", run, "--data-dir", data)
    assert evaluated.code == 0, evaluated.err
    assert f"accuracy {metrics['test_accuracy']:.2%}" in evaluated.out
