"""epoch_order is torch.randperm computed with NumPy: torch is the oracle."""

import numpy as np
import pytest
import torch

from striate.training.order import epoch_order

SEEDS = [0, 1, 42, 123_456_789, 2**31, 2**32 - 2, 2**32 - 1]
# seed * 100_003 + epoch passes 2**32 for every seed but the first three: torch keeps its low 32
# bits, so these also check the wrap-around.
SIZES = [0, 1, 2, 3, 10, 1797, 50_000]


def torch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator).numpy()


@pytest.mark.parametrize("seed", SEEDS)
def test_epoch_order_is_torch_randperm(seed):
    for epoch in (0, 1, 7, 99):
        for n in SIZES:
            expected = torch_order(seed, epoch, n)
            order = epoch_order(seed, epoch, n)
            assert order.dtype == np.int64 and order.shape == (n,), (epoch, n)
            np.testing.assert_array_equal(order, expected, err_msg=f"epoch {epoch}, n {n}")


def test_epochs_are_shuffled_differently():
    """A permutation of range(n), new every epoch: what the comparison above takes for granted."""
    first, second = epoch_order(0, 0, 1797), epoch_order(0, 1, 1797)
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(1797))
    np.testing.assert_array_equal(np.sort(first), np.arange(1797))
