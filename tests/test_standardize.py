import numpy as np
import torch

from striate.data import Split, Standardize
from striate.torch.data import DeviceSplit


def test_fit_matches_numpy_per_channel_and_survives_constant_channels():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20_000, 3, 4, 4), dtype=np.uint8)
    images[:, 2] = 7                               # a constant channel
    split = Split(images, np.zeros(len(images), dtype=np.int64))
    stats = Standardize.fit(split, 255.0)
    scaled = images / 255.0
    np.testing.assert_allclose(stats.mean, scaled.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(stats.std[:2], scaled.std(axis=(0, 2, 3))[:2], rtol=1e-10)
    assert stats.std[2] == 1.0


def test_device_split_is_standardized_and_identity_keeps_pixels():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 17, size=(500, 1, 8, 8), dtype=np.uint8)
    split = Split(images, np.arange(500) % 10)
    on_device = DeviceSplit(split, 16.0, Standardize.fit(split, 16.0), torch.device("cpu"))
    assert abs(on_device.images.mean().item()) < 1e-5
    assert abs(on_device.images.std().item() - 1) < 1e-3
    raw = DeviceSplit(split, 16.0, Standardize.identity(1), torch.device("cpu"))
    torch.testing.assert_close(raw.images, torch.from_numpy(images / 16.0).float())
    assert raw.labels.dtype == torch.int64
