import numpy as np
import pytest

from striate.data import Split, split_validation
from striate.data.splits import stratified_holdout
from striate.errors import StriateError


@pytest.fixture
def train():
    count = 100
    # Each image's pixels hold its own index, so we can check images and labels stay paired.
    images = np.arange(count, dtype=np.int64)[:, None, None, None] * np.ones((1, 1, 2, 2), np.int64)
    return Split(images, np.arange(count, dtype=np.int64) % 7)


def indices(split):
    return split.images[:, 0, 0, 0]


def test_sizes_disjoint_and_covering(train):
    rest, valid = split_validation(train, 30, seed=5)
    assert len(rest) == 70 and len(valid) == 30
    assert set(indices(rest)).isdisjoint(indices(valid))
    assert sorted([*indices(rest), *indices(valid)]) == list(range(100))
    np.testing.assert_array_equal(valid.labels, indices(valid) % 7)  # pairs intact
    assert list(indices(valid)) == sorted(indices(valid))  # original order kept


def test_same_seed_same_split_other_seed_other_split(train):
    first = indices(split_validation(train, 30, seed=5)[1])
    np.testing.assert_array_equal(first, indices(split_validation(train, 30, seed=5)[1]))
    assert not np.array_equal(first, indices(split_validation(train, 30, seed=6)[1]))


def test_split_follows_numpy_default_rng_permutation(train):
    expected = np.sort(np.random.default_rng(3).permutation(100)[:10])
    np.testing.assert_array_equal(indices(split_validation(train, 10, seed=3)[1]), expected)


@pytest.mark.parametrize("size", [0, 100, 101, -1])
def test_size_must_leave_both_parts_non_empty(train, size):
    with pytest.raises(StriateError, match=rf"validation size {size} does not fit a training "
                                           r"split of 100 examples; choose a size from 1 to 99"):
        split_validation(train, size, seed=0)


def test_stratified_holdout_takes_a_fifth_of_each_class():
    labels = np.repeat([0, 1, 2], [10, 5, 2])
    kept, held_out = stratified_holdout(labels)
    assert np.bincount(labels[held_out]).tolist() == [2, 1, 1]
    assert sorted([*kept, *held_out]) == list(range(17))
    np.testing.assert_array_equal(held_out, stratified_holdout(labels)[1])  # fixed seed
