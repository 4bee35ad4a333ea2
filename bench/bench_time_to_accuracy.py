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
time-to-accuracy.png: the references' test accuracy after each epoch, a recipe's validation
accuracy after each epoch (its first seed), and its final test accuracy at the command's exit.

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

from striate.recipes import RECIPES, Target

BENCH = Path(__file__).resolve().parent
PLOT = BENCH.parent / "docs" / "images" / "time-to-accuracy.png"
SEEDS = 5
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
    """One `striate train` command: its wall time, start-up, test accuracy and curve."""
    with tempfile.TemporaryDirectory() as out_dir:
        process, started = launch([sys.executable, "-m", "striate", "train", *flags,
                                   "--seed", str(seed), "--out-dir", out_dir, "--name", "run",
                                   "--progress", "off"], threads)
        _, elapsed = finish(process, started)
        run = Path(out_dir) / "run"
        metrics = json.loads((run / "metrics.json").read_text())
        startup = json.loads((run / "run.json").read_text())["started_unix"] - started
        with open(run / "metrics.csv") as rows:
            curve = [(startup + float(row["time_s"]), float(row["valid_accuracy"]))
                     for row in csv.DictReader(rows)]
    return {"seconds": elapsed, "startup_s": startup, "test_accuracy": metrics["test_accuracy"],
            "epochs": metrics["epochs"], "curve": [*curve, (elapsed, metrics["test_accuracy"])]}


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


def summarize(runs: list[dict], target: Target) -> dict:
    accuracies = [run["test_accuracy"] for run in runs]
    seconds = statistics.median(run["seconds"] for run in runs)
    mean = statistics.fmean(accuracies)
    return {"target": {"accuracy": target.accuracy, "seconds": target.seconds},
            "test_accuracy": accuracies, "mean_accuracy": mean, "seconds": seconds,
            "seconds_each": [run["seconds"] for run in runs],
            "startup_s": statistics.median(run["startup_s"] for run in runs),
            "epochs": runs[0]["epochs"], "curve": runs[0]["curve"],
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
    parser.add_argument("--no-references", action="store_true")
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else SEEDS)
    plan = recipe_plan(args.recipes.split(",") if args.recipes else None, args.quick)
    recipes = {}
    for name, (flags, target, _) in plan.items():
        runs = []
        for seed in range(seeds):
            runs.append(run_recipe(flags, seed, args.threads))
            print(f"  {name} seed {seed}: {runs[-1]['test_accuracy']:.4f} in "
                  f"{runs[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
        recipes[name] = summarize(runs, target)
    references = {}
    if not (args.quick or args.no_references):
        for dataset in sorted({dataset for *_, dataset in plan.values()}):
            for name in REFERENCES:
                print(f"  {name} on {dataset}", file=sys.stderr, flush=True)
                references[f"{name} ({dataset})"] = run_reference(name, dataset, args.threads)
    result = {"seeds": seeds, "threads": args.threads, "recipes": recipes,
              "references": references}
    if not args.quick:
        plot(result, PLOT)
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 5.5))
    for name, entry in {**result["references"], **result["recipes"]}.items():
        seconds, accuracy = zip(*entry["curve"])
        axis.plot(seconds, [100 * a for a in accuracy], marker="o", markersize=3, label=name,
                  linestyle="--" if name in result["references"] else "-")
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
                  f"{', '.join(startups)}"]
    return "\n".join(lines)


if __name__ == "__main__":
    outcome = main()
    print(json.dumps(outcome, indent=2))
    print(table(outcome))
