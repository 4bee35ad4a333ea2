"""Naive loops vs fast (im2col, strided windows) convolution and max pooling, forward and backward.

convolution: x (100, 3, 31, 31), w (25, 3, 3, 3), stride 2, pad 1 (cs231n's fast-layer check);
max pooling: x (100, 3, 32, 32), 2x2 windows, stride 2. float64, as in the assignments. The naive
loops take seconds, so they run only --naive-repeat times; the fast versions run --repeat times,
interleaved with them so that drifting machine load hits both alike. Reported: median and spread
(min-max) per pass, and the speedup naive / fast of the medians.

    python bench/bench_numpy_layers.py [--repeat N] [--naive-repeat N]
"""

import argparse
import json
import statistics
import time

import numpy as np

from striate.numpy import fast_layers, layers

CONV_X, CONV_W, CONV_PARAM = (100, 3, 31, 31), (25, 3, 3, 3), {"stride": 2, "pad": 1}
POOL_X, POOL_PARAM = (100, 3, 32, 32), {"pool_height": 2, "pool_width": 2, "stride": 2}


def conv_case(rng):
    """(inputs, naive (forward, backward), fast (forward, backward)) for the convolution."""
    inputs = (rng.standard_normal(CONV_X), rng.standard_normal(CONV_W),
              rng.standard_normal(CONV_W[0]), CONV_PARAM)
    return (inputs, (layers.conv_forward_naive, layers.conv_backward_naive),
            (fast_layers.conv_forward_fast, fast_layers.conv_backward_fast))


def pool_case(rng):
    """(inputs, naive (forward, backward), fast (forward, backward)) for the max pooling."""
    return ((rng.standard_normal(POOL_X), POOL_PARAM),
            (layers.max_pool_forward_naive, layers.max_pool_backward_naive),
            (fast_layers.max_pool_forward_fast, fast_layers.max_pool_backward_fast))


def timed_pass(forward, backward, inputs, dout):
    """One forward and one backward pass. Returns (forward_s, backward_s, out, grads)."""
    start = time.perf_counter()
    out, cache = forward(*inputs)
    middle = time.perf_counter()
    grads = backward(dout, cache)
    return middle - start, time.perf_counter() - middle, out, grads


def summary(seconds: list[float]) -> dict:
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "max_s": max(seconds),
            "runs": len(seconds)}


def bench(case, repeat: int, naive_repeat: int) -> dict:
    inputs, naive, fast = case
    dout = np.random.default_rng(1).standard_normal(fast[0](*inputs)[0].shape)
    times = {version: {"forward": [], "backward": [], "forward+backward": []}
             for version in ("naive", "fast")}
    results = {}
    timed_pass(*fast, inputs, dout)     # warm-up: allocator, BLAS threads
    for run in range(max(repeat, naive_repeat)):
        for version, functions, runs in (("naive", naive, naive_repeat), ("fast", fast, repeat)):
            if run < runs:
                forward_s, backward_s, out, grads = timed_pass(*functions, inputs, dout)
                results[version] = (out, grads)
                for key, value in (("forward", forward_s), ("backward", backward_s),
                                   ("forward+backward", forward_s + backward_s)):
                    times[version][key].append(value)
    check_equal(*results["naive"], *results["fast"])
    report = {version: {key: summary(t) for key, t in passes.items()}
              for version, passes in times.items()}
    report["speedup"] = {key: report["naive"][key]["median_s"] / report["fast"][key]["median_s"]
                         for key in times["naive"]}
    return report


def check_equal(naive_out, naive_grads, fast_out, fast_grads):
    """A speedup only counts if the fast version computes the same thing."""
    naive_grads = naive_grads if isinstance(naive_grads, tuple) else (naive_grads,)
    fast_grads = fast_grads if isinstance(fast_grads, tuple) else (fast_grads,)
    for naive_array, fast_array in zip((naive_out, *naive_grads), (fast_out, *fast_grads)):
        np.testing.assert_allclose(fast_array, naive_array, rtol=1e-9, atol=1e-9)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed runs of each fast version (default: %(default)s)")
    parser.add_argument("--naive-repeat", type=int, default=2,
                        help="timed runs of each naive version, seconds each "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    return {"conv": bench(conv_case(rng), args.repeat, args.naive_repeat),
            "max_pool": bench(pool_case(rng), args.repeat, args.naive_repeat)}


def table(result: dict) -> str:
    rows = ["| layer | pass | naive median (s) | naive spread (s) | fast median (ms) | "
            "fast spread (ms) | speedup |", "|---|---|---|---|---|---|---|"]
    for layer, report in result.items():
        for key, speedup in report["speedup"].items():
            naive, fast = report["naive"][key], report["fast"][key]
            rows.append(f"| {layer} | {key} | {naive['median_s']:.3f} | {naive['min_s']:.3f}-"
                        f"{naive['max_s']:.3f} | {fast['median_s'] * 1e3:.2f} | "
                        f"{fast['min_s'] * 1e3:.2f}-{fast['max_s'] * 1e3:.2f} | {speedup:.0f}x |")
    return "\n".join(rows)


if __name__ == "__main__":
    outcome = main()
    print(json.dumps(outcome, indent=2))
    print(table(outcome))
