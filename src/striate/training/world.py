"""Where this process stands among the ranks of a data-parallel job (see torch/distributed.py).

Engine-independent, so that the session and both engines can ask "am I rank 0?" alike; a
single process is World(). The ranks are described by the environment torchrun defines.
"""

import contextlib
import ctypes
import os
import signal
import threading
from dataclasses import dataclass

from striate.errors import StriateError

LAUNCHER_PID = "STRIATE_LAUNCHER_PID"  # set by `striate train --nproc` for the ranks it starts
PR_SET_PDEATHSIG = 1                   # Linux prctl: a signal for when the parent dies
# Set when the launcher says the job is ending (SIGUSR1): losing the other ranks is then
# expected, and ends this rank quietly.
job_ending = threading.Event()


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
            if job_ending.is_set():   # the launcher is stopping the job: rank 0 has left
                raise KeyboardInterrupt from None
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


def follow_launcher() -> None:
    """In a rank that `striate train --nproc` started: end with the launcher, even a SIGKILLed
    one (Linux's parent-death signal, SIGTERM, which ends training as Ctrl-C does), and take
    SIGUSR1 as its word that the job is ending (see lost_contact). Torchrun's ranks and single
    processes have no LAUNCHER_PID and are left alone."""
    launcher = os.environ.get(LAUNCHER_PID)
    if launcher is None:
        return
    signal.signal(signal.SIGUSR1, lambda signum, frame: job_ending.set())
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):   # not Linux: the check below is all there is
        pass
    if str(os.getppid()) != launcher:   # the launcher died before prctl took effect
        raise KeyboardInterrupt
