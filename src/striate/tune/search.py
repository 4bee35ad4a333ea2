"""Hyper-parameter search on Optuna: grid, random and TPE, with pruning, in a shared storage.

A study lives in a database (SQLite by default), so any number of `striate tune` processes
with the same --study and --storage work on it together, and running the command again
continues it. Each trial is an ordinary training run (or k fold runs) under

    <out-dir>/tune-<study>/
      trial-0000/               a trial's run directory (with --folds: trial-0000/fold-1/ ...)
      trials.csv  study.json    every trial so far (see tune/results.py)
      best.yaml                 the best trial's complete config: `striate train --config`

Grid points are put in the study's queue once, by the process that creates the study; a worker
takes a point by switching it from WAITING to RUNNING while it holds the storage's lock (see
storage_lock), so no two workers ever train the same point.

A worker that dies (SIGKILL, a lost machine) cannot say so: while it trains, a thread records a
heartbeat in the storage every --heartbeat seconds, and any worker that finds a RUNNING trial
without one for STALE_BEATS heartbeats marks it FAIL and puts its point back in the queue.
"""

import contextlib
import copy
import fcntl
import re
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from striate.config import TrainConfig, to_yaml
from striate.errors import StriateError
from striate.files import atomic_write_text, make_directory
from striate.tune.cv import train_folds
from striate.tune.results import (TRIAL_COLUMNS, TRIALS_CSV, Study, best_record, brief,
                                  mean_and_std, table, trial_rows, write_csv, write_study_json)
from striate.tune.space import (Param, apply_params, check_space, decode, describe_space, encode,
                                grid_points)

STRATEGIES = ("grid", "random", "tpe")
PRUNERS = ("median", "none")
BEST_YAML, OUTPUTS_LOCK = "best.yaml", ".lock"
IDENTITY = "striate"             # the study attribute recording what the study searches
SQLITE_TIMEOUT_S = 600           # a worker waits this long for another's write to finish
CREATOR_WAIT_S = 120             # ...and this long for the creator to queue the grid
RANDOM_TRIALS = 20               # --n-trials default for random and TPE
HEARTBEAT_S = 60                 # --heartbeat default
STALE_BEATS = 3                  # a trial missing this many heartbeats is stale; more than
                                 # Optuna's 2, so that a briefly stalled worker is not declared dead
STALE_RETRIES = 3                # a point whose worker keeps dying is not requeued forever


class StaleTrial(Exception):
    """Another worker found this trial's heartbeat too old, failed it and requeued its point."""


@dataclass
class Tuning:
    """One study as this process sees it: what it searches and where it writes."""
    study: "optuna.Study"
    storage: "optuna.storages.RDBStorage"
    storage_url: str
    space: dict[str, Param]
    strategy: str
    base: TrainConfig
    directory: Path

    @property
    def folds(self) -> int | None:
        return self.base.data.folds


def open_storage(url: str, heartbeat_s: int = HEARTBEAT_S):
    """An Optuna RDB storage with heartbeats; SQLite waits generously for another worker's write
    to finish. The first thing a search opens, so a missing Optuna is said here, in one line."""
    try:
        import optuna
        import sqlalchemy
    except ImportError as error:
        raise StriateError(f"striate tune needs {error.name}, which is not installed: `pip "
                           "install optuna`") from None

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if sqlite_file(url) else {}
        # Optuna calls heartbeats experimental; striate's own tests pin down what it relies on.
        with storage_lock(url), warnings.catch_warnings():  # two new workers would both
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # make tables
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=STALE_RETRIES)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_s,
                grace_period=STALE_BEATS * heartbeat_s, heartbeat_stale_trial_callback=retry)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as error:
        reason = str(error).splitlines()[0]
        raise StriateError(f"cannot open --storage {url}: {reason}; give an SQLAlchemy URL "
                           "like sqlite:///runs/tune.db") from None


def sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        return Path(parsed.database)
    return None


def storage_lock(url: str):
    """Workers take turns inside this block. A server database locks the rows it updates, but
    pysqlite reads outside any transaction, so two workers could both see a grid point WAITING
    and both take it: for SQLite, a file lock beside the database serialises them instead."""
    database = sqlite_file(url)
    if database is None:
        return contextlib.nullcontext()
    return file_lock(database.with_name(database.name + ".lock"))


@contextlib.contextmanager
def file_lock(path: Path):
    """Held by one process of this machine at a time; released if the process dies."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def identity(strategy: str, space: dict[str, Param], folds: int | None,
             points: int) -> dict:
    """What must not change when a study is continued: its trials would not be comparable."""
    return {"strategy": strategy, "space": describe_space(space), "folds": folds,
            **({"grid_points": points} if strategy == "grid" else {})}


def open_study(storage, name: str, directory: Path, wanted: dict, space: dict[str, Param],
               pruner, seed: int):
    """Create the study (queueing the grid) or load it, refusing a different search."""
    import optuna

    options = {"study_name": name, "storage": storage, "pruner": pruner,
               "sampler": make_sampler(wanted["strategy"], seed)}
    if name not in optuna.study.get_all_study_names(storage) and any(directory.glob("trial-*")):
        raise StriateError(f"{directory} holds trials of another study named {name} (not in "
                           f"this storage); use another --study or --out-dir")
    try:
        study = optuna.create_study(direction="minimize", **options)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**options)
        check_identity(study, name, wanted)
        return study
    if wanted["strategy"] == "grid":
        for point in grid_points(space, wanted["grid_points"]):
            study.enqueue_trial({key: encode(value) for key, value in point.items()})
    study.set_user_attr(IDENTITY, wanted)  # last: a loading worker waits for the queue
    return study


def check_identity(study, name: str, wanted: dict) -> None:
    deadline = time.monotonic() + CREATOR_WAIT_S
    while IDENTITY not in study.user_attrs:  # the creator is still queueing the grid
        if time.monotonic() > deadline:
            raise StriateError(f"study {name} was never finished being set up (its creator was "
                               "stopped); use another --study")
        time.sleep(0.5)
    recorded = study.user_attrs[IDENTITY]
    changed = [key for key in wanted.keys() | recorded.keys()
               if wanted.get(key) != recorded.get(key)]
    if changed:
        was = "; ".join(f"{key} was {recorded.get(key)}, now {wanted.get(key)}"
                        for key in sorted(changed))
        raise StriateError(f"study {name} was started with another search ({was}); run it "
                           "with the same settings, or start a new study with --study NAME")


def make_sampler(strategy: str, seed: int):
    import optuna

    if strategy == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)  # grid points come fixed from the queue


def make_pruner(name: str, epochs: int):
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    # Steps are epochs from 1. Never in the first quarter of the epochs: early curves rank
    # trials badly (a high learning rate is noisy before its schedule brings it down); nor
    # before 5 trials have finished, to have a median to compare with.
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(2, epochs // 4))


def trial_seed(seed: int, number: int) -> int:
    import numpy as np

    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def next_trial(tuning: Tuning, seed: int):
    """The next trial to train, or None when the grid is done."""
    if tuning.strategy == "grid":
        return claim_grid_point(tuning)
    with warnings.catch_warnings():  # that heartbeats are meant for Study.optimize: the
        warnings.simplefilter("ignore")  # heartbeat thread here does what optimize's does
        trial = tuning.study.ask()
    tuning.storage.record_heartbeat(storage_id(tuning, trial))  # from now on it can be stale
    # Seeded by (--seed, trial number): a continued study or a second worker draws new points
    # (one sampler seeded once would repeat its first draws), and a rerun draws the same ones.
    tuning.study.sampler = make_sampler(tuning.strategy, trial_seed(seed, trial.number))
    return trial


def storage_id(tuning: Tuning, trial) -> int:
    """The trial's id in the storage (its number counts within the study)."""
    study_id = tuning.storage.get_study_id_from_name(tuning.study.study_name)
    return tuning.storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)


@contextlib.contextmanager
def heartbeat(tuning: Tuning, trial):
    """Record the trial's heartbeat every --heartbeat seconds while the block runs."""
    import sqlalchemy

    trial_id, stop = storage_id(tuning, trial), threading.Event()

    def beat() -> None:
        while not stop.wait(tuning.storage.get_heartbeat_interval()):
            # A server briefly out of reach: the next beat tries again, within the grace period.
            with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
                tuning.storage.record_heartbeat(trial_id)

    # A daemon: a worker that dies of an error must not be kept alive by its heartbeat.
    thread = threading.Thread(target=beat, name="striate-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def fail_stale_trials(tuning: Tuning) -> None:
    """FAIL the trials of dead workers and queue their points again (the storage's callback)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(tuning.study)


def claim_grid_point(tuning: Tuning):
    import optuna
    from optuna.trial import TrialState

    storage = tuning.storage
    study_id = storage.get_study_id_from_name(tuning.study.study_name)
    with storage_lock(tuning.storage_url):
        # Listed through the study, whose storage cache must know a trial before it is trained.
        for waiting in tuning.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, waiting.number)
            try:
                if storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                    storage.record_heartbeat(trial_id)  # from now on it can be found stale
                    return optuna.Trial(tuning.study, trial_id)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another worker took it and finished it already
    return None


def run_trial(tuning: Tuning, trial, progress: bool) -> None:
    """Train one trial and tell the study how it ended; Ctrl-C is told as FAIL and re-raised
    (a grid point goes back in the queue). A trial another worker found stale ends quietly:
    its point is already queued again."""
    import optuna
    from optuna.trial import TrialState

    params = {name: param.suggest(trial) for name, param in tuning.space.items()}
    name = f"trial-{trial.number:04d}"
    config = apply_params(tuning.base, params, f"trial {trial.number}").resolve()
    fold_errors, train_errors = [], []

    last_step = config.stop.epochs * (tuning.folds or 1)

    def report(step: int, row: dict) -> None:
        try:
            trial.report(row["best_valid_error"], step)
        except optuna.exceptions.UpdateFinishedTrialError:
            raise StaleTrial() from None
        if step < last_step and trial.should_prune():  # a finished trial is never pruned
            raise optuna.TrialPruned()

    def finish(state: TrialState, value: float | None = None, **attrs) -> bool:
        """Whether this worker ended the trial (not another that found it stale first)."""
        try:
            record_outcome(tuning, trial, name, fold_errors, train_errors)
            for key, attr in attrs.items():
                trial.set_user_attr(key, attr)
            tuning.study.tell(trial, value, state=state, skip_if_finished=True)
            return True
        except optuna.exceptions.UpdateFinishedTrialError:
            return False

    try:
        if tuning.folds:
            value = train_trial_folds(tuning, config, name, progress, report, fold_errors,
                                      train_errors)
        else:
            value = train_trial_run(tuning, config, name, progress, report, train_errors)
    except StaleTrial:
        return
    except optuna.TrialPruned:
        finish(TrialState.PRUNED)
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        if finish(TrialState.FAIL, interrupted=interrupted) and (
                interrupted and tuning.strategy == "grid"):
            tuning.study.enqueue_trial(trial.params)
        raise
    else:
        finish(TrialState.COMPLETE, value)


def train_trial_run(tuning: Tuning, config: TrainConfig, name: str, progress: bool,
                    report, train_errors: list) -> float:
    from striate.training.session import train

    config.run.out_dir, config.run.name = str(tuning.directory), name
    outcome = train(config, show_progress=progress, echo=lambda text: None,
                    on_epoch=lambda row: report(row["epoch"], row))
    train_errors.append(outcome.metrics["best_train_error"])
    return outcome.metrics["best_valid_error"]


def train_trial_folds(tuning: Tuning, config: TrainConfig, name: str, progress: bool, report,
                      fold_errors: list, train_errors: list) -> float:
    """The CV mean validation error; fold f's epoch e is step (f - 1) * epochs + e for the
    pruner, so it compares each fold's curve with the other trials' same fold."""
    directory = tuning.directory / name
    directory.mkdir()
    epochs = config.stop.epochs

    def on_epoch(fold: int, row: dict) -> None:
        report((fold - 1) * epochs + row["epoch"], row)

    for _, _, metrics in train_folds(config, directory, progress, on_epoch, echo=lambda t: None):
        fold_errors.append(metrics["best_valid_error"])
        train_errors.append(metrics["best_train_error"])
    return mean_and_std(fold_errors)[0]


def record_outcome(tuning: Tuning, trial, name: str, fold_errors: list,
                   train_errors: list) -> None:
    """The trial's run directories (relative to the study directory), fold figures and
    training error (at the best epoch, the mean over folds)."""
    if len(train_errors) == (tuning.folds or 1):
        trial.set_user_attr("train_error", mean_and_std(train_errors)[0])
    if tuning.folds:
        runs = [f"{name}/fold-{fold}" for fold in range(1, tuning.folds + 1)
                if (tuning.directory / name / f"fold-{fold}").is_dir()]
        trial.set_user_attr("fold_valid_errors", list(fold_errors))
    else:
        runs = [name] if (tuning.directory / name).is_dir() else []
    trial.set_user_attr("runs", runs)


def trial_records(tuning: Tuning) -> list[dict]:
    """Every started trial of the study (all workers'), as results.py's records."""
    from optuna.trial import TrialState

    records = []
    for frozen in tuning.study.get_trials(deepcopy=False):
        if frozen.state == TrialState.WAITING:
            continue
        folds = frozen.user_attrs.get("fold_valid_errors") if tuning.folds else None
        records.append({
            "trial": frozen.number, "state": frozen.state.name,
            "params": {key: decode(value) for key, value in frozen.params.items()},
            "valid_error": frozen.value, "fold_valid_errors": folds,
            "train_error": frozen.user_attrs.get("train_error"),
            "runs": frozen.user_attrs.get("runs", []),
            "duration_s": frozen.duration.total_seconds() if frozen.duration else None})
    return records


def write_outputs(tuning: Tuning) -> tuple[list[dict], dict | None]:
    """study.json, trials.csv and best.yaml from the storage: every worker's trials so far.

    Workers take turns (read, then write), so the last one to write saw every finished trial."""
    with file_lock(tuning.directory / OUTPUTS_LOCK):
        return write_outputs_now(tuning)


def write_outputs_now(tuning: Tuning) -> tuple[list[dict], dict | None]:
    records = trial_records(tuning)
    names = list(tuning.space)
    header = {"study": tuning.study.study_name, "storage": tuning.storage_url,
              "strategy": tuning.strategy, "folds": tuning.folds}
    write_study_json(tuning.directory, header, names, records)
    rows = trial_rows(records, names)
    write_csv(tuning.directory / TRIALS_CSV, rows, [*TRIAL_COLUMNS, *names])
    best = best_record(records)
    if best is not None:
        atomic_write_text(tuning.directory / BEST_YAML, to_yaml(best_config(tuning, best)))
    return rows, best


def best_config(tuning: Tuning, best: dict) -> TrainConfig:
    """The base config with the best trial's values, as a plain training run: no folds, the
    default run name and directory."""
    config = apply_params(tuning.base, best["params"], f"trial {best['trial']}")
    config.data.folds, config.data.fold, config.run.name = None, 1, None
    return config


def search(tuning: Tuning, n_trials: int | None, timeout_s: float | None, seed: int,
           progress: bool, echo=print) -> None:
    """Train trials until --n-trials, --timeout or the end of the grid, whichever comes first."""
    n_trials = n_trials or (None if tuning.strategy == "grid" else RANDOM_TRIALS)
    started, done = time.monotonic(), 0
    while n_trials is None or done < n_trials:
        if done and timeout_s is not None and time.monotonic() - started >= timeout_s:
            echo(f"--timeout {timeout_s:g} s reached; no new trial started")
            break
        fail_stale_trials(tuning)
        trial = next_trial(tuning, seed)
        if trial is None:
            echo("every grid point is taken")
            break
        try:
            with heartbeat(tuning, trial):
                run_trial(tuning, trial, progress)
        except KeyboardInterrupt:
            write_outputs(tuning)
            raise KeyboardInterrupt(
                f"interrupted; the finished trials are saved in {tuning.storage_url} and "
                f"{tuning.directory}: run the same command again to continue study "
                f"{tuning.study.study_name}") from None
        done += 1
        echo(describe_trial(tuning, trial.number))
        write_outputs(tuning)


def describe_trial(tuning: Tuning, number: int) -> str:
    frozen = tuning.study.get_trials(deepcopy=False)[number]  # numbers count from 0, no gaps
    values = ", ".join(f"{key}={brief(decode(value))}" for key, value in frozen.params.items())
    error = "-" if frozen.value is None else f"{frozen.value:.2%}"
    return (f"trial {number} {frozen.state.name}: valid error {error} in "
            f"{frozen.duration.total_seconds():.1f} s ({values})")


def summarize(tuning: Tuning, echo=print) -> Study:
    fail_stale_trials(tuning)
    rows, best = write_outputs(tuning)
    echo(table(rows, [*TRIAL_COLUMNS, *tuning.space]))
    if best is None:
        echo("no trial has completed yet")
    else:
        values = ", ".join(f"{key}={brief(value)}" for key, value in best["params"].items())
        echo(f"best: trial {best['trial']}, validation error {best['valid_error']:.2%} "
             f"({values}); train it with `striate train --config "
             f"{tuning.directory / BEST_YAML}`")
    echo(f"study {tuning.study.study_name} in {tuning.storage_url}; files in {tuning.directory}: "
         f"trials.csv, study.json{', best.yaml' if best else ''}, trial-*/")
    return Study(tuning.directory, rows, best)


def check_search(strategy: str, pruner: str, grid_points: int, n_trials: int | None,
                 timeout_s: float | None) -> None:
    """The search settings, refused in one line (the CLI's flags check the same)."""
    if strategy not in STRATEGIES:
        raise StriateError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if pruner not in PRUNERS:
        raise StriateError(f"pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    for name, value, least in (("grid_points", grid_points, 2), ("n_trials", n_trials, 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < least):
            raise StriateError(f"{name} must be a whole number of at least {least}, "
                               f"got {value!r}")
    if timeout_s is not None and not (isinstance(timeout_s, (int, float))
                                      and not isinstance(timeout_s, bool) and timeout_s > 0):
        raise StriateError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")


def run_study(config: TrainConfig, space: dict[str, Param], strategy: str = "tpe",
              grid_points: int = 4, pruner: str = "median", study: str | None = None,
              storage: str | None = None, heartbeat_s: int = HEARTBEAT_S,
              n_trials: int | None = None, timeout_s: float | None = None,
              progress: bool = False, echo=print) -> Study:
    """`striate tune` and striate.search: search `space` around the resolved `config`, in study
    `study` (default MODEL-DATASET) of `storage` (default sqlite:///OUT_DIR/tune.db, which
    other workers may share), and summarise every trial so far."""
    from striate.engines import get_engine

    check_search(strategy, pruner, grid_points, n_trials, timeout_s)
    check_space(config, space, get_engine(config.run.engine).check_model_options)
    study = study or f"{config.model.model}-{config.data.dataset}"
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", study):
        raise StriateError(f"--study must be a plain name (letters, digits, . _ -), got {study!r}")
    if storage is None:
        make_directory(Path(config.run.out_dir), "pass a writable --out-dir")
        storage = f"sqlite:///{Path(config.run.out_dir) / 'tune.db'}"
    tuning = open_tuning(config, space, strategy, grid_points, pruner, study, storage,
                         heartbeat_s)
    search(tuning, n_trials, timeout_s, config.run.seed, progress, echo)
    return summarize(tuning, echo)


def open_tuning(base: TrainConfig, space: dict[str, Param], strategy: str, points: int,
                pruner: str, study_name: str, storage_url: str,
                heartbeat_s: int = HEARTBEAT_S) -> Tuning:
    storage = open_storage(storage_url, heartbeat_s)
    directory = Path(base.run.out_dir) / f"tune-{study_name}"
    wanted = identity(strategy, space, base.data.folds, points)
    with storage_lock(storage_url):  # one creator queues the grid; the others wait for it
        study = open_study(storage, study_name, directory, wanted, space,
                           make_pruner(pruner, base.stop.epochs), base.run.seed)
    directory.mkdir(parents=True, exist_ok=True)
    return Tuning(study, storage, storage_url, space, strategy, copy.deepcopy(base), directory)
