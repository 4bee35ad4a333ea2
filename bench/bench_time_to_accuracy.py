"""Time to accuracy: each time-to-accuracy recipe (striate.recipes, those with a Target), from the
command's start to its exit, beside two references run the same way in the same session.

A recipe runs as `striate train --recipe NAME --seed S` in a fresh process, once per seed; its
figure is the mean test accuracy over the seeds and the median wall time, both against the
recipe's target. Start-up (imports, data loading, preprocessing: the command's start to its
first training step, from run.json's started_unix) is reported on its own. The references:

- `pytorch-example`: the standard PyTorch example's network, optimizer, loader and loop
  (bench/reference_example.py), 14 epochs, testing after each;
- `lenet-dataloader`: the tutorial's LeNet through the standard DataLoader recipe
  (bench/reference.py), momentum and cosine, testing after each epoch.

Every contender's accuracy against wall seconds goes into one plot, docs/images/
time-to-accuracy.png (a run of some recipes, of other seeds or without the references puts it
in the temporary directory instead, so that the page's plot stays its table's): the references'
test accuracy after each epoch, and each recipe's test accuracy at the command's exit, one point
per seed (the recipes validate only once, at the end: evaluation during a run of fixed length is
time not spent training).

On paper, one GPU: each recipe's training FLOPs (images seen x 3 forward passes, counted by
machine.forward_flops), the fraction of this CPU's matmul peak its training reached, and what
the same fraction of an H100's peak would take, beside the floor that kernel launches set.

    python bench/bench_time_to_accuracy.py [--quick] [--seeds N] [--recipes A,B]
                                           [--no-references]
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from striate.recipes import RECIPES, Target

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import machine  # noqa: E402
PLOT = BENCH.parent / "docs" / "images" / "time-to-accuracy.png"
# What has been measured so far, rewritten after every contender: a long session that fails
# late keeps its figures.
PARTIAL = Path(tempfile.gettempdir()) / "striate-time-to-accuracy.json"
# A run of some recipes, or without the references, plots beside it: the page's plot shows the
# same full run as the page's table.
PARTIAL_PLOT = PARTIAL.with_suffix(".png")
SEEDS = 5
# One H100 SXM, dense: NVIDIA's data sheet (989 TFLOP/s bf16 and fp16 tensor cores, 67 fp32).
H100_PEAK = {"bf16": 989e12, "fp32": 67e12}
LAUNCH_S = 10e-6   # a CUDA kernel launch from eager PyTorch, roughly; ~3 per layer per step
REFERENCES = {"pytorch-example": [str(BENCH / "reference_example.py")],
              "lenet-dataloader": [str(BENCH / "reference.py")]}
# --quick: the harness in seconds, on the bundled digits; its figures mean nothing
QUICK = {"digits-smoke": (["--dataset", "digits", "--model", "mlp", "--epochs", "2"],
                          Target(0.5, 60.0))}


def launch(argv: list[str], threads: int | None) -> tuple[subprocess.Popen, float]:
    environment = dict(os.environ)
    if threads:
        environment["OMP_NUM_THREADS"] = str(threads)
    started = time.time()
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment), started


def finish(process: subprocess.Popen, started: float) -> tuple[str, float]:
    out, err = process.communicate()
    elapsed = time.time() - started
    if process.returncode:
        raise RuntimeError(f"{' '.join(process.args)} failed:\n{err}")
    return out, elapsed


def run_recipe(flags: list[str], seed: int, threads: int | None) -> dict:
    """One `striate train` command: its wall time, start-up, test accuracy and training work."""
    with tempfile.TemporaryDirectory() as out_dir:
        process, started = launch([sys.executable, "-m", "striate", "train", *flags,
                                   "--seed", str(seed), "--out-dir", out_dir, "--name", "run",
                                   "--progress", "off"], threads)
        _, elapsed = finish(process, started)
        run = Path(out_dir) / "run"
        metrics = json.loads((run / "metrics.json").read_text())
        startup = json.loads((run / "run.json").read_text())["started_unix"] - started
        with open(run / "metrics.csv") as rows:
            last = list(csv.DictReader(rows))[-1]
        work = training_work(run, int(last["iteration"]), float(last["time_s"]))
    return {"seconds": elapsed, "startup_s": startup, "test_accuracy": metrics["test_accuracy"],
            "epochs": metrics["epochs"], **work}


def training_work(run: Path, iterations: int, training_s: float) -> dict:
    """The run's training FLOPs (images seen x 3 forward passes), steps, layers and precision,
    from its config and checkpoint metadata."""
    from striate.checkpoint import load_weights
    from striate.config import config_from_yaml
    from striate.torch.models import create_model

    config = config_from_yaml(run / "config.yaml")
    _, meta = load_weights(run)
    model = create_model(meta["model"], tuple(meta["input_shape"]), len(meta["class_names"]),
                         **meta["model_args"])
    forward = machine.forward_flops(model, tuple(meta["input_shape"]))
    layers = sum(1 for _ in model.modules() if not list(_.children()))
    return {"forward_flops": forward, "steps": iterations, "layers": layers,
            "train_flops": 3 * forward * iterations * config.optim.batch_size,
            "training_s": training_s,
            "precision": "bf16" if config.run.precision in ("bf16", "auto") else "fp32"}


def run_reference(name: str, dataset: str, threads: int | None) -> dict:
    process, started = launch([sys.executable, *REFERENCES[name], "--dataset", dataset],
                              threads)
    out, elapsed = finish(process, started)
    lines = [json.loads(line) for line in out.splitlines()]
    curve = [(line["at"] - started, line["test_accuracy"]) for line in lines if "epoch" in line]
    return {"seconds": elapsed, "startup_s": lines[0]["started"] - started,
            "test_accuracy": curve[-1][1], "epochs": len(curve), "curve": curve}


def recipe_plan(names: list[str] | None, quick: bool) -> dict:
    """{name: (flags, target, data set)} of the recipes to time."""
    if quick:
        return {name: (flags, target, "digits") for name, (flags, target) in QUICK.items()}
    chosen = [RECIPES[name] for name in names] if names else \
        [recipe for recipe in RECIPES.values() if recipe.target]
    return {recipe.name: (["--recipe", recipe.name], recipe.target,
                          recipe.settings.get("data", {}).get("dataset", "fashion-mnist"))
            for recipe in chosen}


def summarize(runs: list[dict], target: Target, peaks: dict) -> dict:
    accuracies = [run["test_accuracy"] for run in runs]
    seconds = statistics.median(run["seconds"] for run in runs)
    mean = statistics.fmean(accuracies)
    first = runs[0]
    achieved = first["train_flops"] / first["training_s"]
    fraction = achieved / peaks[first["precision"]]
    return {"target": {"accuracy": target.accuracy, "seconds": target.seconds},
            "forward_mflops": first["forward_flops"] / 1e6,
            "train_tflops": first["train_flops"] / 1e12, "cpu_gflops": achieved / 1e9,
            "fraction_of_peak": fraction, "precision": first["precision"],
            "h100_compute_s": first["train_flops"] / (H100_PEAK[first["precision"]] * fraction),
            "h100_launch_floor_s": first["steps"] * 3 * first["layers"] * LAUNCH_S,
            "test_accuracy": accuracies, "mean_accuracy": mean, "seconds": seconds,
            "seconds_each": [run["seconds"] for run in runs],
            "startup_s": statistics.median(run["startup_s"] for run in runs),
            "epochs": runs[0]["epochs"],
            "exits": [(run["seconds"], run["test_accuracy"]) for run in runs],
            "met": mean >= target.accuracy and seconds <= target.seconds}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one tiny digits command, no references: checks the harness")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"seeds per recipe (default: {SEEDS}; 1 with --quick)")
    parser.add_argument("--recipes", default=None, help="comma-separated recipe names "
                        "(default: every recipe with a time-to-accuracy target)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS for every command (default: each its own, the "
                             "physical cores it may use)")
    parser.add_argument("--reference-datasets", default="fashion-mnist",
                        help="comma-separated data sets the references run on (default: "
                             "fashion-mnist, the one the issue measured them on; the example "
                             "takes about 11 minutes per data set)")
    parser.add_argument("--no-references", action="store_true")
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else SEEDS)
    shared = BENCH.parent.parent / "shared" / "data"   # this project's real MNIST
    if "STRIATE_DATA" not in os.environ and (shared / "mnist").is_dir():
        os.environ["STRIATE_DATA"] = str(shared)
    plan = recipe_plan(args.recipes.split(",") if args.recipes else None, args.quick)
    peaks = {"fp32": machine.matmul_peak(torch.float32) * 1e9,
             "bf16": machine.matmul_peak(torch.bfloat16) * 1e9}
    recipes = {}
    for name, (flags, target, _) in plan.items():
        runs = []
        for seed in range(seeds):
            runs.append(run_recipe(flags, seed, args.threads))
            print(f"  {name} seed {seed}: {runs[-1]['test_accuracy']:.4f} in "
                  f"{runs[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
        recipes[name] = summarize(runs, target, peaks)
        PARTIAL.write_text(json.dumps({"recipes": recipes}, indent=2))
    references = {}
    if not (args.quick or args.no_references):
        for dataset in args.reference_datasets.split(","):
            for name in REFERENCES:
                print(f"  {name} on {dataset}", file=sys.stderr, flush=True)
                references[f"{name} ({dataset})"] = run_reference(name, dataset, args.threads)
                PARTIAL.write_text(json.dumps({"recipes": recipes, "references": references},
                                              indent=2))
    result = {"seeds": seeds, "threads": args.threads, "torch": torch.__version__,
              "matmul_peak_gflops": {name: peak / 1e9 for name, peak in peaks.items()},
              "recipes": recipes, "references": references}
    if not args.quick:
        full = not (args.recipes or args.no_references or args.seeds)
        plot(result, PLOT if full else PARTIAL_PLOT)
        print(f"plot: {PLOT if full else PARTIAL_PLOT}", file=sys.stderr)
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 5.5))
    for name, entry in result["references"].items():
        seconds, accuracy = zip(*entry["curve"])
        axis.plot(seconds, [100 * a for a in accuracy], marker="o", markersize=3,
                  label=f"{name}: test after each epoch", linestyle="--")
    for name, entry in result["recipes"].items():
        seconds, accuracy = zip(*entry["exits"])
        axis.plot(seconds, [100 * a for a in accuracy], marker="o", markersize=4,
                  linestyle="none", label=f"{name}: test at exit, each seed")
    for entry in result["recipes"].values():
        target = entry["target"]
        axis.plot(target["seconds"], 100 * target["accuracy"], marker="*", markersize=12,
                  color="black", linestyle="none")
    axis.set(xscale="log", xlabel="seconds from the command's start", ylabel="accuracy (%)",
             title="Time to accuracy on this 2-core CPU (stars: the targets)", ylim=(85, 100))
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def table(result: dict) -> str:
    lines = ["| recipe | target | seeds' test accuracy | mean | wall time (median) | "
             "start-up | met |", "|---|---|---|---|---|---|---|"]
    for name, entry in result["recipes"].items():
        target = Target(**entry["target"])
        accuracies = " ".join(f"{a:.2%}" for a in entry["test_accuracy"])
        lines.append(f"| `{name}` | {target.accuracy:.1%} in {target.seconds:g} s | "
                     f"{accuracies} | {entry['mean_accuracy']:.2%} | {entry['seconds']:.1f} s | "
                     f"{entry['startup_s']:.1f} s | {'yes' if entry['met'] else 'no'} |")
    if result["references"]:
        lines += ["", "| reference | epochs | final test accuracy | wall time | start-up |",
                  "|---|---|---|---|---|"]
        for name, entry in result["references"].items():
            lines.append(f"| {name} | {entry['epochs']} | {entry['test_accuracy']:.2%} | "
                         f"{entry['seconds']:.1f} s | {entry['startup_s']:.1f} s |")
    startups = [f"{name} {entry['startup_s']:.1f} s" for name, entry in
                {**result["recipes"], **result["references"]}.items()]
    lines += ["", f"start-up (the command's start to its first training step): "
                  f"{', '.join(startups)}", "", paper_lines(result)]
    return "\n".join(lines)


def paper_lines(result: dict) -> str:
    """Each recipe on one H100, from its FLOPs and the fraction of peak it reached here."""
    peaks = result["matmul_peak_gflops"]
    lines = [f"On paper, one H100 (this CPU's matmul peak: {peaks['fp32']:.0f} GFLOP/s fp32, "
             f"{peaks['bf16']:.0f} bf16; launch floor: {LAUNCH_S * 1e6:.0f} us x 3 kernels "
             "per layer per step):", "",
             "| recipe | forward MFLOP/image | training TFLOP | here: GFLOP/s (of peak) | "
             "H100 at that fraction | launch floor |", "|---|---|---|---|---|---|"]
    for name, entry in result["recipes"].items():
        lines.append(f"| `{name}` | {entry['forward_mflops']:.2f} | {entry['train_tflops']:.2f} "
                     f"| {entry['cpu_gflops']:.0f} ({entry['fraction_of_peak']:.0%} of "
                     f"{entry['precision']}) | {entry['h100_compute_s']:.3f} s | "
                     f"{entry['h100_launch_floor_s']:.2f} s |")
    return "\n".join(lines)


if __name__ == "__main__":
    outcome = main()
    print(json.dumps(outcome, indent=2))
    print(table(outcome))
