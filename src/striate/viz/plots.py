"""Which plots apply to what, and drawing them: the registry behind `striate plot` and the report.

A plot is drawn from a Subject: a run directory, a checkpoint file or a study directory. What
the plots read from it (metrics.csv, the model, the test predictions, study.json) is loaded once,
on first use, so asking for several plots costs one model load and one pass over the test set.
"""

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np

from striate.checkpoint import WEIGHTS_FILE
from striate.data import load_image
from striate.data.pipeline import load_preprocess
from striate.data.preprocess import PROJECTIONS
from striate.engines import get_engine
from striate.threads import torch_installed
from striate.errors import StriateError
from striate.files import atomic_write_bytes
from striate.registry import SPECS, is_import_path
from striate.runs import CONFIG, METRICS_CSV
from striate.viz.curves import Curves, error_figure, loss_figure, lr_figure, read_curves
from striate.viz.features import features_figure
from striate.viz.figures import display_image, png_bytes
from striate.viz.predictions import (checkpoint_test_data, confusion_figure, predict_test,
                                     wrong_figure)
from striate.viz.study import (STUDY_FILE, cross_validation_figure, fold_curves_figure,
                               heatmap_figure, read_study)
from striate.viz.weights import filters_figure


@dataclass
class PlotOptions:
    layers: list[str] | None = None  # feature maps of these layers (None: the conv layers)
    image: str | None = None         # feature maps of this image file ...
    index: int = 0                   # ... or of this test-set image
    x: str | None = None             # study plots: parameters on the axes (None: the first ones)
    y: str | None = None
    device: str = "auto"
    trust_model_code: bool = False   # import the module a model of the user's own is in


def identify(path: Path) -> str:
    if path.is_dir() and (path / STUDY_FILE).is_file():
        return "study"
    if path.is_dir() and (path / CONFIG).is_file():
        return "run"
    if path.is_file() and path.suffix == ".safetensors":
        return "checkpoint"
    raise StriateError(f"{path} is not a run directory (no {CONFIG}), a study directory (no "
                       f"{STUDY_FILE}) or a .safetensors checkpoint; give one of those")


class Subject:
    """What plots are drawn from, and what they read from it, each loaded on first use."""

    def __init__(self, path, options: PlotOptions | None = None):
        self.path, self.options = Path(path), options or PlotOptions()
        self.kind = identify(self.path)

    @property
    def checkpoint(self) -> Path | None:
        if self.kind == "checkpoint":
            return self.path
        weights = self.path / WEIGHTS_FILE
        return weights if self.kind == "run" and weights.is_file() else None

    def default_out(self) -> Path:
        return (self.path.parent if self.kind == "checkpoint" else self.path) / "plots"

    @cached_property
    def curves(self) -> Curves:
        return read_curves(self.path)

    @cached_property
    def meta(self) -> dict:
        """The checkpoint's metadata, its model one this striate knows; loads no weights."""
        meta = load_preprocess(self.checkpoint)[1]
        if meta["model"] not in SPECS and not is_import_path(meta["model"]):
            raise StriateError(f"{self.checkpoint} holds a model {meta['model']!r} this striate "
                               "does not know (see `striate models`); plot it with the striate "
                               "that trained it")
        return meta

    @cached_property
    def engine(self):
        """The engine that trained the checkpoint."""
        return get_engine(self.meta.get("engine", "torch"))

    @cached_property
    def model(self):
        """The checkpoint's model, in the engine that trained it (in eval mode)."""
        return self.engine.load_model(self.checkpoint, self.options.device,
                                      self.options.trust_model_code)[0]

    @cached_property
    def torch_model(self):
        """Feature maps are caught with torch's forward hooks; the checkpoints of the models
        both engines have load into either."""
        if self.engine is get_engine("torch"):
            return self.model
        return get_engine("torch").load_model(self.checkpoint, self.options.device,
                                              self.options.trust_model_code)[0]

    @cached_property
    def test_data(self):
        return checkpoint_test_data(self.meta, self.checkpoint)

    @cached_property
    def predictions(self):
        return predict_test(self.checkpoint, self.test_data, self.options.device,
                            self.options.trust_model_code)

    @cached_property
    def feature_layers(self) -> list[str]:
        torch_engine = get_engine("torch")
        if self.options.layers is None:
            return torch_engine.conv_layer_names(self.torch_model)
        torch_engine.check_layers(self.torch_model, self.options.layers, self.meta["model"])
        return self.options.layers

    @cached_property
    def study(self) -> dict:
        return read_study(self.path)

    @property
    def x(self) -> str | None:
        """None for a `striate cv` study, which varied nothing."""
        return self.options.x or next(iter(self.study["params"]), None)

    @property
    def y(self) -> str | None:
        others = [name for name in self.study["params"] if name != self.x]
        return self.options.y or (others[0] if others else None)

    def feature_input(self) -> tuple[np.ndarray, np.ndarray, str]:
        """(preprocessed (C, H, W) float32 input, picture to show, caption) for feature maps."""
        preprocess, meta = load_preprocess(self.checkpoint)
        channels, height, width = meta["input_shape"]
        if self.options.image:
            pixels = load_image(self.options.image, (height, width), channels)  # (C, H, W)
            scale, caption = 255.0, f"input: {Path(self.options.image).name}"
        else:
            test, index = self.test_data, self.options.index
            if not 0 <= index < len(test.split):
                raise StriateError(f"--index {index} is outside the test split's 0.."
                                   f"{len(test.split) - 1}; choose an image inside it")
            pixels, scale = test.split.images[index], test.pixel_max
            caption = f"test image #{index}: {meta['class_names'][test.split.labels[index]]}"
        image = preprocess.apply(pixels[np.newaxis], scale)[0]
        return image, display_image(pixels), caption


def no_history(subject: Subject) -> str | None:
    if subject.kind != "run" or not (subject.path / METRICS_CSV).is_file():
        return f"needs a run directory with {METRICS_CSV}"
    return None


def no_checkpoint(subject: Subject) -> str | None:
    if subject.checkpoint is None:
        return f"needs a run directory with {WEIGHTS_FILE}, or a .safetensors checkpoint"
    return None


def no_filters(subject: Subject) -> str | None:
    if no_checkpoint(subject):
        return no_checkpoint(subject)
    if subject.meta["preprocess"]["kind"] in PROJECTIONS:
        return "needs a model of image pixels; this one reads PCA component scores"
    return None


def no_feature_layers(subject: Subject) -> str | None:
    if no_checkpoint(subject):
        return no_checkpoint(subject)
    if not torch_installed():
        return "needs PyTorch (its forward hooks catch the maps), which is not installed"
    model = subject.meta["model"]
    if not is_import_path(model) and "torch" not in SPECS[model].engines:
        return (f"needs a model the torch engine has (its forward hooks catch the maps); "
                f"{subject.meta['model']} is the NumPy engine's only")
    if not subject.feature_layers:
        return (f"needs --layers: {subject.meta['model']} has no convolution layers (give "
                "names such as hidden.fc1)")
    return None


def no_study(subject: Subject) -> str | None:
    return None if subject.kind == "study" else f"needs a study directory (with {STUDY_FILE})"


def no_folds(subject: Subject) -> str | None:
    if no_study(subject):
        return no_study(subject)
    return None if subject.study.get("strategy") == "cv" else \
        "needs the directory of a `striate cv` (one configuration's folds)"


def no_second_param(subject: Subject) -> str | None:
    if no_study(subject):
        return no_study(subject)
    return None if subject.y else "needs a study that varied two parameters (--x and --y)"


def draw_features(subject: Subject):
    image, picture, caption = subject.feature_input()
    maps = get_engine("torch").feature_maps(subject.torch_model, subject.feature_layers, image)
    return [(f"features-{layer}", features_figure(layer, maps[layer], picture, caption))
            for layer in subject.feature_layers]


def one(stem: str, make: Callable) -> Callable:
    """A draw function for a plot that is one figure, saved as `stem`.png."""
    return lambda subject: [(stem, make(subject))]


@dataclass(frozen=True)
class Plot:
    name: str
    summary: str
    missing: Callable[[Subject], str | None]  # why it does not apply to a subject, or None
    draw: Callable[[Subject], list] = field(repr=False)  # -> [(file stem, Figure)]


PLOTS = {plot.name: plot for plot in (
    Plot("loss", "training and validation loss per epoch", no_history,
         one("loss", lambda s: loss_figure([s.curves]))),
    Plot("error", "training and validation error per epoch", no_history,
         one("error", lambda s: error_figure([s.curves]))),
    Plot("lr", "learning rate at every step", no_history,
         one("lr", lambda s: lr_figure([s.curves]))),
    Plot("filters", "first-layer filters (logreg/MLP: first affine rows as images)",
         no_filters, one("filters", lambda s: filters_figure(s.engine.first_layer(s.model),
                                                             s.meta["input_shape"]))),
    Plot("features", "feature maps of --layers for one input image", no_feature_layers,
         draw_features),
    Plot("confusion", "confusion matrix on the test split", no_checkpoint,
         one("confusion", lambda s: confusion_figure(s.predictions))),
    Plot("wrong", "the most confidently misclassified test images", no_checkpoint,
         one("wrong", lambda s: wrong_figure(s.predictions, s.test_data))),
    Plot("cv", "validation accuracy of each fold against --x, mean +- std per trial",
         no_study, one("cv", lambda s: cross_validation_figure(s.study, s.x))),
    Plot("folds", "validation and training accuracy per epoch of each fold (striate cv)",
         no_folds, one("folds", lambda s: fold_curves_figure(s.path, s.study))),
    Plot("heatmap", "validation accuracy over --x and --y", no_second_param,
         one("heatmap", lambda s: heatmap_figure(s.study, s.x, s.y))),
)}


def select(subject: Subject, names: list[str] | None) -> list[Plot]:
    """The plots asked for, each checked to apply; by default every plot that applies."""
    if names is None:
        chosen = [plot for plot in PLOTS.values() if plot.missing(subject) is None]
        if not chosen:
            raise StriateError(f"nothing to plot in {subject.path} yet (no {METRICS_CSV} or "
                               f"{WEIGHTS_FILE}); plot it after its first epoch")
        return chosen
    unknown = [name for name in names if name not in PLOTS]
    if unknown:
        raise StriateError(f"unknown plot {unknown[0]!r} in --what; choose from "
                           f"{', '.join(PLOTS)}")
    for name in names:
        reason = PLOTS[name].missing(subject)
        if reason:
            raise StriateError(f"--what {name} {reason}; {subject.path} is a {subject.kind}")
    return [PLOTS[name] for name in names]


def draw(subject: Subject, plots: list[Plot]) -> list[tuple[Plot, str, bytes]]:
    """(plot, file stem, PNG bytes) of every figure the plots make, all drawn before any is
    written, so that a failure half-way writes nothing."""
    return [(plot, stem, png_bytes(figure))
            for plot in plots for stem, figure in plot.draw(subject)]


def write_pngs(pngs: dict[str, bytes], out_dir: Path) -> list[Path]:
    """Write {file stem: PNG bytes} into out_dir as STEM.png; the paths written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StriateError(f"cannot create {out_dir}: {error.strerror}; pass --out DIR, a "
                           "writable directory") from None
    for stem, png in pngs.items():
        atomic_write_bytes(out_dir / f"{stem}.png", png)
    return [out_dir / f"{stem}.png" for stem in pngs]
