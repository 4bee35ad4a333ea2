"""How many threads striate computes with.

By default, the physical cores this process may run on: its CPU affinity (what `taskset`, a
batch scheduler or a container's cpuset allows), each core counted once however many
hyper-threads it has (a second thread on one core shares its FMA units, so BLAS and oneDNN gain
nothing from it), and no more than a cgroup CPU quota grants. Not the machine's count: two jobs
sharing a machine that each take every core oversubscribe it, and OpenMP's spinning threads then
slow both by up to 20x. A data-parallel rank takes its share (cores // ranks). OMP_NUM_THREADS,
when set, is the user's own choice and wins over the default; --threads wins over both.
"""

import importlib.util
import math
import os
from pathlib import Path


def usable_cores() -> int:
    """Physical cores in this process's CPU affinity, capped by its cgroup CPU quota."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count()
                                                                                 or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:  # no sysfs (some containers hide it): count logical CPUs
            cores.add(cpu)
    return max(1, min(len(cores), cpu_quota() or len(cores)))


def cpu_quota(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    """The CPUs a cgroup v2 quota grants ("200000 100000": 2), rounded up; None when
    unlimited or unknown."""
    try:
        quota, period = path.read_text().split()[:2]
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):   # no cgroup v2 file, or "max 100000": no quota
        return None


def default_threads(ranks: int = 1) -> int:
    """OMP_NUM_THREADS if the user set it, else this process's share of the usable cores."""
    try:
        chosen = int(os.environ["OMP_NUM_THREADS"])
        if chosen > 0:
            return chosen
    except (KeyError, ValueError):
        pass
    return max(1, usable_cores() // max(1, ranks))


def use_threads(count: int | None = None) -> int:
    """Compute with `count` threads (None: default_threads() for this process's data-parallel
    share): torch's intra-op pool, when torch is installed, and NumPy's BLAS. Returns the
    count. Process-wide, as torch.set_num_threads is."""
    count = count or default_threads(ranks())
    if torch_installed():   # the NumPy engine runs without it
        import torch

        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=count, user_api="blas")
    return count


def torch_installed() -> bool:
    """Whether PyTorch can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:  # an import hook that refuses it
        return False


def ranks() -> int:
    """This job's data-parallel processes (torchrun's WORLD_SIZE), 1 outside one."""
    size = os.environ.get("WORLD_SIZE", "")
    return int(size) if size.isdigit() and int(size) > 0 else 1
