"""LeNet on Fashion-MNIST: striate against the standard PyTorch recipe (bench/reference.py).

Same model and initial weights, same optimizer (momentum SGD, weight decay on weights), same
cosine learning rate per step, same preprocessed data, same threads (the physical cores). The
contenders train one epoch each in turn, --repeat times, so drifting machine load hits them
alike; each epoch is followed by an evaluation of the validation split. Reported per contender:
training images/s (median, min-max), the ratio to the reference, the epoch's wall time (training
+ validation), evaluation images/s, the validation accuracy after each epoch (both really learn),
and training FLOP/s as a fraction of this machine's matmul peak, measured in the same run.
Then real `striate train` commands, timed from start to exit with their peak resident memory
and the test accuracy they reach: `--recipe fast`, the fastest to 91% and what `make demo` runs.

    python bench/bench_lenet.py [--quick] [--repeat N] [--threads N] [--no-commands]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import machine
import reference
from striate.config import TrainConfig
from striate.data import Split
from striate.torch.engine import build_learner
from striate.torch.learner import build_optimizer, evaluate_split
from striate.training.learner import TTA
from striate.training.world import World
from striate.torch.models import create_model
from striate.training.schedules import Schedule
from striate.data.pipeline import RunData, prepare

QUICK_IMAGES = 2048      # --quick: training and validation images per epoch, for a smoke test
TRAIN_FLOPS_PER_FORWARD = 3  # forward + backward (input and weight gradients, each ~ a forward)

# striate's fastest correct mode: bf16 autocast (native on avx512_bf16 CPUs) and a larger batch
# with the learning rate scaled up with it (0.05 per 128 examples stays stable).
FAST = {"batch_size": 256, "lr": 0.1, "precision": "bf16"}
CONTENDERS = {"reference": {"batch_size": reference.BATCH_SIZE, "precision": "fp32"},
              "striate-fp32-b64": {"batch_size": reference.BATCH_SIZE, "precision": "fp32"},
              "striate-fp32": {**FAST, "precision": "fp32"},
              "striate-fast": FAST}

# Whole `striate train` commands: (name, flags, runs in full mode). `make demo` runs the fast
# recipe: striate's fastest route to 91% (see recipes.py), so one command answers both targets.
COMMANDS = [("recipe-fast", ["--recipe", "fast"], 3)]
QUICK_COMMANDS = [("digits-smoke", ["--dataset", "digits", "--model", "mlp", "--epochs", "1"],
                   1)]

ACCURACY_TARGET = 0.91  # Fashion-MNIST test accuracy the timed recipe must reach
TARGETS = {"train_ratio": 5.0, "eval_images_per_s": 50_000, "seconds_to_91": 30.0,
           "demo_seconds": 60.0, "peak_rss_mib": 1024.0}


def lenet_config(batch_size: int, precision: str, lr: float = 0.05,
                 epochs: int = 1) -> TrainConfig:
    config = TrainConfig()
    config.data.dataset = "fashion-mnist"
    config.run.device = "cpu"
    config.run.precision = precision
    config.optim.batch_size, config.optim.lr = batch_size, lr
    config.stop.epochs = epochs
    return config.resolve()


class Data:
    """Fashion-MNIST loaded once: raw splits (the reference normalizes per image) and striate's
    preprocessed float32 ones, with the preprocessing both sides share."""

    def __init__(self, images_per_split: int | None):
        config = lenet_config(reference.BATCH_SIZE, "fp32")
        data = prepare(config.data, config.run.seed)
        self.dataset, self.preprocess = data.dataset, data.preprocess
        self.raw = {name: Split(data.splits[name].images[:images_per_split],
                                data.splits[name].labels[:images_per_split])
                    for name in ("train", "valid")}
        self.inputs = RunData(self.dataset, self.raw, self.preprocess).inputs(("train", "valid"))
        self.test = RunData(self.dataset, {"test": data.splits["test"]},
                            self.preprocess).inputs(("test",))["test"]

    def lenet(self) -> torch.nn.Module:
        return create_model("lenet", self.preprocess.output_shape, self.dataset.num_classes)


class StriateContender:
    """striate's learner, driven as striate.training.loop drives it (minus validation points)."""

    def __init__(self, data: Data, config: TrainConfig):
        self.learner = build_learner(config, data.inputs, data.dataset.num_classes,
                                     data.preprocess)
        self.schedule = Schedule(config.schedule, config.optim.lr, config.stop.epochs,
                                 self.learner.batches_per_epoch)

    def train_epoch(self, epoch: int) -> float:
        learner, batches = self.learner, self.learner.batches_per_epoch
        learner.start_epoch(epoch)
        for batch in range(batches):
            learner.train_step(batch, self.schedule.lr(epoch + batch / batches))
        return learner.end_epoch()[0]

    def evaluate(self) -> float:
        return self.learner.evaluate("valid")[1]


class ReferenceContender:
    def __init__(self, data: Data, config: TrainConfig):
        torch.manual_seed(config.run.seed)   # striate's initial weights, drawn the same way
        self.model = data.lenet()
        self.optimizer = build_optimizer(self.model, config.optim)
        images = {name: reference.NormalizedImages(split, data.preprocess, data.dataset.pixel_max)
                  for name, split in data.raw.items()}
        self.train_batches = reference.loader(images["train"], config.optim.batch_size, True,
                                              config.run.seed)
        self.valid_batches = reference.loader(images["valid"], reference.EVAL_BATCH_SIZE, False,
                                              config.run.seed)
        self.schedule = Schedule(config.schedule, config.optim.lr, config.stop.epochs,
                                 len(self.train_batches))

    def train_epoch(self, epoch: int) -> float:
        batches = len(self.train_batches)
        lrs = (self.schedule.lr(epoch + batch / batches) for batch in range(batches))
        return reference.train_epoch(self.model, self.train_batches, self.optimizer, lrs)

    def evaluate(self) -> float:
        return reference.evaluate(self.model, self.valid_batches)[1]


def build_contenders(data: Data, epochs: int) -> dict:
    contenders = {}
    for name, settings in CONTENDERS.items():
        config = lenet_config(epochs=epochs, **settings)
        kind = ReferenceContender if name == "reference" else StriateContender
        contenders[name] = kind(data, config)
    return contenders


def seconds(work, *args):
    """(seconds, result) of work(*args)."""
    start = time.perf_counter()
    result = work(*args)
    return time.perf_counter() - start, result


def race(contenders: dict, repeat: int, train_images: int, valid_images: int) -> dict:
    """Each repetition trains one epoch of every contender in turn, then validates it."""
    log = {name: {"train_s": [], "eval_s": [], "train_loss": [], "valid_accuracy": []}
           for name in contenders}
    for epoch in range(repeat):
        for name, contender in contenders.items():
            train_s, loss = seconds(contender.train_epoch, epoch)
            eval_s, error = seconds(contender.evaluate)
            entry = log[name]
            entry["train_s"].append(train_s)
            entry["eval_s"].append(eval_s)
            entry["train_loss"].append(round(loss, 4))
            entry["valid_accuracy"].append(round(1 - error, 4))
            print(f"  epoch {epoch + 1} {name}: {train_images / train_s:,.0f} images/s, valid "
                  f"accuracy {1 - error:.4f}", file=sys.stderr, flush=True)
    return {name: summarize(entry, train_images, valid_images) for name, entry in log.items()}


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(entry: dict, train_images: int, valid_images: int) -> dict:
    epoch_s = [t + e for t, e in zip(entry["train_s"], entry["eval_s"])]
    return {"train_images_per_s": spread([train_images / t for t in entry["train_s"]]),
            "epoch_s": spread(epoch_s),
            "eval_images_per_s": spread([valid_images / t for t in entry["eval_s"]]),
            "train_loss": entry["train_loss"], "valid_accuracy": entry["valid_accuracy"]}


def bf16_evaluation(contender: StriateContender, repeat: int, images: int,
                    test: Split) -> dict:
    """Evaluation images/s with --eval-precision bf16, and whether bf16 predicts the test
    images exactly as fp32 does: striate validates in bf16 only where it does (the test split
    and evaluate stay fp32)."""
    learner, rates = contender.learner, []
    for _ in range(repeat):
        elapsed, (_, error) = seconds(evaluate_split, learner.model, learner.splits["valid"],
                                      TTA(), learner.channels_last, World(), torch.bfloat16)
        rates.append(images / elapsed)
    fp32, bf16 = (predictions(learner.model, test.images, dtype) for dtype in
                  (None, torch.bfloat16))
    labels = torch.from_numpy(test.labels)
    return {"eval_images_per_s": spread(rates), "valid_accuracy": round(1 - error, 4),
            "test_images": len(labels), "test_predictions_differing": int((fp32 != bf16).sum()),
            "test_accuracy_fp32": (fp32 == labels).float().mean().item(),
            "test_accuracy_bf16": (bf16 == labels).float().mean().item()}


@torch.no_grad()
def predictions(model: torch.nn.Module, images, dtype) -> torch.Tensor:
    """(N,) predicted classes of preprocessed (N, C, H, W) images, under autocast to dtype."""
    model.eval()
    chunks = []
    for chunk in torch.from_numpy(images).split(512):
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            chunks.append(model(chunk.contiguous(memory_format=torch.channels_last))
                          .float().argmax(1))
    return torch.cat(chunks)


def peak_fractions(results: dict, train_flops: int, peaks: dict) -> None:
    """Achieved training GFLOP/s, and its fraction of the peak of the precision it ran in."""
    for name, result in results.items():
        precision = CONTENDERS[name]["precision"]
        gflops = result["train_images_per_s"]["median"] * train_flops / 1e9
        result["train_gflops"] = gflops
        result["fraction_of_peak"] = gflops / peaks[precision]


def timed_command(flags: list[str], threads: int) -> dict:
    """Run `striate train FLAGS` as a new process: wall seconds from its start to its exit, its
    peak resident memory, and the test accuracy it reports."""
    with tempfile.TemporaryDirectory() as out_dir:
        command = [sys.executable, "-m", "striate", "train", *flags, "--out-dir", out_dir,
                   "--name", "run", "--progress", "off"]
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        with open(Path(out_dir) / "stderr.txt", "w+") as errors:
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors,
                                       env=environment)
            # wait4, not wait: its rusage is this child's own peak, not the maximum over all.
            _, status, usage = os.wait4(process.pid, 0)
            elapsed = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            if process.returncode:
                errors.seek(0)
                raise RuntimeError(f"{' '.join(command)} failed:\n{errors.read()}")
        metrics = json.loads((Path(out_dir) / "run" / "metrics.json").read_text())
    return {"seconds": elapsed, "peak_rss_mib": usage.ru_maxrss / 1024,
            "test_accuracy": metrics["test_accuracy"], "epochs": metrics["epochs"]}


def commands(plan, threads: int) -> dict:
    results = {}
    for name, flags, runs in plan:
        print(f"  striate train {' '.join(flags)} x{runs}", file=sys.stderr, flush=True)
        outcomes = [timed_command(flags, threads) for _ in range(runs)]
        results[name] = {"flags": flags, "seconds": spread([o["seconds"] for o in outcomes]),
                         "peak_rss_mib": max(o["peak_rss_mib"] for o in outcomes),
                         "test_accuracy": [o["test_accuracy"] for o in outcomes],
                         "epochs": outcomes[0]["epochs"]}
    return results


def targets(result: dict) -> dict:
    """Each target of issue 6 with the figure measured against it."""
    lenet, runs = result["lenet"], result["commands"]
    ratio = lenet["striate-fast"]["ratio_to_reference"]
    evaluation = lenet["striate-fast"]["eval_images_per_s"]["median"]
    measured = {"train_ratio": (ratio, ratio >= TARGETS["train_ratio"]),
                "eval_images_per_s": (evaluation, evaluation >= TARGETS["eval_images_per_s"])}
    if "recipe-fast" in runs:
        fast = runs["recipe-fast"]
        median, reached = fast["seconds"]["median"], min(fast["test_accuracy"]) >= ACCURACY_TARGET
        measured["seconds_to_91"] = (median, reached and median <= TARGETS["seconds_to_91"])
        measured["demo_seconds"] = (median, median <= TARGETS["demo_seconds"])
    if runs:
        peak = max(run["peak_rss_mib"] for run in runs.values())
        measured["peak_rss_mib"] = (peak, peak < TARGETS["peak_rss_mib"])
    return {name: {"target": TARGETS[name], "measured": value, "met": met}
            for name, (value, met) in measured.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: {QUICK_IMAGES} images per epoch, one repetition, "
                             "one tiny digits command")
    parser.add_argument("--repeat", type=int, default=None,
                        help="epochs per contender (default: 3; 1 with --quick)")
    parser.add_argument("--threads", type=int, default=machine.physical_cores(),
                        help="intra-op threads for every contender (default: physical cores)")
    parser.add_argument("--no-commands", action="store_true",
                        help="skip the timed `striate train` commands")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)
    data = Data(QUICK_IMAGES if args.quick else None)
    train_images, valid_images = len(data.raw["train"]), len(data.raw["valid"])
    peaks = {"fp32": machine.matmul_peak(torch.float32),
             "bf16": machine.matmul_peak(torch.bfloat16)}
    forward = machine.forward_flops(data.lenet(), data.preprocess.output_shape)
    contenders = build_contenders(data, repeat)
    lenet = race(contenders, repeat, train_images, valid_images)
    baseline = lenet["reference"]["train_images_per_s"]["median"]
    for entry in lenet.values():
        entry["ratio_to_reference"] = entry["train_images_per_s"]["median"] / baseline
    peak_fractions(lenet, TRAIN_FLOPS_PER_FORWARD * forward, peaks)
    plan = [] if args.no_commands else QUICK_COMMANDS if args.quick else COMMANDS
    result = {"machine": {"threads": args.threads, "torch": torch.__version__,
                          "matmul_peak_gflops": peaks},
              "settings": {"repeat": repeat, "train_images": train_images,
                           "valid_images": valid_images, "quick": args.quick,
                           "contenders": CONTENDERS},
              "flops_per_image": {"forward": forward,
                                  "train": TRAIN_FLOPS_PER_FORWARD * forward},
              "lenet": lenet,
              "bf16_evaluation": bf16_evaluation(contenders["striate-fast"], repeat,
                                                 valid_images, data.test),
              "commands": commands(plan, args.threads)}
    result["targets"] = targets(result)
    return result


def table(result: dict) -> str:
    lenet, names = result["lenet"], list(result["lenet"])

    def row(label, cell):
        return f"| {label} | " + " | ".join(cell(lenet[name]) for name in names) + " |"

    def rate(figure):
        return lambda r: (f"{r[figure]['median']:,.0f} ({r[figure]['min']:,.0f}-"
                          f"{r[figure]['max']:,.0f})")

    settings = [f"batch {CONTENDERS[n]['batch_size']}, {CONTENDERS[n]['precision']}"
                for n in names]
    lines = ["| LeNet, Fashion-MNIST | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names),
             "| settings | " + " | ".join(settings) + " |",
             row("training images/s", rate("train_images_per_s")),
             row("ratio to reference", lambda r: f"{r['ratio_to_reference']:.2f}x"),
             row("epoch wall time (s)", lambda r: f"{r['epoch_s']['median']:.1f}"),
             row("evaluation images/s", rate("eval_images_per_s")),
             row("valid accuracy per epoch", lambda r: " ".join(
                 f"{a:.3f}" for a in r["valid_accuracy"])),
             row("training GFLOP/s", lambda r: f"{r['train_gflops']:.1f}"),
             row("fraction of matmul peak", lambda r: f"{r['fraction_of_peak']:.0%}")]
    return "\n".join(lines + ["", machine_lines(result), "", command_lines(result), "",
                              target_lines(result)])


def machine_lines(result: dict) -> str:
    peaks, flops = result["machine"]["matmul_peak_gflops"], result["flops_per_image"]
    bf16 = result["bf16_evaluation"]
    evaluation = bf16["eval_images_per_s"]
    s = result["settings"]
    return "\n".join([
        f"- threads: {result['machine']['threads']}, torch {result['machine']['torch']}",
        f"- matmul peak: {peaks['fp32']:.0f} GFLOP/s fp32, {peaks['bf16']:.0f} GFLOP/s bf16",
        f"- LeNet: {flops['forward'] / 1e6:.2f} MFLOP per image forward, "
        f"{flops['train'] / 1e6:.2f} training",
        f"- {s['repeat']} epochs of {s['train_images']:,} images per contender, validation on "
        f"{s['valid_images']:,}",
        f"- validation in bf16 (`--eval-precision bf16`): {evaluation['median']:,.0f} "
        f"images/s; on the {bf16['test_images']:,} test images bf16 and fp32 predict "
        f"{'the same class for every image' if not bf16['test_predictions_differing'] else str(bf16['test_predictions_differing']) + ' images differently'} "
        f"(test accuracy {bf16['test_accuracy_fp32']:.2%} in fp32, "
        f"{bf16['test_accuracy_bf16']:.2%} in bf16)"])


def command_lines(result: dict) -> str:
    if not result["commands"]:
        return "(no `striate train` commands timed in this run)"
    lines = ["| command | wall time (s) | test accuracy | peak memory (MiB) |", "|---|---|---|---|"]
    for name, run in result["commands"].items():
        command = " ".join(["striate train", *run["flags"]])
        accuracy = " ".join(f"{a:.4f}" for a in run["test_accuracy"])
        lines.append(f"| {name}: `{command}` | {run['seconds']['median']:.1f} | {accuracy} | "
                     f"{run['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def target_lines(result: dict) -> str:
    lines = ["| target | wanted | measured | met |", "|---|---|---|---|"]
    for name, t in result["targets"].items():
        lines.append(f"| {name} | {t['target']:,} | {t['measured']:,.2f} | "
                     f"{'yes' if t['met'] else 'no'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    outcome = main()
    print(json.dumps(outcome, indent=2))
    print(table(outcome))
