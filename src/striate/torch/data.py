"""Device-resident data: the Deep Learning Tutorials' "shared variables" advice, done properly.

Each split is copied to the device once, as one float tensor scaled to [0, 1]; an epoch is a
permutation of indices and a minibatch is an index gather on the device. No per-sample Python
and no DataLoader workers are involved, so the accelerator (or the CPU's BLAS) is never starved.
"""

import torch

from striate.data import Split, Standardize


class DeviceSplit:
    def __init__(self, split: Split, pixel_max: float, standardize: Standardize,
                 device: torch.device):
        # Copy in the on-disk dtype (uint8 is 4x smaller to move), convert on the device.
        images = torch.from_numpy(split.images).to(device, non_blocking=True)
        self.images = standardize_(images.float().div_(pixel_max), standardize)  # (N, C, H, W)
        self.labels = torch.from_numpy(split.labels).to(device, non_blocking=True)  # (N,) int64

    def __len__(self) -> int:
        return self.labels.shape[0]

    def chunks(self, batch_size: int):
        """Consecutive (images, labels) slices, for evaluation: views, no copies."""
        for start in range(0, len(self), batch_size):
            yield self.images[start:start + batch_size], self.labels[start:start + batch_size]


def standardize_(images: torch.Tensor, standardize: Standardize) -> torch.Tensor:
    """In place: (images in [0, 1] - mean) / std per channel; images (N, C, H, W) float32.

    Standardize.apply computes the same in numpy; it is not reused here because torch's
    division rounds differently in the last bit and the documented figures were measured with
    this one."""
    mean = torch.tensor(standardize.mean, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(standardize.std, device=images.device).view(1, -1, 1, 1)
    return images.sub_(mean).div_(std)
