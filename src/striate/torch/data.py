"""Device-resident data: the Deep Learning Tutorials' "shared variables" advice, done properly.

Each split is copied to the device once, as one float32 tensor already preprocessed; an epoch is
a permutation of indices and a minibatch is an index gather on the device. No per-sample Python
and no DataLoader workers are involved, so the accelerator (or the CPU's BLAS) is never starved.
On the CPU "copied" is a view: the tensor shares the preprocessed array's memory, since a copy
would double the data set's footprint (Fashion-MNIST: 220 MB) and nothing writes to it.
"""

import torch

from striate.data import Split


class DeviceSplit:
    def __init__(self, split: Split, device: torch.device):
        self.images = torch.from_numpy(split.images).to(device)             # (N, C, H, W)
        self.labels = torch.from_numpy(split.labels).to(device, non_blocking=True)  # (N,) int64

    def __len__(self) -> int:
        return self.labels.shape[0]

    def chunks(self, batch_size: int, start: int = 0, stop: int | None = None):
        """Consecutive (images, labels) slices of [start, stop), for evaluation: views."""
        stop = len(self) if stop is None else stop
        for first in range(start, stop, batch_size):
            last = min(first + batch_size, stop)
            yield self.images[first:last], self.labels[first:last]
