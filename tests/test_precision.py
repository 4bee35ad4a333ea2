"""Reduced-precision training and the channels-last layout, on the CPU.

bf16 autocast changes the training arithmetic only: the weights, the optimizer and every
evaluation stay fp32, so a run's recorded figures are what `striate evaluate` gets from its
checkpoint. channels_last changes the memory layout, never the function computed.
"""

import copy

import numpy as np
import pytest
import torch
from helpers import csv_column, metrics_of, train_run, tree_snapshot

from striate.checkpoint import load_weights
from striate.data.pipeline import load_preprocess
from striate.data import load_dataset
from striate.errors import StriateError
from striate.inference import evaluate
from striate.torch import device as torch_device
from striate.torch.device import resolve_precision
from striate.torch.engine import load_model

CPU = torch.device("cpu")
QUICK = ("--dataset", "digits", "--model", "mlp", "--model-arg", "hidden=32", "--epochs", "3",
         "--progress", "off", "--device", "cpu")
TINY_VGG = ("--dataset", "digits", "--model", "vgg", "--model-arg", "num_filters=4,8",
            "--model-arg", "As=1,1", "--model-arg", "hidden_dims=16", "--epochs", "2",
            "--progress", "off", "--device", "cpu")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("runs")
    return {precision: train_run(*QUICK, "--precision", precision, "--out-dir", out_dir,
                                 "--name", precision) for precision in ("fp32", "bf16")}


def test_fp16_needs_cuda(cli, tmp_path):
    result = cli("train", "--out-dir", tmp_path, *QUICK, "--precision", "fp16")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "--precision fp16 needs a CUDA device" in result.err
    assert tree_snapshot(tmp_path) == {}
    with pytest.raises(StriateError, match="needs a CUDA device"):
        resolve_precision("fp16", CPU)


def test_explicit_precisions_resolve_to_their_autocast_dtype():
    assert resolve_precision("fp32", CPU) is None
    assert resolve_precision("bf16", CPU) is torch.bfloat16


@pytest.mark.parametrize("native, dtype", [(False, None), (True, torch.bfloat16)])
def test_auto_uses_bf16_only_where_the_cpu_has_it(monkeypatch, native, dtype):
    asked = []
    monkeypatch.setattr(torch_device, "native_bf16", lambda device: asked.append(device) or native)
    assert resolve_precision("auto", CPU) is dtype
    assert asked == [CPU]


def test_bf16_trains_and_is_evaluated_in_fp32(runs):
    bf16, fp32 = runs["bf16"], runs["fp32"]
    metrics = metrics_of(bf16)
    assert metrics["test_accuracy"] > 0.6
    # bf16 arithmetic did happen: the training losses are not the fp32 run's.
    assert csv_column(bf16, "train_loss") != csv_column(fp32, "train_loss")
    assert all(array.dtype == np.float32 for array in load_weights(bf16)[0].values())
    # The run's figures are those of the saved fp32 weights in fp32 (bf16 would differ at ~1e-3).
    test = evaluate(bf16, "test", device="cpu")
    valid = evaluate(bf16, "valid", device="cpu")
    assert test["accuracy"] == metrics["test_accuracy"]
    assert test["loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)
    assert valid["loss"] == pytest.approx(metrics["best_valid_loss"], rel=1e-5)


@pytest.mark.parametrize("native, same_as", [(False, "fp32"), (True, "bf16")])
def test_auto_precision_run_is_the_fp32_or_the_bf16_run(runs, tmp_path, monkeypatch, native,
                                                        same_as):
    monkeypatch.setattr(torch_device, "native_bf16", lambda device: native)
    auto = train_run(*QUICK, "--precision", "auto", "--out-dir", tmp_path, "--name", "auto")
    assert metrics_of(auto) == metrics_of(runs[same_as])
    assert csv_column(auto, "train_loss") == csv_column(runs[same_as], "train_loss")


def test_channels_last_computes_the_same_function(tmp_path):
    last = train_run(*TINY_VGG, "--out-dir", tmp_path, "--name", "last")   # the default layout
    plain = train_run(*TINY_VGG, "--no-channels-last", "--out-dir", tmp_path, "--name", "plain")
    # Same seed, same data: only the memory layout (and so the kernels' summation order) differs.
    assert csv_column(last, "train_loss") == pytest.approx(csv_column(plain, "train_loss"),
                                                           rel=1e-3)
    metrics = metrics_of(last)
    assert metrics["test_accuracy"] > 0.3

    model, _ = load_model(last, "cpu")
    test = load_dataset("digits").test
    images = torch.from_numpy(load_preprocess(last)[0].apply(test.images, 16.0))   # (N, 1, 8, 8)
    nchw = model(images)
    converted = copy.deepcopy(model).to(memory_format=torch.channels_last)
    conv = converted.features.stage2.conv1[0].weight                     # (8, 4, 3, 3)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    nhwc = converted(images.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(nhwc, nchw, rtol=1e-4, atol=1e-5)
    assert torch.equal(nhwc.argmax(1), nchw.argmax(1))
    # The run evaluated itself in channels_last; `evaluate` uses the default layout.
    result = evaluate(last, device="cpu")
    assert result["accuracy"] == metrics["test_accuracy"]
    assert result["loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)


def test_channels_last_reaches_the_weights_and_the_minibatches():
    from striate.config import TrainConfig
    from striate.torch.engine import build_learner
    from striate.data.pipeline import prepare

    config = TrainConfig()
    config.data.dataset, config.model.model = "digits", "vgg"
    config.model.model_args = {"num_filters": [4, 8], "As": [1, 1], "hidden_dims": [16]}
    config.run.device, config.run.channels_last = "cpu", True
    config = config.resolve()
    data = prepare(config.data, config.run.seed)
    learner = build_learner(config, data.inputs(), data.dataset.num_classes, data.preprocess)
    conv = learner.model.features.stage2.conv1[0]
    layouts = []

    def record_layout(module, args):
        x = args[0]                                                   # (B, 4, 4, 4)
        nhwc = x.is_contiguous(memory_format=torch.channels_last)
        layouts.append(nhwc and not x.is_contiguous())

    conv.register_forward_pre_hook(record_layout)
    learner.start_epoch(0)
    learner.train_step(0, 0.05)
    learner.evaluate("valid")
    assert layouts == [True, True]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()


def test_eval_precision_is_for_validation_only(tmp_path):
    """--eval-precision bf16 validates in bf16 (its loss differs from fp32's in the last
    digits); the test split is measured in fp32 either way, on the same weights."""
    one_epoch = [word if word != "3" else "1" for word in QUICK]
    fp32, bf16 = (metrics_of(train_run(*one_epoch, "--eval-precision", precision,
                                       "--out-dir", tmp_path, "--name", precision))
                  for precision in ("fp32", "bf16"))
    assert (bf16["test_loss"], bf16["test_error"]) == (fp32["test_loss"], fp32["test_error"])
    assert bf16["best_valid_loss"] != fp32["best_valid_loss"]
    assert bf16["best_valid_loss"] == pytest.approx(fp32["best_valid_loss"], rel=1e-2)


def test_eval_precision_is_the_torch_engines(cli, tmp_path):
    result = cli("train", "--out-dir", tmp_path, *QUICK, "--engine", "numpy",
                 "--eval-precision", "bf16")
    assert result.code == 2 and "--eval-precision run on the torch engine only" in result.err
