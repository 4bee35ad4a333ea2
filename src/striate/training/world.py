"""Where this process stands among the ranks of a data-parallel job (see torch/distributed.py).

Engine-independent, so that the session and both engines can ask "am I rank 0?" alike; a
single process is World(). The ranks are described by the environment torchrun defines.
"""

import os
from dataclasses import dataclass

from striate.errors import StriateError


@dataclass(frozen=True)
class World:
    """This process's place among the ranks; World() is a single process."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, indices):
        """This rank's consecutive part of a minibatch's (B,) indices (sizes differ by <= 1)."""
        return indices.tensor_split(self.size)[self.rank] if self.size > 1 else indices

    def sum_(self, *tensors) -> None:
        """Sum each torch tensor over the ranks, in place."""
        if self.size > 1:
            import torch.distributed as dist

            for tensor in tensors:
                dist.all_reduce(tensor)


def world_from_env() -> World:
    """The World torchrun (or `striate train --nproc`) described in the environment."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise StriateError("RANK, WORLD_SIZE and LOCAL_RANK must be integers; start ranks with "
                           "`striate train --nproc N` or torchrun") from None
