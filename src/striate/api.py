"""striate in Python: train a model on a data set, use it, load it back.

    import striate
    data = striate.load_dataset("digits")
    trained = striate.train("mlp", data, epochs=20, run_dir=None)
    trained.evaluate(data)["accuracy"], trained.predict(data.test.images[:5])

The functions here only turn keywords into the config dataclasses and call the same session the
CLI runs, so a run directory written from Python is the one `striate train` writes, and the
CLI's evaluate, predict, plot and report read it.
"""

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from striate.checkpoint import resolve_checkpoint
from striate.checks import Check, check_setup
from striate.config import TrainConfig, apply_mapping, section_fields
from striate.data import Dataset, Preprocess, Split, pipeline
from striate.data.arrays import checked_images
from striate.data.registry import dataset_names, load_dataset
from striate.engines import get_engine
from striate.errors import StriateError
from striate.inference import (check_same_data, check_tta, evaluate_split, probabilities,
                               with_views)
from striate.lr_find import Sweep, check_sweep, learning_rates, sweep
from striate.recipes import recipe_config
from striate.registry import import_path
from striate.runs import METRICS_CSV, RunDir
from striate.training import session
from striate.training.learner import TTA, as_tta
from striate.tune.results import CrossValidation, Study

AUTO = "auto"   # run_dir: <out_dir>/<name> as the CLI names it
Callback = Callable[[dict], "bool | None"]


@dataclass
class Trained:
    """A trained model with what it needs to be used: its preprocessing, classes and config.
    From striate.train (in memory, and on disk unless run_dir=None) or striate.load."""
    model: object              # torch nn.Module or NumPy-engine model, with the best weights
    metrics: dict              # the figures at the best validation point (metrics.json)
    history: list[dict]        # one row per epoch (metrics.csv)
    run_dir: Path | None       # where it was written, None if nowhere
    config: TrainConfig        # the settings it was trained with, resolved
    preprocess: Preprocess     # fitted on its training split
    class_names: list[str]
    pixel_max: float           # the value of a white pixel in its training data

    @property
    def engine(self):
        return get_engine(self.config.run.engine)

    def predict(self, x, tta: bool | TTA = False) -> np.ndarray:
        """(N, classes) class probabilities of images x: numpy or torch, (N, H, W) or
        (N, C, H, W), on the scale of the training data's pixels (white = pixel_max, e.g. 255
        for uint8 images); the fitted preprocessing is applied. tta also averages each image's
        prediction with its mirror image's; a TTA(mirror, shift) with its shifts' too."""
        images = checked_images(x, "x")                                  # (N, C, H, W)
        if images.max() > self.pixel_max:
            raise StriateError(f"x's pixels go up to {images.max():g}, but white was "
                               f"{self.pixel_max:g} in the training data; give x on that scale "
                               f"(e.g. x / 255 * {self.pixel_max:g})")
        return probabilities(self.log_proba(tta), self.preprocess, images, self.pixel_max)

    def evaluate(self, data: Dataset | str, split: str = "test",
                 tta: bool | TTA = False) -> dict:
        """{"split", "examples", "loss", "error", "accuracy"} on a split of a data set (a
        Dataset, or a built-in one's name), split as in training (the validation examples are
        carved by the run's seed)."""
        if isinstance(data, str):   # its own files, if it is the one it trained on
            same = data == self.config.data.dataset
            data = pipeline.load_data(self.config.data) if same else load_dataset(data)
        if not isinstance(data, Dataset):
            raise StriateError(f"data must be a Dataset or a data set's name, not a "
                               f"{type(data).__name__}")
        check_same_data(data, self.preprocess.input_shape, self.class_names,
                        "evaluate it on the data it was trained on")
        splits = pipeline.split(data, self.config.data, self.config.run.seed)
        if split not in splits:
            raise StriateError(f"split must be one of {', '.join(splits)}, got {split!r}")
        return evaluate_split(self.log_proba(tta), self.preprocess, splits[split],
                              data.pixel_max, split)

    def log_proba(self, tta: bool | TTA):
        """The engine's (N, ...) preprocessed inputs -> (N, classes) log-probabilities."""
        tta = as_tta(tta)
        check_tta(self.config.data.dataset, self.preprocess, tta)
        return with_views(self.engine.predictor(self.model), tta)


def train(model=None, data: Dataset | str | None = None, *,
          run_dir: str | Path | None = AUTO, callbacks: Sequence[Callback] = (),
          recipe: str | None = None, **options) -> Trained:
    """Train `model` on `data` and return it, trained.

    model: a model name (see striate.registry.SPECS, `striate models`), "package.module:Class",
    or a model object to train as it is: a torch nn.Module (engine="torch") or a NumPy-engine
    model with cs231n's params and loss(X, y=None) (engine="numpy"). A model object is rebuilt
    by striate.load as Class(**model_args), model_args defaulting to its `hparams` dict (the
    constructor's arguments, as Lightning keeps them; striate.dlt's classes do); or give
    striate.load(run, model=an_instance) to load the weights into a model you built.
    data: a Dataset (striate.load_dataset, Dataset.from_arrays, Dataset.from_folder) or the
    name of a built-in data set.
    model and data left out: the recipe's, else lenet and fashion-mnist as on the CLI.
    run_dir: AUTO writes <out_dir>/<name> (runs/<time>-<model>-<data>) as the CLI does; a path
    writes there (path-1, path-2, ... if it exists: a run never writes into another); None
    writes nothing.
    callbacks: each called after every epoch with the epoch's metrics.csv row (a dict); one
    that returns True ends training after that epoch.
    recipe: a named recipe (`striate recipes`) the options then override.
    options: every training option of the CLI, by the same name and with the same default
    (lr=0.05, epochs=..., optimizer="momentum", model_args={...}, engine="numpy", seed=0, ...).
    """
    if run_dir not in (AUTO, None):
        if not isinstance(run_dir, (str, Path)):
            raise StriateError(f"run_dir must be a path, AUTO or None, not {run_dir!r}")
        options = {**options, "out_dir": str(Path(run_dir).parent), "name": Path(run_dir).name}
    config, dataset = configure(model, data, recipe, options)
    on_epoch = callbacks_stop(callbacks)
    outcome = session.train(config, show_progress=config.run.shows_progress(),
                            echo=echo_of(config),
                            on_epoch=on_epoch, dataset=dataset, model=own_model(model),
                            write=run_dir is not None)
    data_used = outcome.data
    return Trained(outcome.learner.model, outcome.metrics, outcome.history,
                   outcome.run.path if outcome.run else None, config, data_used.preprocess,
                   list(data_used.dataset.class_names), data_used.dataset.pixel_max)


def check(model=None, data: Dataset | str | None = None, *, recipe: str | None = None,
          **options) -> list[Check]:
    """`striate check`'s sanity checks of a set-up (the arguments as striate.train's): each
    Check has .name, .value, .expected and .passed; striate.checks.report(checks) is the
    table."""
    config, dataset = configure(model, data, recipe, options)
    return check_setup(config, dataset)


def find_lr(model=None, data: Dataset | str | None = None, *, start_lr: float = 1e-7,
            end_lr: float = 10.0, steps: int = 100, recipe: str | None = None,
            **options) -> Sweep:
    """`striate lr-find`'s learning-rate range test (named apart from the module
    striate.lr_find, which holds it): a fresh model trains one minibatch per
    step while the rate grows from start_lr to end_lr; .suggestion() is the suggested lr,
    .lrs, .losses and .smoothed the curve (the arguments as striate.train's)."""
    check_sweep(start_lr, end_lr, steps)
    config, dataset = configure(model, data, recipe, options)
    result, _ = sweep(config, learning_rates(start_lr, end_lr, steps),
                      config.run.shows_progress(), dataset)
    return result


def search(model=None, data: Dataset | str | None = None, *, space: dict,
           strategy: str = "tpe", n_trials: int | None = None, timeout_s: float | None = None,
           grid_points: int = 4, pruner: str = "median", study: str | None = None,
           storage: str | None = None, recipe: str | None = None, **options) -> Study:
    """`striate tune`'s hyper-parameter search: each trial a training run (k of them with
    folds=k) in <out_dir>/tune-<study>/, the study in `storage` (default
    sqlite:///<out_dir>/tune.db), which other processes may work on at the same time; calling
    it again continues the study. Returns every trial so far and the best.

    space: {option: spec}, an option of striate.train's (or "model_args.KEY") and its spec a
    list of values or text as `--param`'s: "loguniform(1e-4, 1e-1)", "uniform(0, 0.5)",
    "int(1, 4)", "logint(16, 256)", "choice(a, b)". strategy: grid, random or tpe (Optuna's
    Bayesian sampler). n_trials: trials to train in this call (default: the rest of the grid,
    20 for random and tpe); timeout_s: start none after this long. grid_points: values per
    range on a grid. pruner: median (stop a trial worse than the median of earlier ones at the
    same epoch) or none. model, data, recipe and options: as striate.train's, except that the
    model is a name and the data are files (each trial loads them again).
    """
    from striate.tune.search import run_study
    from striate.tune.space import parse_specs

    for name, why in (("name", "names each trial's run itself (trial-0003); use study="),
                      ("fold", "trains every fold of folds= in each trial")):
        if name in options:
            raise StriateError(f"striate.search {why}; drop {name}=")
    config = config_for_many_runs(model, data, recipe, options, "striate.search")
    return run_study(config, parse_specs(space), strategy, grid_points, pruner, study, storage,
                     n_trials=n_trials, timeout_s=timeout_s,
                     progress=config.run.shows_progress(), echo=echo_of(config))


def cross_validate(model=None, data: Dataset | str | None = None, *, folds: int = 5,
                   recipe: str | None = None, **options) -> CrossValidation:
    """`striate cv`'s k-fold cross-validation: the labelled non-test examples dealt into
    `folds` stratified folds (by seed), one run per fold in <out_dir>/cv-<name>/ validating on
    it; returns each fold's figures and the mean ± std validation accuracy. The arguments as
    striate.train's, except that the model is a name and the data are files."""
    from striate.tune.cv import cross_validate as train_every_fold

    if "fold" in options:
        raise StriateError("striate.cross_validate trains every fold; drop fold=")
    config = config_for_many_runs(model, data, recipe, {**options, "folds": folds},
                                  "striate.cross_validate")
    return train_every_fold(config, config.run.shows_progress(), echo=echo_of(config))


def config_for_many_runs(model, data, recipe: str | None, options: dict,
                         what: str) -> TrainConfig:
    """The resolved config of striate.train's arguments, for a function that trains each of
    its runs from the config alone, in this process: a model by name, data from files."""
    if own_model(model) is not None:
        raise StriateError(f"{what} builds each run's model from its name; give a model name "
                           f"(see `striate models`), not a {type(model).__name__}")
    config, _ = configure(model, data, recipe, options)
    if config.data.dataset not in dataset_names():
        raise StriateError(f"{what} loads the data again for each run, but {config.data.dataset}"
                           " is arrays in memory; save them with np.savez(FILE, x_train=..., "
                           "y_train=..., x_test=..., y_test=...) and give "
                           "data=striate.load_dataset('npz', FILE)")
    return config


def echo_of(config: TrainConfig):
    """Where a function's report lines go: printed, unless progress='off'."""
    return print if config.run.progress != "off" else (lambda text: None)


def configure(model, data, recipe: str | None,
              options: dict) -> tuple[TrainConfig, Dataset | None]:
    """(the resolved config, the data set in memory or None) of striate.train's arguments."""
    config = recipe_config(recipe) if recipe else TrainConfig()
    given = {**settings(options), **model_settings(model, options), **data_settings(data)}
    config = apply_mapping(config, by_section(given), "striate.train()").resolve()
    if config.run.nproc > 1:
        raise StriateError("nproc > 1 launches processes from the command line: run `striate "
                           "train --nproc N`; in Python, train in this process")
    return config, data if isinstance(data, Dataset) else None


def own_model(model) -> object | None:
    """The model object to train as it is, or None for a name (or the config's model)."""
    return None if model is None or isinstance(model, str) else model


def model_settings(model, options: dict) -> dict:
    if model is None:
        return {}
    if isinstance(model, str):
        return {"model": model}
    # Rebuilt by striate.load from its import path and constructor's arguments, where it keeps
    # them (hparams), unless the options give them.
    return {"model": import_path(type(model)),
            "model_args": options.get("model_args", getattr(model, "hparams", None) or {})}


def data_settings(data) -> dict:
    """The config's data settings of a data set, such that the CLI can load it again (files
    the Dataset was read from), where it can."""
    if data is None:
        return {}
    if isinstance(data, str):
        return {"dataset": data}
    if not isinstance(data, Dataset):
        raise StriateError(f"data must be a Dataset or a data set's name, not a "
                           f"{type(data).__name__}; see striate.Dataset.from_arrays")
    if data.source == "<memory>" and data.name in dataset_names():
        raise StriateError(f"arrays in memory named {data.name!r}, the name of a built-in data "
                           "set, would be taken for it when the run is read again; name them "
                           "apart (Dataset.from_arrays(..., name=...))")
    if data.name == "folder":
        channels, height, width = data.input_shape
        return {"dataset": "folder", "data_dir": data.source, "image_size": f"{height}x{width}",
                "channels": str(channels)}
    if data.name == "npz":
        return {"dataset": "npz", "data_dir": data.source}
    return {"dataset": data.name}


def callbacks_stop(callbacks: Sequence[Callback]) -> Callback:
    """One on_epoch for the session: every callback sees the row; any that returns True ends
    training (another return value, a figure for instance, does not)."""
    if callable(callbacks) or not all(callable(callback) for callback in callbacks):
        raise StriateError("callbacks must be a list of functions of the epoch's row, e.g. "
                           "callbacks=[print]")

    def on_epoch(row: dict) -> bool:
        return any([callback(dict(row)) is True for callback in callbacks])
    return on_epoch


FIELDS = {leaf.name: section for section, leaf in section_fields()}


def settings(options: dict) -> dict:
    """The keyword options, refused in one line where one is not a training option."""
    options = {name: str(value) if isinstance(value, Path) else value    # data_dir, out_dir
               for name, value in options.items()}
    for name in options:
        if name not in FIELDS or name in ("model", "dataset"):
            close = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise StriateError(f"striate.train() has no option {name!r}{hint}; its options are "
                               "the training flags of `striate train --help`, by field name")
    return dict(options)


def by_section(values: dict) -> dict:
    """{field: value} -> {section: {field: value}}, the shape apply_mapping reads."""
    mapping = {}
    for name, value in values.items():
        mapping.setdefault(FIELDS[name], {})[name] = value
    return mapping


def load(path: str | Path, *, device: str = "auto", engine: str | None = None,
         trust_model_code: bool = False, model=None) -> Trained:
    """The Trained model of a run directory or checkpoint file, as striate.train returned it.

    engine: the engine to run it with (default: the one that trained it; either loads the
    other's checkpoints of the models both have). trust_model_code: allow importing the
    module of a model class of its author's own (which runs that module's code). model: a
    model you built, of the run's architecture, to load the weights into instead."""
    if not isinstance(path, (str, Path)):
        raise StriateError(f"path must be a run directory or checkpoint file, not {path!r}")
    checkpoint = resolve_checkpoint(path)
    preprocess, meta = pipeline.load_preprocess(checkpoint)
    config = apply_mapping(TrainConfig(), meta["config"], f"{checkpoint} metadata")
    if engine is not None:
        config.run.engine = engine
    model, _ = get_engine(config.run.engine).load_model(checkpoint, device, trust_model_code,
                                                        into=model)
    run = RunDir(checkpoint.parent) if Path(path).is_dir() else None
    try:
        history = run.history() if run and (run / METRICS_CSV).is_file() else []
    except ValueError as error:
        raise StriateError(f"{error}; the run's weights load without it: "
                           "striate.load(its model.safetensors)") from None
    return Trained(model, run.metrics() if run else {}, history, run.path if run else None,
                   config, preprocess, list(meta["class_names"]), meta["pixel_max"])


__all__ = ["AUTO", "Trained", "train", "load", "check", "find_lr", "load_dataset", "Dataset",
           "Split"]
