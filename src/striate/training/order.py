"""The order in which an epoch visits the training examples, shared by both engines."""

import numpy as np
import torch


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """(n,) int64 permutation, a function of (seed, epoch) only.

    Derived afresh each epoch rather than drawn from a generator carried along, so a resumed run
    visits the examples in exactly the order an uninterrupted one does, and both engines see the
    same minibatches for the same seed.
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator).numpy()
