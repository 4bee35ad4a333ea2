"""Where this process stands among the ranks of a data-parallel job (see torch/distributed.py).

Engine-independent, so that the session and both engines can ask "am I rank 0?" alike; a
single process is World(). The ranks are described by the environment torchrun defines.
"""

import contextlib
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

    def bounds(self, count: int) -> tuple[int, int]:
        """[start, stop) of this rank's consecutive share of `count` items (shares differ by
        at most one)."""
        return count * self.rank // self.size, count * (self.rank + 1) // self.size

    def sum_(self, *tensors) -> None:
        """Sum each torch tensor over the ranks, in place."""
        if self.size > 1:
            import torch.distributed as dist

            for tensor in tensors:
                dist.all_reduce(tensor)


    def leave(self) -> None:
        """End a finished job together: every rank waits for the others (rank 0 may still be
        writing), then the process group is closed; a rank that simply exited could take
        gloo's threads down mid-conversation (std::terminate, signal 6)."""
        if self.size > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.barrier()
                dist.destroy_process_group()

    @contextlib.contextmanager
    def lost_contact(self):
        """A collective that fails because another rank died becomes one line naming this rank,
        where the failing rank's own message (or the launcher's) says why."""
        try:
            yield
        except RuntimeError as error:
            text = str(error)
            if self.size == 1 or not any(word in text for word in ("gloo", "NCCL", "Connection")):
                raise
            reason = text.split("] ", 1)[-1].splitlines()[0].split(". ")[0]
            raise StriateError(f"rank {self.rank} of {self.size} lost the other ranks ({reason}); "
                               "the failing rank's message says why") from None


def world_from_env() -> World:
    """The World torchrun (or `striate train --nproc`) described in the environment."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        raise StriateError("RANK, WORLD_SIZE and LOCAL_RANK must be integers; start ranks with "
                           "`striate train --nproc N` or torchrun") from None
