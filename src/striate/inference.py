"""Using a trained model: evaluate it on a split, or predict the classes of images.

Everything is read from the checkpoint (model, options, input shape, classes, the fitted
preprocessing and the training config), so the data reach the model exactly as in training, and
it works the same for either engine: the engine only turns preprocessed inputs into class
log-probabilities; evaluation and test-time augmentation (--tta) are striate.training.learner's,
the same as in training. striate.api's Trained uses the same functions on a model in memory.
"""

from pathlib import Path

import numpy as np

from striate.config import TrainConfig, apply_mapping, check_mirrorable
from striate.data import Preprocess, Split, dataset_names, load_image
from striate.data import pipeline
from striate.engines import get_engine
from striate.errors import StriateError
from striate.training.learner import Tally, mirror_averaged

BATCH = 2048  # images per forward pass


def load_predictor(checkpoint, engine: str | None, device: str, tta: bool = False,
                   trust_model_code: bool = False):
    """(log_proba, metadata, preprocess); the engine defaults to the one that trained the
    checkpoint. log_proba takes preprocessed (N, C, H, W) float32 inputs and gives (N, classes)
    class log-probabilities, averaged with the mirror image's when tta."""
    preprocess, meta = pipeline.load_preprocess(checkpoint)
    if tta:
        check_tta(meta.get("dataset"), preprocess)
    engine_name = engine or meta.get("engine", "torch")
    log_proba, meta = get_engine(engine_name).load_predictor(checkpoint, device,
                                                             trust_model_code)
    return with_mirror(log_proba) if tta else log_proba, meta, preprocess


def check_tta(dataset: str | None, preprocess: Preprocess) -> None:
    check_mirrorable(dataset, "--tta")
    preprocess.check_image_like("--tta mirrors images, but this model takes "
                                f"{preprocess.kind} component scores; drop --tta")


def with_mirror(log_proba):
    def averaged(images):                                  # (N, C, H, W) -> (N, classes)
        mirrored = np.ascontiguousarray(images[..., ::-1])
        return mirror_averaged(log_proba(images), log_proba(mirrored))
    return averaged


def checkpoint_dataset(checkpoint, meta: dict, data_dir: str | None = None):
    """(dataset, config): the data set the checkpoint was trained on, loaded as its config names
    it (from data_dir if given), refused if its images or classes are not the model's."""
    config = apply_mapping(TrainConfig(), meta["config"], f"{checkpoint} metadata")
    if data_dir is not None:
        config.data.data_dir = data_dir
    if config.data.dataset not in dataset_names():
        raise StriateError(f"{checkpoint} was trained on {config.data.dataset}, data in memory "
                           "that only Python holds; evaluate it there: "
                           "striate.load(RUN).evaluate(data)")
    dataset = pipeline.load_data(config.data)
    check_same_data(dataset, meta["input_shape"], meta["class_names"],
                    "point --data-dir at the data it was trained on")
    return dataset, config


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
    loss, error = tally.result()
    return {"split": name, "examples": len(split), "loss": loss, "error": error,
            "accuracy": 1.0 - error}


def evaluate(checkpoint, split: str = "test", data_dir: str | None = None,
             device: str = "auto", engine: str | None = None, tta: bool = False,
             trust_model_code: bool = False) -> dict:
    log_proba, meta, preprocess = load_predictor(checkpoint, engine, device, tta,
                                                 trust_model_code)
    dataset, config = checkpoint_dataset(checkpoint, meta, data_dir)
    data = pipeline.split(dataset, config.data, config.run.seed)[split]
    return evaluate_split(log_proba, preprocess, data, dataset.pixel_max, split)


def predict(checkpoint, images: list[str], device: str = "auto", engine: str | None = None,
            tta: bool = False, trust_model_code: bool = False) -> list[dict]:
    log_proba, meta, preprocess = load_predictor(checkpoint, engine, device, tta,
                                                 trust_model_code)
    channels, height, width = meta["input_shape"]
    pixels = np.stack([load_image(Path(path), (height, width), channels)
                       for path in images])                            # (N, C, H, W) uint8
    # load_image gives 0..255 for every data set; training divided by the data set's own white
    # level, so both land on the same [0, 1] scale before standardizing.
    chances = probabilities(log_proba, preprocess, pixels, 255.0)       # (N, classes)
    best = chances.argmax(axis=1)
    return [{"image": path, "class": meta["class_names"][i], "probability": float(p[i])}
            for path, i, p in zip(images, best, chances)]
