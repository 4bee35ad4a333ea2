"""The standard PyTorch recipe, as a user would write it without striate: the baseline of
bench_lenet.py, kept out of the package on purpose.

A map-style Dataset turns one stored image into one normalized tensor per index (what
torchvision's ToTensor + Normalize do), a DataLoader shuffles and collates minibatches of 64, and
the textbook loop runs zero_grad, forward, loss, backward, step and reads loss.item(). The model,
the optimizer and the learning rate of every step are striate's own, handed in by the caller, so
that only the data path and the loop differ.

Run on its own, it is bench_time_to_accuracy.py's first reference: the tutorial's LeNet (20 and
50 filters, tanh) trained this way on the whole training set for --epochs epochs with striate's
default optimizer and cosine schedule, testing after each epoch, printing JSON lines as
reference_example.py does:

    python bench/reference.py --dataset fashion-mnist [--epochs N]
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from striate.data import Preprocess, Split

BATCH_SIZE = 64           # the recipe's training minibatch (pytorch/examples mnist)
EVAL_BATCH_SIZE = 1000    # and its test minibatch


class NormalizedImages(Dataset):
    """(image, label) per index: stored pixels -> float in [0, 1] -> (x - mean) / std per channel,
    the arithmetic of striate's `standardize`, one image at a time."""

    def __init__(self, split: Split, preprocess: Preprocess, pixel_max: float):
        channels = preprocess.input_shape[0]
        self.images, self.labels = split.images, split.labels      # (N, C, H, W) raw, (N,)
        self.pixel_max = pixel_max
        self.mean = torch.from_numpy(preprocess.tensors["mean"]).reshape(channels, 1, 1)
        self.std = torch.from_numpy(preprocess.tensors["std"]).reshape(channels, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(self.images[index]).float() / self.pixel_max   # (C, H, W)
        return (image - self.mean) / self.std, int(self.labels[index])


def loader(images: NormalizedImages, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    # num_workers=0: on a 2-core machine worker processes only compete with the model for the
    # cores (measured: no faster with 2 workers).
    return DataLoader(images, batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed))


def train_epoch(model: torch.nn.Module, batches: DataLoader, optimizer: torch.optim.Optimizer,
                lrs) -> float:
    """One pass over `batches`, at the learning rates `lrs` (one per step); returns the mean
    training loss."""
    model.train()
    loss_sum, seen = 0.0, 0
    for (images, labels), lr in zip(batches, lrs):       # (B, C, H, W), (B,)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(labels)
        seen += len(labels)
    return loss_sum / seen


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: DataLoader) -> tuple[float, float]:
    """Mean loss and zero-one error over `batches`."""
    model.eval()
    loss_sum, wrong, seen = 0.0, 0, 0
    for images, labels in batches:
        logits = model(images)                           # (B, classes)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        wrong += (logits.argmax(1) != labels).sum().item()
        seen += len(labels)
    return loss_sum / seen, wrong / seen


def main(argv=None) -> None:
    from striate.config import TrainConfig
    from striate.data import load_dataset
    from striate.torch.learner import build_optimizer
    from striate.torch.models import create_model
    from striate.training.schedules import Schedule

    parser = argparse.ArgumentParser(description="the tutorial's LeNet, the standard recipe")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=None,
                        help="(default: striate's for the data set)")
    args = parser.parse_args(argv)
    config = TrainConfig()
    config.data.dataset, config.stop.epochs = args.dataset, args.epochs
    config = config.resolve()
    epochs = config.stop.epochs
    data = load_dataset(args.dataset, args.data_dir)
    preprocess = Preprocess.fit("standardize", data.train.images, data.pixel_max)
    torch.manual_seed(config.run.seed)
    model = create_model("lenet", preprocess.output_shape, data.num_classes)
    optimizer = build_optimizer(model, config.optim)
    train = loader(NormalizedImages(data.train, preprocess, data.pixel_max), BATCH_SIZE, True,
                   config.run.seed)
    tests = loader(NormalizedImages(data.test, preprocess, data.pixel_max), EVAL_BATCH_SIZE,
                   False, config.run.seed)
    schedule = Schedule(config.schedule, config.optim.lr, epochs, len(train))
    print(json.dumps({"started": time.time()}), flush=True)
    for epoch in range(epochs):
        lrs = (schedule.lr(epoch + batch / len(train)) for batch in range(len(train)))
        train_epoch(model, train, optimizer, lrs)
        accuracy = 1.0 - evaluate(model, tests)[1]
        print(json.dumps({"epoch": epoch + 1, "at": time.time(), "test_accuracy": accuracy}),
              flush=True)


if __name__ == "__main__":
    main()
