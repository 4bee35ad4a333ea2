"""The order in which an epoch visits the training examples, shared by both engines."""

import math

import numpy as np


def minibatches_per_epoch(n: int, batch_size: int, order: str) -> int:
    """shuffle: every example once, the last minibatch possibly smaller; sequential: the Deep
    Learning Tutorials' n // batch_size full minibatches (at least one), the rest never seen."""
    if order == "sequential":
        return max(1, n // batch_size)
    return math.ceil(n / batch_size)


def examples_per_epoch(n: int, batch_size: int, order: str) -> int:
    return min(n, minibatches_per_epoch(n, batch_size, order) * batch_size)


def training_order(seed: int, epoch: int, n: int, order: str) -> np.ndarray:
    """(n,) int64 indices: the stored order every epoch (sequential, the tutorials' fixed
    minibatches) or a fresh permutation per epoch (shuffle)."""
    if order == "sequential":
        return np.arange(n, dtype=np.int64)
    return epoch_order(seed, epoch, n)


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """(n,) int64 permutation, a function of (seed, epoch) only.

    Derived afresh each epoch rather than drawn from a generator carried along, so a resumed run
    visits the examples in exactly the order an uninterrupted one does, and both engines see the
    same minibatches for the same seed.

    It is torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)),
    computed without torch so that the NumPy engine runs where torch is not installed, and
    every run trained before keeps its figures. tests/test_order.py compares the two.
    """
    bits = mt19937(seed * 100_003 + epoch)
    # torch's randperm_cpu (for n < 2**32 / 20): a Fisher-Yates shuffle from the front, where
    # step i swaps r[i] with r[i + z], z = (one 32-bit output) % (n - i).
    steps = np.arange(max(n - 1, 0), dtype=np.uint64)               # (n-1,) i
    partners = bits.random_raw(len(steps)) % (n - steps) + steps     # (n-1,) i + z
    # A list: an array boxes a NumPy scalar at every read, which makes the swaps ~1.5x slower.
    order = list(range(n))
    for i, j in enumerate(partners.tolist()):
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64)


def mt19937(seed: int) -> np.random.MT19937:
    """The Mersenne Twister torch's CPU generator is after manual_seed(seed): both it and
    NumPy's legacy RandomState seed with init_genrand(seed), torch with the low 32 bits."""
    bits = np.random.MT19937()
    bits.state = np.random.RandomState(seed & 0xFFFF_FFFF).get_state(legacy=False)
    return bits
