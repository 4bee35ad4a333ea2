"""The benchmark's baseline must be the same problem: the standard recipe in bench/reference.py
sees the same normalized images, starts from the same weights and computes the same loss as
striate's learner, and really trains. Plus the pieces of bench/ whose answers can be checked:
FLOP counting, and the rewriting of docs/performance.md. (Speed is never asserted here.)"""

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_lenet  # noqa: E402
import machine  # noqa: E402
import reference  # noqa: E402
import run  # noqa: E402
from striate.config import TrainConfig  # noqa: E402
from striate.data import Split  # noqa: E402
from striate.torch.data import DeviceSplit  # noqa: E402
from striate.torch.engine import build_learner  # noqa: E402
from striate.torch.learner import build_optimizer, evaluate_split  # noqa: E402
from striate.torch.models import create_model  # noqa: E402
from striate.data.pipeline import RunData, prepare  # noqa: E402

TINY_LENET = {"nkerns": [4], "filter_size": 3, "hidden": 16}   # for 8x8 digits


@pytest.fixture(scope="module")
def digits():
    config = TrainConfig()
    config.data.dataset, config.run.device = "digits", "cpu"
    config.model.model_args = TINY_LENET
    config = config.resolve()
    data = prepare(config.data, config.run.seed)
    return config, data.dataset, data.splits, data.preprocess


def reference_images(digits, split="train"):
    _, dataset, splits, preprocess = digits
    return reference.NormalizedImages(splits[split], preprocess, dataset.pixel_max)


def test_reference_images_are_striates_inputs(digits):
    _, dataset, splits, preprocess = digits
    inputs = RunData(dataset, splits, preprocess).inputs(("train",))["train"]
    images = reference_images(digits)
    assert len(images) == len(inputs)
    for index in (0, 7, len(images) - 1):
        image, label = images[index]
        assert torch.equal(image, torch.from_numpy(inputs.images[index]))
        assert label == inputs.labels[index]


def test_reference_and_striate_start_alike_and_compute_the_same_loss(digits):
    config, dataset, splits, preprocess = digits
    learner = build_learner(config, RunData(dataset, splits, preprocess).inputs(),
                            dataset.num_classes, preprocess)
    torch.manual_seed(config.run.seed)
    model = create_model("lenet", preprocess.output_shape, dataset.num_classes, **TINY_LENET)
    for name, value in model.state_dict().items():
        assert torch.equal(value, learner.model.state_dict()[name]), name
    learner.start_epoch(0)
    batch = learner.order[:config.optim.batch_size].tolist()
    images = reference_images(digits)
    x = torch.stack([images[i][0] for i in batch])                     # (B, 1, 8, 8)
    y = torch.tensor([images[i][1] for i in batch])                    # (B,)
    expected = F.cross_entropy(model(x), y)
    assert learner.train_step(0, config.optim.lr).item() == pytest.approx(expected.item(),
                                                                          rel=1e-5)


def test_the_reference_really_trains(digits):
    config, dataset, _, preprocess = digits
    torch.manual_seed(config.run.seed)
    model = create_model("lenet", preprocess.output_shape, dataset.num_classes, **TINY_LENET)
    optimizer = build_optimizer(model, config.optim)
    train = reference.loader(reference_images(digits), config.optim.batch_size, True, 0)
    valid = reference.loader(reference_images(digits, "valid"), reference.EVAL_BATCH_SIZE,
                             False, 0)
    _, error_before = reference.evaluate(model, valid)
    losses = [reference.train_epoch(model, train, optimizer, [0.05] * len(train))
              for _ in range(3)]
    _, error_after = reference.evaluate(model, valid)
    assert losses[-1] < losses[0]
    assert error_after < min(error_before, 0.5)


def test_device_split_shares_the_arrays_memory_on_the_cpu():
    images = np.zeros((3, 1, 4, 4), np.float32)
    split = DeviceSplit(Split(images, np.zeros(3, np.int64)), torch.device("cpu"))
    assert split.images.data_ptr() == images.__array_interface__["data"][0]


def test_evaluation_in_chunks_matches_one_pass():
    torch.manual_seed(0)
    n = 1100                     # more than two CPU evaluation batches, the last one partial
    images, labels = torch.randn(n, 1, 8, 8), torch.randint(0, 10, (n,))
    data = DeviceSplit(Split(images.numpy(), labels.numpy()), torch.device("cpu"))
    model = create_model("lenet", (1, 8, 8), 10, **TINY_LENET)
    torch.nn.init.normal_(model.output.weight)   # not the zero output layer: distinct logits
    loss, error = evaluate_split(model, data)
    with torch.no_grad():
        logits = model(images)
    assert loss == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)
    assert error == (logits.argmax(1) != labels).sum().item() / n


def test_lenet_bench_compares_bf16_with_fp32_evaluation(digits):
    """make bench's bf16-evaluation row runs on a trained learner: its fp32 test accuracy is
    the learner's own, and its bf16 figures describe the same images."""
    config, dataset, splits, preprocess = digits
    inputs = RunData(dataset, splits, preprocess).inputs()
    data = SimpleNamespace(inputs=inputs, dataset=dataset, preprocess=preprocess)
    contender = bench_lenet.StriateContender(data, config)
    for epoch in range(3):
        contender.train_epoch(epoch)
    valid, test = len(inputs["valid"]), inputs["test"]
    result = bench_lenet.bf16_evaluation(contender, 1, valid, test)
    assert result["test_images"] == len(test.labels)
    fp32_error = contender.learner.evaluate("test")[1]
    assert result["test_accuracy_fp32"] == pytest.approx(1 - fp32_error)
    assert abs(result["test_accuracy_bf16"] - result["test_accuracy_fp32"]) \
        <= result["test_predictions_differing"] / len(test.labels)
    assert 0.5 < result["valid_accuracy"] <= 1


def test_forward_flops_count_convolutions_and_affine_layers():
    model = create_model("lenet", (1, 28, 28), 10)
    conv1 = 24 * 24 * 20 * (1 * 5 * 5)       # outputs x multiply-adds per output
    conv2 = 8 * 8 * 50 * (20 * 5 * 5)        # after 2x2 pooling: 12x12 in, 8x8 out
    affine = 50 * 4 * 4 * 500 + 500 * 10
    assert machine.forward_flops(model, (1, 28, 28)) == 2 * (conv1 + conv2 + affine)


def test_bench_rewrites_only_its_own_section_of_the_page():
    begin, end = run.markers("bench_lenet")
    page = f"# Performance\n\nprose\n\n{begin}\nold table\n{end}\n\nmore prose\n"
    rewritten = run.with_section(page, "bench_lenet", "| new | table |")
    assert rewritten == f"# Performance\n\nprose\n\n{begin}\n| new | table |\n{end}\n\nmore prose\n"
    assert run.with_section(page, "bench_engines", "| other |") == page
