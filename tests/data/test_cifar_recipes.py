"""The cs231n recipes run end to end on CIFAR-10 files in the exact on-disk format."""

import json
import pickle

import pytest


def write_batches(root, formats):
    """An extracted cifar-10-batches-py/ directory of 5 x 40 training and 40 test images."""
    directory = root / "cifar-10-batches-py"
    directory.mkdir(parents=True)
    for name, content in formats.cifar_batches(per_batch=40).items():
        (directory / name).write_bytes(pickle.dumps(content, protocol=2))
    return root


@pytest.mark.parametrize("recipe", ["cs231n-convnet3", "cs231n-vgg"])
def test_cs231n_recipe_trains_on_cifar10_files(cli, formats, tmp_path, recipe):
    data = write_batches(tmp_path / "data", formats)
    result = cli("train", "--recipe", recipe, "--data-dir", data, "--valid-size", "40",
                 "--epochs", "1", "--out-dir", tmp_path, "--name", "run")
    assert result.code == 0, result.err
    assert "on cifar10 (160/40/40 train/valid/test)" in result.out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and 0 <= metrics["test_accuracy"] <= 1
    evaluated = cli("evaluate", tmp_path / "run", "--data-dir", data)
    assert evaluated.code == 0, evaluated.err
    assert f"accuracy {metrics['test_accuracy']:.2%}" in evaluated.out
