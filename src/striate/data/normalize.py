"""Per-channel standardization, fitted on the training split only.

Pixels are first scaled to [0, 1] by the data set's white level, then each channel is shifted and
scaled to zero mean and unit variance over the training images. Centred inputs keep tanh and
sigmoid units out of saturation and make one learning rate suit all layers. The statistics travel
in the checkpoint, so evaluate and predict apply exactly the same transform.
"""

from dataclasses import dataclass

import numpy as np

from striate.data.dataset import Split

CHUNK = 8192  # images per pass: float64 statistics without a float64 copy of the whole set


@dataclass(frozen=True)
class Standardize:
    mean: tuple[float, ...]   # per channel, in [0, 1] pixel units
    std: tuple[float, ...]

    @classmethod
    def identity(cls, channels: int) -> "Standardize":
        """The tutorials' inputs: [0, 1] pixels, unchanged."""
        return cls((0.0,) * channels, (1.0,) * channels)

    @classmethod
    def fit(cls, split: Split, pixel_max: float) -> "Standardize":
        channels = split.images.shape[1]
        total, squares, count = np.zeros(channels), np.zeros(channels), 0
        for start in range(0, len(split), CHUNK):
            chunk = split.images[start:start + CHUNK].astype(np.float64) / pixel_max  # (n,C,H,W)
            total += chunk.sum(axis=(0, 2, 3))
            squares += (chunk ** 2).sum(axis=(0, 2, 3))
            count += chunk.shape[0] * chunk.shape[2] * chunk.shape[3]
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
        std[std < 1e-6] = 1.0  # a constant channel carries nothing; do not divide by ~0
        return cls(tuple(mean.tolist()), tuple(std.tolist()))

    def apply(self, images: np.ndarray, pixel_max: float) -> np.ndarray:
        """(N, C, H, W) pixels -> (N, C, H, W) float32, scaled to [0, 1] and standardized."""
        mean = np.asarray(self.mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, np.float32).reshape(1, -1, 1, 1)
        scaled = images.astype(np.float32) / np.float32(pixel_max)
        scaled -= mean
        scaled /= std
        return scaled

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}
