"""Using a trained model: evaluate it on a split, or predict the classes of images.

Everything is read from the checkpoint (model, options, input shape, classes, the fitted
preprocessing and the training config), so the data reach the model exactly as in training, and
it works the same for either engine: the engine only turns preprocessed inputs into class
log-probabilities; evaluation and test-time augmentation (--tta) are striate.training.learner's,
the same as in training. striate.api's Trained uses the same functions on a model in memory.

An ensemble (cs231n's "model ensembles") is several runs on the same data set: each reads the raw
images through its own preprocessing, and their class probabilities are averaged.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from striate.config import TrainConfig, apply_mapping, check_mirrorable
from striate.data import Preprocess, Split, dataset_names, load_image
from striate.data import pipeline
from striate.data.registry import FOLDER, NPZ
from striate.engines import check_fits, get_engine
from striate.errors import StriateError
from striate.training.learner import TTA, Tally, as_tta, view, views_averaged

BATCH = 2048  # images per forward pass


def load_predictor(checkpoint, engine: str | None, device: str, tta: bool | TTA = False,
                   trust_model_code: bool = False):
    """(log_proba, metadata, preprocess); the engine defaults to the one that trained the
    checkpoint. log_proba takes preprocessed (N, C, H, W) float32 inputs and gives (N, classes)
    class log-probabilities, averaged over the views tta asks for (True: the mirror image)."""
    preprocess, meta = pipeline.load_preprocess(checkpoint)
    tta = as_tta(tta)
    check_tta(meta.get("dataset"), preprocess, tta)
    engine_name = engine or meta.get("engine", "torch")
    log_proba, meta = get_engine(engine_name).load_predictor(checkpoint, device,
                                                             trust_model_code)
    return with_views(log_proba, tta), meta, preprocess


def check_tta(dataset: str | None, preprocess: Preprocess, tta: TTA) -> None:
    """Mirror images only of data sets whose classes survive them, and views of images only."""
    if tta.mirror:
        check_mirrorable(dataset, "--tta")
    if tta:
        flags, verb = {(True, False): ("--tta", "mirrors"),
                       (False, True): ("--tta-shift", "shifts"),
                       (True, True): ("--tta and --tta-shift", "mirror and shift")}[
                           (tta.mirror, tta.shift > 0)]
        preprocess.check_image_like(f"{flags} {verb} images, but this model takes "
                                    f"{preprocess.kind} component scores; drop {flags}")
    check_fits("--tta-shift", tta.shift, "shifts", preprocess.input_shape)


def with_views(log_proba, tta: TTA):
    """log_proba averaged over the views of each image: training's evaluation, in NumPy."""
    if not tta:
        return log_proba

    def averaged(images):                                  # (N, C, H, W) -> (N, classes)
        return views_averaged([log_proba(np.ascontiguousarray(view(images, *v)))
                               for v in tta.views])
    return averaged


def checkpoint_dataset(checkpoint, meta: dict, data_dir: str | None = None):
    """(dataset, config): the data set the checkpoint was trained on, loaded as its config names
    it (from data_dir if given), refused if its images or classes are not the model's."""
    config = checkpoint_config(checkpoint, meta, data_dir)
    if config.data.dataset not in dataset_names():
        raise StriateError(f"{checkpoint} was trained on {config.data.dataset}, data in memory "
                           "that only Python holds; evaluate it there: "
                           "striate.load(RUN).evaluate(data)")
    dataset = pipeline.load_data(config.data)
    check_same_data(dataset, meta["input_shape"], meta["class_names"],
                    "point --data-dir at the data it was trained on")
    return dataset, config


def checkpoint_config(checkpoint, meta: dict, data_dir: str | None = None) -> TrainConfig:
    """The config a checkpoint was trained with, reading its data from data_dir if given."""
    config = apply_mapping(TrainConfig(), meta["config"], f"{checkpoint} metadata")
    if data_dir is not None:
        config.data.data_dir = data_dir
    return config


def check_same_data(dataset, input_shape, class_names, fix: str) -> None:
    """Refuse a data set of other images or classes than a model was trained on."""
    if list(dataset.input_shape) != list(input_shape) or \
            list(dataset.class_names) != list(class_names):
        raise StriateError(f"{dataset.name} at {dataset.source} has inputs "
                           f"{dataset.input_shape} and {dataset.num_classes} classes, the model "
                           f"expects {tuple(input_shape)} and {len(class_names)}; {fix}")


def batched_log_proba(log_proba, preprocess, images: np.ndarray, pixel_max: float):
    """Yields (slice, (B, classes) log-probabilities) of stored (N, C, H, W) images, BATCH at
    a time."""
    for start in range(0, len(images), BATCH):
        batch = slice(start, start + BATCH)
        yield batch, log_proba(preprocess.apply(images[batch], pixel_max))


def probabilities(log_proba, preprocess, images: np.ndarray, pixel_max: float) -> np.ndarray:
    """(N, classes) class probabilities of stored (N, C, H, W) images."""
    return np.exp(np.concatenate([chunk for _, chunk in
                                  batched_log_proba(log_proba, preprocess, images, pixel_max)]))


def evaluate_split(log_proba, preprocess, split: Split, pixel_max: float, name: str) -> dict:
    """Loss (mean negative log-likelihood), error and accuracy of a model on stored images."""
    tally = Tally()
    for batch, chunk in batched_log_proba(log_proba, preprocess, split.images, pixel_max):
        tally.add(chunk, split.labels[batch])
    return figures(tally, name)


def figures(tally: Tally, name: str) -> dict:
    loss, error = tally.result()
    return {"split": name, "examples": tally.count, "loss": loss, "error": error,
            "accuracy": 1.0 - error}


def evaluate(checkpoint, split: str = "test", data_dir: str | None = None,
             device: str = "auto", engine: str | None = None, tta: bool | TTA = False,
             trust_model_code: bool = False) -> dict:
    log_proba, meta, preprocess = load_predictor(checkpoint, engine, device, tta,
                                                 trust_model_code)
    dataset, config = checkpoint_dataset(checkpoint, meta, data_dir)
    data = pipeline.split(dataset, config.data, config.run.seed)[split]
    return evaluate_split(log_proba, preprocess, data, dataset.pixel_max, split)


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays has no single truth value
class EnsembleEvaluation:
    """evaluate_ensemble's figures: each member's, and those of their averaged probabilities."""
    split: str
    examples: int
    members: list[dict]         # each run's evaluate() figures, its path under "checkpoint"
    loss: float                 # mean -log(averaged probability of the true class)
    error: float
    accuracy: float
    probabilities: np.ndarray   # (examples, classes) the members' probabilities, averaged


@dataclass(frozen=True)
class Member:
    """One run of an ensemble, loaded."""
    checkpoint: str
    log_proba: object            # preprocessed (N, ...) inputs -> (N, classes) log-probabilities
    preprocess: Preprocess       # its own, fitted on its own training split
    config: TrainConfig
    meta: dict


def evaluate_ensemble(checkpoints: Sequence[str | Path], split: str = "test",
                      data_dir: str | None = None, device: str = "auto",
                      engine: str | None = None, tta: bool | TTA = False,
                      trust_model_code: bool = False) -> EnsembleEvaluation:
    """`striate evaluate RUN RUN ...`: the runs' class probabilities averaged on a split.
    The runs must share the data set, the classes and the split's examples; each applies its
    own preprocessing to the raw images. The other arguments are evaluate()'s."""
    if isinstance(checkpoints, (str, Path)) or not checkpoints:
        raise StriateError("checkpoints must be a list of run directories or checkpoint files")
    members = [load_member(checkpoint, engine, device, tta, trust_model_code, data_dir)
               for checkpoint in checkpoints]
    for member in members[1:]:
        check_same_identity(members[0], member)
    dataset, _ = checkpoint_dataset(members[0].checkpoint, members[0].meta, data_dir)
    data = shared_split(dataset, members, split)
    tallies, total = [Tally() for _ in members], np.zeros((len(data), dataset.num_classes))
    for member, tally in zip(members, tallies):
        for batch, chunk in batched_log_proba(member.log_proba, member.preprocess, data.images,
                                              dataset.pixel_max):
            tally.add(chunk, data.labels[batch])
            total[batch] += np.exp(chunk.astype(np.float64))
    averaged = total / len(members)                                      # (N, classes)
    ensemble = Tally()
    with np.errstate(divide="ignore"):  # a true class every member gives 0: the loss is inf
        ensemble.add(np.log(averaged), data.labels)
    result = figures(ensemble, split)
    return EnsembleEvaluation(split, len(data),
                              [{"checkpoint": member.checkpoint, **figures(tally, split)}
                               for member, tally in zip(members, tallies)],
                              result["loss"], result["error"], result["accuracy"], averaged)


def load_member(checkpoint, engine: str | None, device: str, tta: bool | TTA,
                trust_model_code: bool, data_dir: str | None) -> Member:
    log_proba, meta, preprocess = load_predictor(checkpoint, engine, device, tta,
                                                 trust_model_code)
    return Member(str(checkpoint), log_proba, preprocess,
                  checkpoint_config(checkpoint, meta, data_dir), meta)


def data_identity(member: Member) -> dict:
    """What the runs of an ensemble must share."""
    identity = {"data set": member.config.data.dataset,
                "classes": list(member.meta["class_names"]),
                "image shape": list(member.meta["input_shape"])}
    if member.config.data.dataset in (FOLDER, NPZ):   # the data set is the files it names
        identity["data files"] = str(Path(member.config.data.data_dir).resolve())
    return identity


def check_same_identity(first: Member, other: Member) -> None:
    ours, theirs = data_identity(first), data_identity(other)
    for name, value in theirs.items():
        if value != ours[name]:
            raise StriateError(f"{other.checkpoint} differs from {first.checkpoint} in its "
                               f"{name}: {value} against {ours[name]}; an ensemble's runs must "
                               "share their data set and classes")


def shared_split(dataset, members: list[Member], split: str) -> Split:
    """The split as the first run sees it, refused where another run's differs (a validation
    split carved by another seed or size)."""
    if split not in pipeline.SPLITS:
        raise StriateError(f"split must be one of {', '.join(pipeline.SPLITS)}, got {split!r}")
    first = members[0]
    data = pipeline.split(dataset, first.config.data, first.config.run.seed)[split]
    for member in members[1:]:
        theirs = pipeline.split(dataset, member.config.data, member.config.run.seed)[split]
        if not (np.array_equal(theirs.labels, data.labels) and
                np.array_equal(theirs.images, data.images)):
            raise StriateError(f"{member.checkpoint}'s {split} split holds other images than "
                               f"{first.checkpoint}'s (another seed or size carved it); "
                               "evaluate the ensemble on --split test")
    return data


def predict(checkpoint, images: list[str], device: str = "auto", engine: str | None = None,
            tta: bool | TTA = False, trust_model_code: bool = False) -> list[dict]:
    log_proba, meta, preprocess = load_predictor(checkpoint, engine, device, tta,
                                                 trust_model_code)
    pixels = load_images(images, meta["input_shape"])                  # (N, C, H, W) uint8
    # load_image gives 0..255 for every data set; training divided by the data set's own white
    # level, so both land on the same [0, 1] scale before standardizing.
    chances = probabilities(log_proba, preprocess, pixels, 255.0)       # (N, classes)
    return prediction_rows(images, chances, meta["class_names"])


def load_images(paths: list[str], input_shape) -> np.ndarray:
    """(N, C, H, W) uint8: the image files resized and converted to a model's input."""
    channels, height, width = input_shape
    return np.stack([load_image(Path(path), (height, width), channels) for path in paths])


def prediction_rows(images: list[str], chances: np.ndarray, class_names: list[str]) -> list[dict]:
    best = chances.argmax(axis=1)
    return [{"image": path, "class": class_names[i], "probability": float(p[i])}
            for path, i, p in zip(images, best, chances)]


def predict_onnx(model_file, images: list[str]) -> list[dict]:
    """predict() with a model `striate export` wrote as ONNX, run by onnxruntime: the file
    alone, as an application would use it (its metadata names the classes and the image size)."""
    session, class_names, input_shape = onnx_session(model_file)
    pixels = load_images(images, input_shape).astype(np.float32)        # 0..255
    chances = np.concatenate([session.run(None, {session.get_inputs()[0].name:
                                                 pixels[start:start + BATCH]})[0]
                              for start in range(0, len(pixels), BATCH)])
    return prediction_rows(images, chances, class_names)


def onnx_session(model_file):
    """(onnxruntime session, class names, (C, H, W)) of an exported ONNX file."""
    try:
        import onnxruntime
    except ImportError:
        raise StriateError("--onnx runs the model with onnxruntime, which is not installed: "
                           "pip install onnxruntime") from None
    if not Path(model_file).is_file():
        raise StriateError(f"no ONNX file at {model_file}; give the file `striate export` "
                           "wrote")
    try:
        session = onnxruntime.InferenceSession(str(model_file),
                                               providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime has an exception type per failure
        first_line = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise StriateError(f"{model_file} is not a readable ONNX model "
                           f"({first_line or type(error).__name__}); give a file `striate "
                           "export` wrote") from None
    props = session.get_modelmeta().custom_metadata_map
    try:
        class_names, input_shape = (json.loads(props[key])
                                    for key in ("class_names", "input_shape"))
    except (KeyError, ValueError):
        class_names = input_shape = None
    if not (isinstance(class_names, list) and class_names and
            all(isinstance(name, str) for name in class_names) and
            isinstance(input_shape, list) and len(input_shape) == 3 and
            input_shape[0] in (1, 3) and all(type(n) is int and n > 0 for n in input_shape)):
        raise StriateError(f"{model_file} is an ONNX model without striate's metadata (class "
                           "names, input shape); give a file `striate export` wrote")
    return session, class_names, input_shape
