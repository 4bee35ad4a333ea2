"""Flags the commands share. Training flags are generated from the config dataclasses.

Precedence: dataclass defaults < `--recipe NAME` < `--config FILE.yaml` < flags given on the
command line.
"""

import argparse
import json
import re
import signal

import yaml

from striate.config import (ENGINES, MAX_THREADS, TrainConfig, apply_mapping, field_type,
                            flag_name, load_yaml, section_fields)
from striate.errors import StriateError


def states_default(help_text: str) -> bool:
    """Whether a help text already says what its option's absence means ("(default: the one
    that trained it)", "(default for pca-whiten: all)")."""
    return re.search(r"\bdefault\b", help_text) is not None


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default in its help, once: a help that states it in words keeps its own."""

    def _get_help_string(self, action):
        return action.help if states_default(action.help) else super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and a StriateError (so: exit 2, no traceback),
    and every option's help gives its default (DefaultsHelp)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelp)
        super().__init__(*args, **kwargs)

    def error(self, message):
        raise StriateError(f"{message} (see `{self.prog} --help`)")


def add_json_flag(parser, keys: str) -> None:
    """--json: the command's result as one JSON object on stdout, for scripts; `keys` names
    its keys in the help."""
    parser.add_argument("--json", action="store_true",
                        help=f"print one JSON object on stdout, nothing else: {keys}")


def print_json(result: dict) -> None:
    """One line of JSON, numbers as Python writes them (as in metrics.json: NaN where a figure
    is not a number)."""
    print(json.dumps(result), flush=True)


def parse_model_arg(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = yaml.safe_load(value)  # YAML: 500, tanh, [500, 300], {a: 1}
        if isinstance(parsed, str) and "," in parsed:  # the shorthand 500,300 for [500, 300]
            parsed = [yaml.safe_load(part) for part in parsed.split(",")]
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"cannot read the value of {text!r}") from None
    return key, parsed


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field, grouped by section, with the default in the help (written
    here: the flags' own default is SUPPRESS, so that only the flags given are seen)."""
    groups = {}
    for section, leaf in section_fields():
        group = groups.setdefault(section, parser.add_argument_group(f"{section} options"))
        kind, help_text = field_type(leaf), with_default(leaf.metadata["help"], leaf.default)
        if kind is dict:
            group.add_argument("--model-arg", dest=leaf.name, action="append",
                               type=parse_model_arg, metavar="KEY=VALUE",
                               default=argparse.SUPPRESS, help=help_text)
        elif kind is bool:
            group.add_argument(flag_name(leaf.name), dest=leaf.name,
                               action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        else:
            group.add_argument(flag_name(leaf.name), dest=leaf.name, type=kind,
                               choices=leaf.metadata["choices"], default=argparse.SUPPRESS,
                               help=help_text)


def with_default(help_text: str, default) -> str:
    """The help with its default, unless it states it already; None, an unset option, is
    shown as the word none."""
    if states_default(help_text):
        return help_text
    return f"{help_text} (default: {'none' if default is None else default})"


def add_settings_sources(parser) -> None:
    parser.add_argument("--recipe", metavar="NAME", help="start from a named recipe (see "
                        "`striate recipes`); --config and flags override it (default: none)")
    parser.add_argument("--config", metavar="FILE.yaml", help="settings file; flags override it "
                        "(default: none)")


def add_inference_flags(parser) -> None:
    """Where a checkpoint runs: the device, and the engine (either can run either's files)."""
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda "
                        "or cuda:N")
    parser.add_argument("--engine", default=None, choices=ENGINES,
                        help="engine to run the checkpoint with (default: the one that "
                             "trained it)")
    add_tta_flags(parser, "average each image's prediction with")
    add_threads_flag(parser)
    add_trust_flag(parser)


def add_tta_flags(parser, what: str) -> None:
    """--tta and --tta-shift: the views of each image whose probabilities are averaged."""
    parser.add_argument("--tta", action="store_true",
                        help=f"test-time augmentation: {what} its mirror image's")
    parser.add_argument("--tta-shift", type=int, default=0, metavar="PIXELS",
                        help=f"test-time shifts: {what} those of the image moved this many "
                             "pixels right, left, down and up (with --tta, of their mirror "
                             "images too); default 0: none")


def tta_of(args):
    """The TTA that --tta and --tta-shift ask for."""
    from striate.config import bad_setting
    from striate.training.learner import TTA

    if args.tta_shift < 0:
        raise bad_setting("--tta-shift", ">= 0 pixels", args.tta_shift)
    return TTA(args.tta, args.tta_shift)


def add_threads_flag(parser) -> None:
    parser.add_argument("--threads", type=threads_count, default=None,
                        help="CPU threads (default: the physical cores this process may run on, "
                             "from its CPU affinity and cgroup quota; OMP_NUM_THREADS if set)")


def threads_count(text: str) -> int:
    """--threads' type: a whole number from 1 to MAX_THREADS, else argparse's one-line error."""
    if not (text.isdigit() and 1 <= int(text) <= MAX_THREADS):
        raise argparse.ArgumentTypeError(f"must be a number of threads from 1 to {MAX_THREADS}")
    return int(text)


def add_trust_flag(parser) -> None:
    parser.add_argument("--trust-model-code", action="store_true",
                        help="a run whose model is a class of its author's own (--model "
                             "package.module:Class) imports that module, which runs its code: "
                             "allow it")


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, dict]:
    """(resolved config, {field: value} of the flags actually given)."""
    from striate.recipes import recipe_config

    config = recipe_config(args.recipe) if args.recipe else TrainConfig()
    if args.config:
        config = apply_mapping(config, load_yaml(args.config), args.config)
    given = {}
    for section, leaf in section_fields():
        if leaf.name in vars(args):
            value = getattr(args, leaf.name)
            given[leaf.name] = dict(value) if field_type(leaf) is dict else value
    mapping = {}
    for section, leaf in section_fields():
        if leaf.name in given:
            mapping.setdefault(section, {})[leaf.name] = given[leaf.name]
    if "model_args" in given and (args.config or args.recipe):  # flags add to the file's options
        mapping["model"]["model_args"] = {**config.model.model_args, **given["model_args"]}
    return apply_mapping(config, mapping, "command line").resolve(), given


def stop_on_sigterm() -> None:
    """SIGTERM (a scheduler's kill, `kill PID`) ends training like Ctrl-C: saved, resumable."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
