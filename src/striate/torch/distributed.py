"""Data-parallel training on PyTorch's own distributed engine (DistributedDataParallel).

N processes ("ranks") train one model. Every rank computes the same epoch permutation from the
seed; each global minibatch of --batch-size examples is cut into N consecutive shards, rank r
takes shard r, and DDP averages the gradients, so the update is that of one process on the
whole minibatch. Evaluation splits each data set the same way and sums the ranks' counts, so
every rank sees the same validation error and takes the same early-stopping decision. Only rank
0 writes the run directory.

Two ways to start the ranks, both ending in the environment torchrun defines (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT):
    striate train --nproc N ...                          one machine: striate starts N processes
    torchrun --nproc-per-node N -m striate train ...     torchrun's rendezvous, many machines
gloo is the backend on the CPU, NCCL on CUDA (rank r then uses GPU LOCAL_RANK).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import torch
import torch.distributed as dist

from striate.threads import default_threads
from striate.training.world import World, world_from_env

# A rank that waits this long for the others has lost them: fail rather than hang.
COLLECTIVE_TIMEOUT = timedelta(minutes=10)
POLL_S = 0.2   # how often the launcher looks at its ranks
GRACE_S = 5.0  # after one rank ends badly, how long the others may take to end the same way


def join(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group the environment describes; (world, this rank's device)."""
    world = world_from_env()
    if world.size == 1:
        return world, device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=COLLECTIVE_TIMEOUT)
    return world, device


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(argv: list[str], nproc: int, threads: int | None = None) -> int:
    """Start `python -m striate ARGV` as ranks 0..nproc-1 of one job on this machine, each with
    `threads` threads (default: its share of the usable cores), and wait.

    If a rank fails, the others are stopped at once (they would otherwise wait for it in their
    next all-reduce until the collective timeout); returns the job's exit status."""
    port = free_port()
    ranks = []
    for rank in range(nproc):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank),
               "WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               # each rank gets its share of the cores (--threads: each its own), not all of
               # them each
               "OMP_NUM_THREADS": str(threads or default_threads(nproc))}
        ranks.append(subprocess.Popen([sys.executable, "-m", "striate", *argv], env=env))
    try:
        return wait_for(ranks)
    except KeyboardInterrupt:  # Ctrl-C reached every rank too; let rank 0 save and report
        for process in ranks:
            process.wait()
        raise


def wait_for(ranks: list[subprocess.Popen]) -> int:
    """The job's exit status. Ranks that all end alike (success, a divergence, an interrupt)
    have said why themselves; one rank failing alone is reported here, the others stopped."""
    while any(process.poll() is None for process in ranks):
        if any(process.poll() not in (None, 0) for process in ranks):
            settle(ranks, GRACE_S)
            break
        time.sleep(POLL_S)
    codes = [process.poll() for process in ranks]
    if None not in codes and len(set(codes)) == 1:
        return codes[0]
    failures = [(code >= 0, rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
    _, rank, code = min(failures)  # a rank killed by a signal is the cause, not its survivors
    stop(ranks)
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    print(f"striate: error: rank {rank} of {len(ranks)} {how}, so the job was stopped (its "
          "messages are above; a run directory with a saved epoch resumes with --resume)",
          file=sys.stderr)
    return 1


def settle(ranks: list[subprocess.Popen], seconds: float) -> None:
    """Give the other ranks a moment to end on their own (a divergence ends all of them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(p.poll() is None for p in ranks):
        time.sleep(POLL_S)


def stop(ranks: list[subprocess.Popen]) -> None:
    for process in ranks:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # a rank saves what it can, as on Ctrl-C
    deadline = time.monotonic() + 10
    for process in ranks:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
