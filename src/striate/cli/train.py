"""`striate train` and `striate check`."""

import os
import sys

from striate.cli.flags import (add_config_flags, add_json_flag, add_settings_sources,
                               add_trust_flag, config_from_args, print_json, stop_on_sigterm)
from striate.engines import get_engine
from striate.errors import StriateError
from striate.registry import check_trusted


def cmd_train(args) -> int:
    """Exit status 1 when training diverged: the run is written, but its settings need a
    change (the message names it)."""
    from striate.runs import RunDir
    from striate.training.session import divergence_advice, resume_config, train
    from striate.training.world import follow_launcher

    config, given = config_from_args(args)
    resume = None
    if args.resume:
        if args.config or args.recipe:
            raise StriateError("--resume continues a run with its own config.yaml; "
                               "drop --config and --recipe")
        resume = RunDir.open(args.resume)
        config = resume_config(resume, given).resolve()
        check_trusted(config.model.model, args.trust_model_code)
    if config.run.nproc > 1 and "WORLD_SIZE" not in os.environ:
        # --nproc is the torch engine's (TrainConfig.check): say so in one line without torch
        get_engine(config.run.engine)
        from striate.torch.distributed import launch

        # the ranks run this same command line
        return launch(args.argv, config.run.nproc, config.run.threads)
    stop_on_sigterm()
    follow_launcher()   # a rank of `--nproc`: ends with its launcher
    # --progress auto and on alike: a bar on a terminal, never its frames in a file, where each
    # epoch is a line
    outcome = train(config, resume, config.run.progress != "off" and not args.quiet,
                    echo=echo_for(args))
    run, metrics = outcome.run, outcome.metrics
    if run is None:  # a data-parallel rank other than 0: rank 0 reports
        return 1 if metrics["stopped_by"] == "diverged" else 0
    if args.json:
        print_json(summary_json(metrics, run))
    else:
        print("\n".join(summary_lines(metrics, run)))
    if metrics["stopped_by"] == "diverged":
        print(f"striate: {divergence_advice(metrics, config, run)}", file=sys.stderr)
        return 1
    return 0


def echo_for(args):
    """Where the lines before the summary go: nowhere with --quiet, stderr with --json (stdout
    then holds the JSON alone), else stdout. Flushed: a log file shows each epoch as it ends."""
    if args.quiet:
        return lambda text: None
    stream = sys.stderr if args.json else sys.stdout
    return lambda text: print(text, file=stream, flush=True)


SUMMARY_KEYS = ('{"run_dir", "metrics" (metrics.json\'s figures), "training_time_s", '
                '"files" (the run directory\'s)}; the other lines go to stderr')


def summary_json(metrics: dict, run) -> dict:
    """--json's object: the keys SUMMARY_KEYS names."""
    return {"run_dir": str(run.path), "metrics": metrics,
            "training_time_s": run.info()["training_time_s"],
            "files": sorted(path.name for path in run.path.iterdir())}


def summary_lines(metrics: dict, run) -> list[str]:
    return [f"best validation error {metrics['best_valid_error']:.2%} at epoch "
            f"{metrics['best_epoch']} (iteration {metrics['best_iteration']}); "
            f"test error there {metrics['test_error']:.2%} "
            f"(accuracy {metrics['test_accuracy']:.2%})",
            f"{metrics['epochs']} epochs in {run.info()['training_time_s']:.1f} s, stopped by "
            f"{metrics['stopped_by']}",
            f"run directory {run.path}: {', '.join(sorted(p.name for p in run.path.iterdir()))}"]


def cmd_check(args) -> int:
    """Exit status 1 when a check fails: the set-up is wrong, not the command line."""
    from striate.checks import check_setup, report

    config, _ = config_from_args(args)
    checks = check_setup(config)
    print(report(checks))
    return 0 if all(check.passed for check in checks) else 1


def add_commands(commands) -> None:
    """Add `train` and `check` to the `striate` parser's subparsers."""
    train = commands.add_parser("train", help="train a model; writes a run directory",
                                description="Train a model and write its run directory. On a "
                                "terminal a progress bar shows the epoch, the training loss and "
                                "the validation error; written to a file or a pipe (nohup, a "
                                "scheduler, CI, > log.txt) the run prints one line per epoch "
                                "instead (--progress off: neither).")
    add_settings_sources(train)
    train.add_argument("--resume", metavar="RUN", help="continue an interrupted run directory "
                       "(default: none, a new run)")
    add_trust_flag(train)
    train.add_argument("-q", "--quiet", action="store_true",
                       help="print the summary alone: no first line, bar or epoch lines")
    add_json_flag(train, SUMMARY_KEYS)
    add_config_flags(train)
    train.set_defaults(handler=cmd_train)

    check = commands.add_parser("check", help="sanity checks before training: initial loss, "
                                "gradient check, overfitting 50 examples, dead or saturated "
                                "units and update sizes")
    add_settings_sources(check)
    add_config_flags(check)
    check.set_defaults(handler=cmd_check)
