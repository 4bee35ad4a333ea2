"""Using a trained model: evaluate it on a split, or predict the classes of image files.

Both read everything from the checkpoint (model, options, input shape, classes, the fitted
preprocessing and the training config), so the data reach the model exactly as in training, and
both work the same for either engine: the engine only turns preprocessed inputs into class
log-probabilities; evaluation and test-time augmentation (--tta) are striate.training.learner's,
the same as in training.
"""

from pathlib import Path

import numpy as np

from striate.config import TrainConfig, apply_mapping, check_mirrorable
from striate.data import load_image
from striate.data import pipeline
from striate.engines import get_engine
from striate.errors import StriateError
from striate.training.learner import Tally, mirror_averaged

BATCH = 2048  # images per forward pass


def load_predictor(checkpoint, engine: str | None, device: str, tta: bool = False):
    """(log_proba, metadata, preprocess); the engine defaults to the one that trained the
    checkpoint. log_proba takes preprocessed (N, C, H, W) float32 inputs and gives (N, classes)
    class log-probabilities, averaged with the mirror image's when tta."""
    preprocess, meta = pipeline.load_preprocess(checkpoint)
    if tta:
        check_mirrorable(meta.get("dataset"), "--tta")
        preprocess.check_image_like("--tta mirrors images, but this model takes "
                                    f"{preprocess.kind} component scores; drop --tta")
    engine_name = engine or meta.get("engine", "torch")
    log_proba, meta = get_engine(engine_name).load_predictor(checkpoint, device)
    if tta:
        return with_mirror(log_proba), meta, preprocess
    return log_proba, meta, preprocess


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
    dataset = pipeline.load_data(config.data)
    if list(dataset.input_shape) != list(meta["input_shape"]) or \
            dataset.class_names != list(meta["class_names"]):
        raise StriateError(f"{dataset.name} at {dataset.source} has inputs "
                           f"{dataset.input_shape} and {dataset.num_classes} classes, the model "
                           f"expects {tuple(meta['input_shape'])} and {len(meta['class_names'])}; "
                           "point --data-dir at the data it was trained on")
    return dataset, config


def batched_log_proba(log_proba, preprocess, images: np.ndarray, pixel_max: float):
    """Yields (slice, (B, classes) log-probabilities) of stored (N, C, H, W) images, BATCH at
    a time."""
    for start in range(0, len(images), BATCH):
        batch = slice(start, start + BATCH)
        yield batch, log_proba(preprocess.apply(images[batch], pixel_max))


def evaluate(checkpoint, split: str = "test", data_dir: str | None = None,
             device: str = "auto", engine: str | None = None, tta: bool = False) -> dict:
    log_proba, meta, preprocess = load_predictor(checkpoint, engine, device, tta)
    dataset, config = checkpoint_dataset(checkpoint, meta, data_dir)
    data = pipeline.split(dataset, config.data, config.run.seed)[split]
    tally = Tally()
    for batch, chunk in batched_log_proba(log_proba, preprocess, data.images, dataset.pixel_max):
        tally.add(chunk, data.labels[batch])
    loss, error = tally.result()
    return {"split": split, "examples": len(data), "loss": loss, "error": error,
            "accuracy": 1.0 - error}


def predict(checkpoint, images: list[str], device: str = "auto",
            engine: str | None = None, tta: bool = False) -> list[dict]:
    log_proba, meta, preprocess = load_predictor(checkpoint, engine, device, tta)
    channels, height, width = meta["input_shape"]
    pixels = np.stack([load_image(Path(path), (height, width), channels)
                       for path in images])                            # (N, C, H, W) uint8
    # load_image gives 0..255 for every data set; training divided by the data set's own white
    # level, so both land on the same [0, 1] scale before standardizing.
    probabilities = np.exp(log_proba(preprocess.apply(pixels, 255.0)))  # (N, classes)
    best = probabilities.argmax(axis=1)
    return [{"image": path, "class": meta["class_names"][i], "probability": float(p[i])}
            for path, i, p in zip(images, best, probabilities)]
