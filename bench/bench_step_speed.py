"""The time-to-accuracy recipes' convnets, one training step each: the VGG (pooled before or
after batch norm, and its width) and the ResNet-9 (pooled before or after).

One bf16 training step (autocast where the CPU has it natively, as the recipes train) on 1x28x28
images, batch 256, channels-last, Nesterov SGD and label smoothing as in the recipes; the
variants are timed alternately, --repeat steps each, and reported as training images/s (median
and spread) with the ratio to the recipes' own model of the same kind (the first of each).

    python bench/bench_step_speed.py [--repeat N]
"""

import argparse
import json
import statistics

import torch
import torch.nn.functional as F

from bench_engines import seconds
from striate.config import OptimConfig
from striate.torch.device import resolve_precision
from striate.torch.learner import build_optimizer
from striate.torch.models import create_model

SHAPE, CLASSES, BATCH = (1, 28, 28), 10, 256
SMALL_VGG = {"As": [1, 1, 1], "hidden_dims": [128]}
# {kind: {variant: (model, options)}}, the recipes' own first
VARIANTS = {
    "VGG": {"16/32/64, pooled first": ("vgg", {"num_filters": [16, 32, 64], "pool_first": True}),
            "16/32/64, pooled after": ("vgg", {"num_filters": [16, 32, 64], "pool_first": False}),
            "24/48/96, pooled first": ("vgg", {"num_filters": [24, 48, 96], "pool_first": True}),
            "32/64/128, pooled first": ("vgg", {"num_filters": [32, 64, 128],
                                                "pool_first": True})},
    "ResNet-9": {"width 16, pooled first": ("resnet", {"width": 16, "pool_first": True}),
                 "width 16, pooled after": ("resnet", {"width": 16, "pool_first": False})}}


def build(model_name: str, options: dict):
    extra = SMALL_VGG if model_name == "vgg" else {}
    model = create_model(model_name, SHAPE, CLASSES, **extra, **options)
    model = model.to(memory_format=torch.channels_last)
    # the recipes' update rule, built as the torch learner builds it (striate.torch.sgd)
    return model, build_optimizer(model, OptimConfig(optimizer="nesterov", lr=0.2))


def step(model, optimizer, images, labels, dtype) -> None:
    with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
        loss = F.cross_entropy(model(images).float(), labels, label_smoothing=0.1)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed steps per variant")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    images = torch.randn(BATCH, *SHAPE).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, CLASSES, (BATCH,))
    dtype = resolve_precision("auto", torch.device("cpu"))
    built = {(kind, name): build(*spec) for kind, variants in VARIANTS.items()
             for name, spec in variants.items()}
    for _ in range(3):  # warm-up: oneDNN's primitives, the allocator
        for model, optimizer in built.values():
            step(model, optimizer, images, labels, dtype)
    times = {key: [] for key in built}
    for _ in range(args.repeat):  # alternate, so drifting machine load hits all alike
        for key, (model, optimizer) in built.items():
            times[key].append(seconds(step, model, optimizer, images, labels, dtype))
    rates = {kind: {} for kind in VARIANTS}
    for (kind, name), t in times.items():
        rates[kind][name] = {"images_per_s": BATCH / statistics.median(t),
                             "min": BATCH / max(t), "max": BATCH / min(t)}
    for variants in rates.values():
        ours = next(iter(variants.values()))["images_per_s"]
        for rate in variants.values():
            rate["ratio_to_recipes_model"] = rate["images_per_s"] / ours
    return {"precision": str(dtype).replace("torch.", "") if dtype else "float32",
            "batch": BATCH, "variants": rates}


def table(result: dict) -> str:
    rows = ["| model (batch 256, training step) | images/s (median) | spread | ratio |",
            "|---|---|---|---|"]
    rows += [f"| {kind} {name} | {r['images_per_s']:,.0f} | {r['min']:,.0f}-{r['max']:,.0f} | "
             f"{r['ratio_to_recipes_model']:.2f}x |"
             for kind, variants in result["variants"].items() for name, r in variants.items()]
    return "\n".join(rows) + f"\n\nprecision: {result['precision']}"


if __name__ == "__main__":
    outcome = main()
    print(json.dumps(outcome, indent=2))
    print(table(outcome))
