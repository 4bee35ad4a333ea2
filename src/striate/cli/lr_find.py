"""`striate lr-find`: the learning-rate range test (the sweep is striate.lr_find), and the
`striate train` command line that uses its suggestion."""

import argparse
import json
import shlex

from striate.cli.flags import (add_config_flags, add_settings_sources, config_from_args,
                               stop_on_sigterm)
from striate.config import flag_name
from striate.errors import StriateError


def cmd_lr_find(args: argparse.Namespace) -> None:
    from striate.lr_find import (DIVERGENCE, SMOOTHING, check_sweep, learning_rates, summary,
                                 sweep, write_results)
    from striate.training.loop import can_draw_bar

    check_sweep(args.start_lr, args.end_lr, args.steps)
    config, given = config_from_args(args)
    stop_on_sigterm()
    lrs = learning_rates(args.start_lr, args.end_lr, args.steps)
    # never a bar's frames in a file, whatever --progress says
    result, described = sweep(config, lrs, config.run.shows_progress() and can_draw_bar())
    if len(result.lrs) < 2:
        raise StriateError(f"the loss was not finite from the first steps (lr "
                           f"{args.start_lr:g}); lower --start-lr")
    command = train_command(args, given, result.suggestion())
    settings = {"start_lr": args.start_lr, "end_lr": args.end_lr, "steps": args.steps,
                "smoothing": SMOOTHING, "divergence": DIVERGENCE}
    folder = write_results(config, result, settings, command)
    print(f"lr-find {described}: {len(result.lrs)} of {args.steps} steps, lr "
          f"{result.lrs[0]:.1e} to {result.lrs[-1]:.1e}, stopped by {result.stopped_by}")
    print(summary(result))
    print(f"train with: {command}")
    print(f"files in {folder}: lr_find.csv, lr_find.json, lr_find.png")


def train_command(args: argparse.Namespace, given: dict, lr: float) -> str:
    """`striate train` with the same settings as this lr-find, at the learning rate `lr`."""
    words = ["striate", "train"]
    for flag in ("recipe", "config"):
        if getattr(args, flag):
            words += [f"--{flag}", getattr(args, flag)]
    for name, value in given.items():
        if name == "lr":
            continue
        if isinstance(value, bool):
            words.append(flag_name(name) if value else f"--no-{flag_name(name)[2:]}")
        elif isinstance(value, dict):
            for key, option in value.items():
                text = option if isinstance(option, str) else json.dumps(option)
                words += ["--model-arg", f"{key}={text}"]
        else:
            words += [flag_name(name), str(value)]
    return shlex.join([*words, "--lr", f"{lr:.2g}"])


def add_commands(commands) -> None:
    """Add `lr-find` to the `striate` parser's subparsers."""
    parser = commands.add_parser(
        "lr-find", help="learning-rate range test: the loss as the rate grows, and a "
        "suggested --lr",
        description="Train a fresh model one minibatch per step while the learning rate grows "
        "from --start-lr to --end-lr; stop once the smoothed loss passes 4x its minimum. The "
        "training flags choose the model, data and update rule; the sweep sets the rate, so "
        "--lr and the schedule flags do not apply.")
    add_settings_sources(parser)
    sweep_flags = parser.add_argument_group("sweep options")
    sweep_flags.add_argument("--start-lr", type=float, default=1e-7,
                             help="learning rate of the first step")
    sweep_flags.add_argument("--end-lr", type=float, default=10.0,
                             help="learning rate of the last step")
    sweep_flags.add_argument("--steps", type=int, default=100,
                             help="minibatch steps; the rate grows by the same factor each step")
    add_config_flags(parser)
    parser.set_defaults(handler=cmd_lr_find)
