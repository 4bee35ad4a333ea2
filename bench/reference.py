"""The standard PyTorch recipe, as a user would write it without striate: the baseline of
bench_lenet.py, kept out of the package on purpose.

A map-style Dataset turns one stored image into one normalized tensor per index (what
torchvision's ToTensor + Normalize do), a DataLoader shuffles and collates minibatches of 64, and
the textbook loop runs zero_grad, forward, loss, backward, step and reads loss.item(). The model,
the optimizer and the learning rate of every step are striate's own, handed in by the caller, so
that only the data path and the loop differ.
"""

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
