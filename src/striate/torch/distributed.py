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

import contextlib
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
from striate.training.world import LAUNCHER_PID, World, world_from_env

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
    `threads` threads (default: its share of the usable cores), and wait; returns the job's
    exit status.

    If a rank fails, the others are stopped at once (they would otherwise wait for it in their
    next all-reduce until the collective timeout). A signal to the launcher ends the job as
    Ctrl-C ends one process (forward_signals), and no rank outlives the launcher, even a
    SIGKILLed one (training.world.follow_launcher)."""
    port = free_port()
    ranks = []
    for rank in range(nproc):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank),
               "WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               LAUNCHER_PID: str(os.getpid()),
               # each rank gets its share of the cores (--threads: each its own), not all of
               # them each
               "OMP_NUM_THREADS": str(threads or default_threads(nproc))}
        # A session of their own: a terminal's Ctrl-C reaches the launcher alone, which passes
        # it on once, in order.
        ranks.append(subprocess.Popen([sys.executable, "-m", "striate", *argv], env=env,
                                      start_new_session=True))
    with forward_signals(ranks) as received:
        code = wait_for(ranks, stopping=lambda: bool(received))
    return 128 + received[0] if received else code


FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def forward_signals(ranks: list[subprocess.Popen]):
    """While the job runs, SIGINT, SIGTERM and SIGHUP to the launcher stop it as Ctrl-C stops
    one process. The other ranks first hear (SIGUSR1) that the job is ending; then rank 0 gets
    SIGTERM, finishes the step its peers' collectives are in, says what was saved and how to
    resume, and exits; the others, which write nothing, end quietly as they lose it. Yields the
    signals received, in order."""
    received = []

    def forward(signum, frame):
        if not received:
            for process in ranks[1:]:
                if process.poll() is None:
                    process.send_signal(signal.SIGUSR1)
            if ranks[0].poll() is None:
                ranks[0].send_signal(signal.SIGTERM)
        received.append(signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def wait_for(ranks: list[subprocess.Popen], stopping=lambda: False) -> int:
    """The job's exit status. Ranks that all end alike (success, a divergence, an interrupt)
    have said why themselves; one rank failing alone is reported here, the others stopped.
    stopping(): whether the launcher is ending the job (forward_signals), when no rank is to
    blame."""
    while any(process.poll() is None for process in ranks):
        if any(process.poll() not in (None, 0) for process in ranks):
            settle(ranks, GRACE_S)
            break
        time.sleep(POLL_S)
    codes = [process.poll() for process in ranks]
    if stopping():
        stop(ranks)
        return 0
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
