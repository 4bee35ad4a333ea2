"""The `striate` command. Training flags are generated from the config dataclasses.

Precedence: dataclass defaults < `--recipe NAME` < `--config FILE.yaml` < flags given on the
command line.
Every user-fixable problem ends in one line on stderr and exit status 2.
"""

import argparse
import os
import signal
import sys

import yaml

from striate.config import (ENGINES, TrainConfig, apply_mapping, check_device, field_type,
                            flag_name, load_yaml, section_fields)
from striate.errors import StriateError


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and a StriateError (so: exit 2, no traceback)."""

    def error(self, message):
        raise StriateError(f"{message} (see `{self.prog} --help`)")


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
    """One flag per config field, grouped by section, with the default in the help."""
    groups = {}
    for section, leaf in section_fields():
        group = groups.setdefault(section, parser.add_argument_group(f"{section} options"))
        kind, help_text = field_type(leaf), leaf.metadata["help"]
        if "default:" not in help_text:
            help_text += f" (default: {leaf.default})"
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
    return apply_mapping(config, mapping, "command line"), given


def show_progress(setting: str) -> bool:
    return setting == "on" or (setting == "auto" and sys.stderr.isatty())


def stop_on_sigterm() -> None:
    """SIGTERM (a scheduler's kill, `kill PID`) ends training like Ctrl-C: saved, resumable."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def cmd_train(args) -> int:
    """Exit status 1 when training diverged: the run is written, but its settings need a
    change (the message names it)."""
    from striate.runs import RunDir
    from striate.training.session import divergence_advice, resume_config, train

    config, given = config_from_args(args)
    resume = None
    if args.resume:
        if args.config or args.recipe:
            raise StriateError("--resume continues a run with its own config.yaml; "
                               "drop --config and --recipe")
        resume = RunDir.open(args.resume)
        config = resume_config(resume, given)
    config.validate()
    if config.run.nproc > 1 and "WORLD_SIZE" not in os.environ:
        from striate.torch.distributed import launch

        return launch(args.argv, config.run.nproc)  # the ranks run this same command line
    stop_on_sigterm()
    run, metrics = train(config, resume, show_progress(config.run.progress),
                         echo=lambda text: print(text, flush=True))
    if run is None:  # a data-parallel rank other than 0: rank 0 reports
        return 1 if metrics["stopped_by"] == "diverged" else 0
    print(f"best validation error {metrics['best_valid_error']:.2%} at epoch "
          f"{metrics['best_epoch']} (iteration {metrics['best_iteration']}); "
          f"test error there {metrics['test_error']:.2%} "
          f"(accuracy {metrics['test_accuracy']:.2%})")
    print(f"{metrics['epochs']} epochs in {run.info()['training_time_s']:.1f} s, stopped by "
          f"{metrics['stopped_by']}")
    print(f"run directory {run.path}: {', '.join(sorted(p.name for p in run.path.iterdir()))}")
    if metrics["stopped_by"] == "diverged":
        print(f"striate: {divergence_advice(metrics, config, run)}", file=sys.stderr)
        return 1
    return 0


def cmd_check(args) -> int:
    """Exit status 1 when a check fails: the set-up is wrong, not the command line."""
    from striate.training.session import check_setup

    config, _ = config_from_args(args)
    text, passed = check_setup(config.validate())
    print(text)
    return 0 if passed else 1


def cmd_recipes(args) -> None:
    from striate.recipes import RECIPES

    for recipe in RECIPES.values():
        settings = "; ".join(f"{section}: " + ", ".join(f"{k}={v}" for k, v in values.items())
                             for section, values in recipe.settings.items())
        published = recipe.published.describe() if recipe.published else "striate's own"
        print(f"{recipe.name:<16} {recipe.summary}\n{'':<16} published: {published}\n"
              f"{'':<16} settings: {settings}")


def cmd_reproduce(args) -> None:
    from striate.reproduce import reproduce, table

    names = [name.strip() for name in args.recipes.split(",")] if args.recipes else None
    target, rows = reproduce(names, args.dataset, args.data_dir, args.quick, args.out_dir,
                             args.seed, echo=lambda text: print(text, flush=True))
    print(table(rows))
    print(f"table and runs in {target}")


def cmd_evaluate(args) -> None:
    from striate.inference import evaluate

    result = evaluate(args.checkpoint, args.split, args.data_dir, check_device(args.device),
                      args.engine, args.tta)
    print(f"{result['split']}: {result['examples']} examples, loss {result['loss']:.4f}, "
          f"error {result['error']:.2%}, accuracy {result['accuracy']:.2%}")


def cmd_predict(args) -> None:
    from striate.inference import predict

    for row in predict(args.checkpoint, args.images, check_device(args.device), args.engine,
                       args.tta):
        print(f"{row['image']}\t{row['class']}\t{row['probability']:.4f}")


def cmd_datasets(args) -> None:
    from striate.data import describe_datasets

    for row in describe_datasets(args.data_dir):
        status = f"available  {row['where']}" if row["available"] else f"missing    {row['how']}"
        print(f"{row['name']:<14} {status}")


def cmd_download(args) -> None:
    from striate.data import fetch_dataset

    print(f"{args.name}: {fetch_dataset(args.name, args.data_dir)}")


def cmd_models(args) -> None:
    from striate.numpy import models as numpy_models
    from striate.torch import models as torch_models

    for name in sorted(set(torch_models.MODELS) | set(numpy_models.MODELS)):
        engine = torch_models if name in torch_models.MODELS else numpy_models
        engines = [e for e, registry in (("torch", torch_models.MODELS),
                                         ("numpy", numpy_models.MODELS)) if name in registry]
        options = ", ".join(f"{key}={value!r}" for key, value in engine.model_options(name).items())
        print(f"{name:<10} {engine.describe(name)}\n{'':<10} engines: {', '.join(engines)}; "
              f"options: {options or 'none'}")


def add_inference_flags(parser) -> None:
    """Where a checkpoint runs: the device, and the engine (either can run either's files)."""
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--engine", default=None, choices=ENGINES,
                        help="engine to run the checkpoint with (default: the one that "
                             "trained it)")
    parser.add_argument("--tta", action="store_true",
                        help="test-time augmentation: average each image's prediction with its "
                             "mirror image's")


def add_settings_sources(parser) -> None:
    parser.add_argument("--recipe", metavar="NAME", help="start from a named recipe (see "
                        "`striate recipes`); --config and flags override it")
    parser.add_argument("--config", metavar="FILE.yaml", help="settings file; flags override it")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="striate", description="Deep-learning image classification, the "
                    "tutorials' way, fast.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = commands.add_parser("train", help="train a model; writes a run directory",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_settings_sources(train)
    train.add_argument("--resume", metavar="RUN", help="continue an interrupted run directory")
    add_config_flags(train)
    train.set_defaults(handler=cmd_train)

    check = commands.add_parser("check", help="sanity checks before training: initial loss, "
                                "gradient check, overfitting 50 examples, dead or saturated "
                                "units and update sizes",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_settings_sources(check)
    add_config_flags(check)
    check.set_defaults(handler=cmd_check)

    evaluate = commands.add_parser("evaluate", help="error and loss of a checkpoint on a split",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    evaluate.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT")
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"))
    evaluate.add_argument("--data-dir", default=None, help="where the data set is")
    add_inference_flags(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="class and probability of image files",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    predict.add_argument("checkpoint", metavar="CHECKPOINT")
    predict.add_argument("images", metavar="IMAGE", nargs="+")
    add_inference_flags(predict)
    predict.set_defaults(handler=cmd_predict)

    datasets = commands.add_parser("datasets", help="which data sets are here and how to get "
                                   "the others", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    datasets.add_argument("--data-dir", default=None, help="also look here")
    datasets.set_defaults(handler=cmd_datasets)

    download = commands.add_parser("download", help="fetch a data set's files (MD5-checked)",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    download.add_argument("name", help="mnist, fashion-mnist or cifar10")
    download.add_argument("--data-dir", default=None, help="where to put it")
    download.set_defaults(handler=cmd_download)

    models = commands.add_parser("models", help="the models and their options")
    models.set_defaults(handler=cmd_models)

    recipes = commands.add_parser("recipes", help="the named recipes and their settings")
    recipes.set_defaults(handler=cmd_recipes)

    reproduce = commands.add_parser("reproduce", help="run recipes and print the tutorials' "
                                    "published figures beside striate's measured ones",
                                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    reproduce.add_argument("--recipes", default=None, metavar="A,B",
                           help="comma-separated recipe names (default: all)")
    reproduce.add_argument("--dataset", default="fashion-mnist",
                           help="data set to measure on (the published figures are MNIST's "
                                "and CIFAR-10's)")
    reproduce.add_argument("--data-dir", default=None, help="where the data set is")
    reproduce.add_argument("--quick", action="store_true",
                           help="a few epochs per recipe: checks the pipeline, not the figures")
    reproduce.add_argument("--seed", type=int, default=0, help="random seed of every run")
    reproduce.add_argument("--out-dir", default="runs", help="parent of the reproduce-<time> "
                           "directory holding the table and the runs")
    reproduce.set_defaults(handler=cmd_reproduce)

    from striate import lr_find
    from striate.tune import commands as tune_commands
    from striate.viz import commands as viz_commands
    for module in (tune_commands, lr_find, viz_commands):
        module.add_commands(commands)
    return parser


def main(argv=None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
        args = build_parser().parse_args(argv)
        args.argv = argv
        status = args.handler(args)
    except StriateError as error:
        print(f"striate: error: {error}", file=sys.stderr)
        return 2
    except MemoryError:
        print("striate: error: out of memory; use a smaller --image-size, --batch-size or "
              "data set", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"striate: {interrupt or 'interrupted'}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `striate models | head`: the reader left, which is not an error
        sys.stdout = open(os.devnull, "w")
        return 0
    return status or 0
