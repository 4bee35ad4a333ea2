"""One training step of cs231n's ThreeLayerConvNet, NumPy engine vs torch engine, on the CPU.

batch 50 of 3x32x32, 32 filters of 7x7, 100 hidden units, float32, Adam; the two engines are
timed alternately, several repetitions each, and the median and spread are reported with the
ratio numpy / torch.

    python bench/bench_engines.py [--repeat N]
"""

import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from striate.numpy import optim
from striate.numpy.models import create_model as create_numpy_model
from striate.torch.models import create_model as create_torch_model

SHAPE, CLASSES, BATCH = (3, 32, 32), 10, 50
OPTIONS = {"num_filters": 32, "filter_size": 7, "hidden_dim": 100}


def numpy_step(model, configs, x, y):
    _, grads = model.loss(x, y)
    for name, value in model.params.items():
        model.params[name], configs[name] = optim.adam(value, grads[name], configs[name])


def torch_step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def seconds(step, *args) -> float:
    start = time.perf_counter()
    step(*args)
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed steps per engine")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, *SHAPE)).astype(np.float32)
    y = rng.integers(0, CLASSES, BATCH)
    numpy_model = create_numpy_model("convnet3", SHAPE, CLASSES, **OPTIONS)
    configs = {name: {"learning_rate": 1e-3} for name in numpy_model.params}
    torch_model = create_torch_model("convnet3", SHAPE, CLASSES, **OPTIONS)
    optimizer = torch.optim.Adam(torch_model.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(2):  # warm-up: allocator, BLAS threads, torch's lazy imports
        numpy_step(numpy_model, configs, x, y)
        torch_step(torch_model, optimizer, tx, ty)
    times = {"numpy": [], "torch": []}
    for _ in range(args.repeat):  # alternate, so drifting machine load hits both alike
        times["numpy"].append(seconds(numpy_step, numpy_model, configs, x, y))
        times["torch"].append(seconds(torch_step, torch_model, optimizer, tx, ty))
    result = {name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t)}
              for name, t in times.items()}
    result["ratio_numpy_over_torch"] = result["numpy"]["median_s"] / result["torch"]["median_s"]
    return {"convnet3_train_step": result}


def table(result: dict) -> str:
    r = result["convnet3_train_step"]
    rows = ["| engine | median step (ms) | spread (ms) |", "|---|---|---|"]
    rows += [f"| {name} | {r[name]['median_s'] * 1e3:.1f} | {r[name]['min_s'] * 1e3:.1f}-"
             f"{r[name]['max_s'] * 1e3:.1f} |" for name in ("numpy", "torch")]
    return "\n".join(rows) + f"\n\nnumpy / torch = {r['ratio_numpy_over_torch']:.2f}x"


if __name__ == "__main__":
    outcome = main()
    print(json.dumps(outcome, indent=2))
    print(table(outcome))
