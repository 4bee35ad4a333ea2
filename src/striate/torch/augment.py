"""Data augmentation on whole minibatches, on the device the batch lives on.

A per-sample transform pipeline (torchvision's) spends Python time on every image; here one
random rotation, zoom, crop, shift, flip or erasure of a batch is a handful of tensor operations
whatever its size. The randomness comes from a generator seeded by (seed, epoch), never from the
global RNG, so a run is repeatable and a run resumed at an epoch boundary sees exactly the
perturbations it would have.
"""

import math

import torch
import torch.nn.functional as F

from striate.config import AugmentConfig


def random_shift(images: torch.Tensor, max_shift: int, mode: str,
                 generator: torch.Generator) -> torch.Tensor:
    """Pad by max_shift on each side (`mode`: reflect or constant zeros) and crop back to H x W at
    an independent random offset per image: a random translation by up to max_shift pixels."""
    n, _, height, width = images.shape                                   # (N, C, H, W)
    padded = F.pad(images, (max_shift,) * 4, mode=mode)                 # (N, C, H+2s, W+2s)
    offsets = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator,
                            device=images.device)
    rows = offsets[0, :, None] + torch.arange(height, device=images.device)   # (N, H)
    cols = offsets[1, :, None] + torch.arange(width, device=images.device)    # (N, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    # Gathering from the NHWC view yields (N, H, W, C); permuting back gives NCHW values in
    # channels_last memory, the layout convolutions prefer.
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_affine(images: torch.Tensor, max_degrees: float, max_zoom: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Rotate each image by an angle drawn from [-max_degrees, max_degrees] and zoom it by a
    factor from [1 - max_zoom, 1 + max_zoom], both about its centre, resampled bilinearly.

    Pixels that come from outside the image repeat its border, which on MNIST-like data is the
    background: a fill of zeros would be the mean grey once standardized, a frame no test image
    has."""
    n, _, height, width = images.shape
    uniform = torch.rand(2, n, generator=generator, device=images.device) * 2 - 1
    angle = uniform[0] * math.radians(max_degrees)                     # (N,)
    zoom = 1 + uniform[1] * max_zoom                                   # (N,)
    # affine_grid maps output coordinates to input ones: the inverse of the zoom, so a zoom > 1
    # enlarges the digit. Both axes span [-1, 1] whatever their pixels, so the off-diagonal
    # terms carry the aspect ratio: a rotation of pixels, not a shear, when H != W.
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    aspect = height / width                       # exactly 1.0 for square images
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin * aspect, zero], 1),
                         torch.stack([sin / aspect, cos, zero], 1)], 1)          # (N, 2, 3)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=generator, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def random_erase(images: torch.Tensor, probability: float,
                 generator: torch.Generator) -> torch.Tensor:
    """Random erasing (Zhong et al. 2017): with the given probability, zero a rectangle of each
    image, of 2% to 40% of its area and an aspect ratio from 0.3 to 3.3 (log-uniform), placed
    uniformly where it fits. Zero is the mean once standardized, as in torchvision's default."""
    n, _, height, width = images.shape
    draws = torch.rand(5, n, generator=generator, device=images.device)
    area = (0.02 + 0.38 * draws[0]) * height * width                     # (N,) pixels
    aspect = torch.exp(math.log(0.3) * (1 - 2 * draws[1]))               # (N,) height / width
    rect_h = (area * aspect).sqrt().round().clamp(1, height)
    rect_w = (area / aspect).sqrt().round().clamp(1, width)
    top = (draws[2] * (height - rect_h + 1)).floor()
    left = (draws[3] * (width - rect_w + 1)).floor()
    rows = torch.arange(height, device=images.device)                    # (H,)
    cols = torch.arange(width, device=images.device)                     # (W,)
    in_rows = (rows >= top[:, None]) & (rows < (top + rect_h)[:, None])  # (N, H)
    in_cols = (cols >= left[:, None]) & (cols < (left + rect_w)[:, None])  # (N, W)
    erased = (draws[4] < probability)[:, None, None] & in_rows[:, :, None] & in_cols[:, None, :]
    return images.masked_fill(erased[:, None], 0)                        # (N, C, H, W)


class BatchAugment:
    def __init__(self, config: AugmentConfig, seed: int, device: torch.device):
        self.config = config
        self.seed = seed
        self.generator = torch.Generator(device=device)

    @property
    def enabled(self) -> bool:
        return self.config.perturbs_images

    def start_epoch(self, epoch: int) -> None:
        # Distinct streams per (seed, epoch), as striate.training.order does for the permutation.
        self.generator.manual_seed((self.seed * 1_000_003 + epoch + 1) % 2 ** 63)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:    # (N, C, H, W) -> same
        c = self.config
        if c.rotate or c.scale:
            images = random_affine(images, c.rotate, c.scale, self.generator)
        if c.crop_padding:
            images = random_shift(images, c.crop_padding, "reflect", self.generator)
        if c.translate:
            images = random_shift(images, c.translate, "constant", self.generator)
        if c.flip:
            images = random_flip(images, self.generator)
        if c.erase:
            images = random_erase(images, c.erase, self.generator)
        return images
