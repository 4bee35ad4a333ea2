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
from striate.config import TrainConfig, apply_mapping, section_fields
from striate.data import Dataset, Preprocess, Split, pipeline
from striate.data.arrays import checked_images
from striate.data.registry import load_dataset
from striate.engines import get_engine
from striate.errors import StriateError
from striate.checks import Check, check_setup
from striate.inference import check_tta, evaluate_split, probabilities, with_mirror
from striate.lr_find import Sweep, check_sweep, learning_rates, sweep
from striate.recipes import recipe_config
from striate.registry import import_path
from striate.runs import RunDir
from striate.training import session

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

    def predict(self, x, tta: bool = False) -> np.ndarray:
        """(N, classes) class probabilities of images x: numpy or torch, (N, H, W) or
        (N, C, H, W), on the scale of the training data's pixels (white = pixel_max, e.g. 255
        for uint8 images); the fitted preprocessing is applied. tta also averages each image's
        prediction with its mirror image's."""
        images = checked_images(x, "x")                                  # (N, C, H, W)
        if images.shape[1:] != self.preprocess.input_shape:
            raise StriateError(f"x holds {images.shape[1:]} images, the model takes "
                               f"{self.preprocess.input_shape} (C, H, W)")
        return probabilities(self.log_proba(tta), self.preprocess, images, self.pixel_max)

    def evaluate(self, data: Dataset | str, split: str = "test", tta: bool = False) -> dict:
        """{"split", "examples", "loss", "error", "accuracy"} on a split of a data set (a
        Dataset, or a built-in one's name), split as in training (the validation examples are
        carved by the run's seed)."""
        dataset = load_dataset(data) if isinstance(data, str) else data
        splits = pipeline.split(dataset, self.config.data, self.config.run.seed)
        if split not in splits:
            raise StriateError(f"split must be one of {', '.join(splits)}, got {split!r}")
        return evaluate_split(self.log_proba(tta), self.preprocess, splits[split],
                              dataset.pixel_max, split)

    def log_proba(self, tta: bool):
        """The engine's (N, ...) preprocessed inputs -> (N, classes) log-probabilities."""
        if tta:
            check_tta(self.config.data.dataset, self.preprocess)
        log_proba = self.engine.predictor(self.model)
        return with_mirror(log_proba) if tta else log_proba


def train(model="lenet", data: Dataset | str = "fashion-mnist", *,
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
    run_dir: AUTO writes <out_dir>/<name> (runs/<time>-<model>-<data>) as the CLI does; a path
    writes there; None writes nothing.
    callbacks: each called after every epoch with the epoch's metrics.csv row (a dict); one
    that returns True ends training after that epoch.
    recipe: a named recipe (`striate recipes`) the options then override.
    options: every training option of the CLI, by the same name and with the same default
    (lr=0.05, epochs=..., optimizer="momentum", model_args={...}, engine="numpy", seed=0, ...).
    """
    if run_dir not in (AUTO, None):
        options = {**options, "out_dir": str(Path(run_dir).parent), "name": Path(run_dir).name}
    config, dataset = configure(model, data, recipe, options)
    outcome = session.train(config, show_progress=config.run.shows_progress(),
                            echo=print if config.run.progress != "off" else lambda text: None,
                            on_epoch=callbacks_stop(callbacks), dataset=dataset,
                            model=None if isinstance(model, str) else model,
                            write=run_dir is not None)
    data_used = outcome.data
    return Trained(outcome.learner.model, outcome.metrics, outcome.history,
                   outcome.run.path if outcome.run else None, config, data_used.preprocess,
                   list(data_used.dataset.class_names), data_used.dataset.pixel_max)


def check(model="lenet", data: Dataset | str = "fashion-mnist", *, recipe: str | None = None,
          **options) -> list[Check]:
    """`striate check`'s sanity checks of a set-up (the arguments as striate.train's): each
    Check has .name, .value, .expected and .passed; striate.checks.report(checks) is the
    table."""
    config, dataset = configure(model, data, recipe, options)
    return check_setup(config, dataset)


def find_lr(model="lenet", data: Dataset | str = "fashion-mnist", *, start_lr: float = 1e-7,
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


def configure(model, data, recipe: str | None, options: dict) -> tuple[TrainConfig, Dataset]:
    """(the resolved config, the data set in memory or None) of striate.train's arguments."""
    config = recipe_config(recipe) if recipe else TrainConfig()
    given = settings(options)
    if isinstance(model, str):
        given["model"] = model
    else:
        given["model"] = import_path(type(model))
        if "model_args" not in given:
            # what rebuilds it (striate.load): its constructor's arguments, where it keeps them
            given["model_args"] = getattr(model, "hparams", None) or {}
    given["dataset"] = data if isinstance(data, str) else data.name
    config = apply_mapping(config, by_section(given), "striate.train()").resolve()
    return config, None if isinstance(data, str) else data


def callbacks_stop(callbacks: Sequence[Callback]) -> Callback:
    """One on_epoch for the session: every callback sees the row; any True ends training."""
    def on_epoch(row: dict) -> bool:
        return any([bool(callback(dict(row))) for callback in callbacks])
    return on_epoch


FIELDS = {leaf.name: section for section, leaf in section_fields()}


def settings(options: dict) -> dict:
    """The keyword options, refused in one line where one is not a training option."""
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
    checkpoint = resolve_checkpoint(path)
    preprocess, meta = pipeline.load_preprocess(checkpoint)
    config = apply_mapping(TrainConfig(), meta["config"], f"{checkpoint} metadata")
    if engine is not None:
        config.run.engine = engine
    model, _ = get_engine(config.run.engine).load_model(checkpoint, device, trust_model_code,
                                                        into=model)
    run = RunDir(checkpoint.parent) if Path(path).is_dir() else None
    history = run.history() if run and (run / "metrics.csv").is_file() else []
    return Trained(model, run.metrics() if run else {}, history, run.path if run else None,
                   config, preprocess, list(meta["class_names"]), meta["pixel_max"])


__all__ = ["AUTO", "Trained", "train", "load", "check", "find_lr", "load_dataset", "Dataset",
           "Split"]
