"""`striate tune` (hyper-parameter search) and `striate cv` (k-fold cross-validation)."""

import argparse

from striate.cli.flags import (add_config_flags, add_settings_sources, config_from_args,
                               stop_on_sigterm)
from striate.errors import StriateError


def at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_search_flags(parser) -> None:
    from striate.tune.search import HEARTBEAT_S, PRUNERS, STALE_BEATS, STRATEGIES

    search = parser.add_argument_group("search options")
    search.add_argument("--param", action="append", default=[], metavar="NAME=SPEC",
                        help="a searched option (repeatable): NAME is a training option (lr, "
                             "weight_decay, optimizer...) or model_args.KEY; SPEC is [a, b], "
                             "choice(a, b), uniform(LOW, HIGH), loguniform(LOW, HIGH), "
                             "int(LOW, HIGH) or logint(LOW, HIGH)")
    search.add_argument("--space", metavar="FILE.yaml",
                        help="search space file: one `NAME: SPEC` per line; --param adds to it "
                             "(default: none, the --param options alone)")
    search.add_argument("--strategy", default="tpe", choices=STRATEGIES,
                        help="grid: every combination; random; tpe: Optuna's Bayesian sampler "
                             "(random for its first 10 trials)")
    search.add_argument("--grid-points", type=at_least(2), default=4, metavar="N",
                        help="grid: values per range (log-spaced for log ranges)")
    search.add_argument("--n-trials", type=at_least(1), default=None, metavar="N",
                        help="trials this process trains (default: the rest of the grid; "
                             "20 for random and tpe)")
    search.add_argument("--timeout", type=seconds, default=None, metavar="SECONDS",
                        help="start no new trial after this long (the running one finishes) "
                             "(default: none, no time limit)")
    search.add_argument("--pruner", default="median", choices=PRUNERS,
                        help="median: stop a trial whose validation error is worse than the "
                             "median of earlier trials at the same epoch; none")
    search.add_argument("--study", default=None, metavar="NAME",
                        help="study name; the same name and storage continue a study "
                             "(default: MODEL-DATASET)")
    search.add_argument("--storage", default=None, metavar="URL",
                        help="SQLAlchemy database URL shared by the workers (default: "
                             "sqlite:///OUT_DIR/tune.db)")
    search.add_argument("--heartbeat", type=at_least(1), default=HEARTBEAT_S, metavar="SECONDS",
                        help="while it trains, a worker says so in the storage this often; a "
                             f"trial silent for {STALE_BEATS} heartbeats (its worker died) is "
                             "marked FAIL and its point queued again")


def cmd_tune(args) -> None:
    from striate.tune.search import run_study
    from striate.tune.space import parse_space

    config, given = config_from_args(args)
    for flag, why in (("name", "names each trial's run itself (trial-0003); use --study"),
                      ("fold", "trains every fold of --folds in each trial")):
        if flag in given:
            raise StriateError(f"striate tune {why}; drop --{flag}")
    space = parse_space(args.space, args.param)
    stop_on_sigterm()
    run_study(config, space, args.strategy, args.grid_points, args.pruner, args.study,
              args.storage, args.heartbeat, args.n_trials, args.timeout,
              config.run.shows_progress(), echo=lambda text: print(text, flush=True))


def cmd_cv(args) -> None:
    from striate.engines import get_engine
    from striate.tune.cv import cross_validate

    config, _ = config_from_args(args)
    get_engine(config.run.engine).check_model_options(config.model.model, config.model.model_args)
    stop_on_sigterm()
    cross_validate(config, config.run.shows_progress(),
                   echo=lambda text: print(text, flush=True))


def add_commands(commands) -> None:
    """Add `tune` and `cv` to the `striate` parser's subparsers."""
    tune = commands.add_parser("tune", help="hyper-parameter search (grid, random, TPE) over "
                               "any training option; resumable, several workers can share it")
    add_settings_sources(tune)
    add_search_flags(tune)
    add_config_flags(tune)
    tune.set_defaults(handler=cmd_tune)

    cv = commands.add_parser("cv", help="k-fold cross-validation (--folds K): validation "
                             "accuracy as mean ± std over the folds")
    add_settings_sources(cv)
    add_config_flags(cv)
    cv.set_defaults(handler=cmd_cv)
