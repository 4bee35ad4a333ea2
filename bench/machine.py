"""What the hardware can do, measured in the same run as the benchmark it scales: physical cores,
matmul peak FLOP/s, and the FLOPs a model spends per image."""

import os
import time
from pathlib import Path

import torch
from torch import nn

PEAK_SIDES = (512, 1024, 2048)  # square matmul sizes; the best of them is the peak
PEAK_REPEAT = 5                 # timed products per size and dtype


def physical_cores() -> int:
    """Cores this process may run on, counting hyper-threads once: a second thread on one core
    shares its FMA units, so BLAS and oneDNN gain nothing from it."""
    cores = set()
    for cpu in os.sched_getaffinity(0):
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text(),
                       (topology / "core_id").read_text()))
        except OSError:  # no sysfs (a container may hide it): count logical CPUs
            cores.add(cpu)
    return len(cores)


def matmul_gflops(dtype: torch.dtype, side: int) -> float:
    """Best of PEAK_REPEAT (side x side) @ (side x side) products, in GFLOP/s (2 n^3 each)."""
    a, b = torch.randn(side, side).to(dtype), torch.randn(side, side).to(dtype)
    a @ b  # warm-up: oneDNN picks and packs its kernel on the first call
    best = float("inf")
    for _ in range(PEAK_REPEAT):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * side ** 3 / best / 1e9


def matmul_peak(dtype: torch.dtype) -> float:
    return max(matmul_gflops(dtype, side) for side in PEAK_SIDES)


def forward_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds x 2 of one image's forward pass through the convolutions and affine layers
    (activations, pooling and the loss are a rounding error next to them)."""
    flops = []

    def count(layer, inputs, output):
        if isinstance(layer, nn.Conv2d):
            per_output = layer.in_channels // layer.groups * layer.kernel_size[0] * \
                layer.kernel_size[1]
            flops.append(2 * output[0].numel() * per_output)
        else:
            flops.append(2 * layer.in_features * layer.out_features)

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape))
    model.train(was_training)
    for hook in hooks:
        hook.remove()
    return sum(flops)
