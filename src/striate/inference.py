"""Using a trained model: evaluate it on a split, or predict the classes of image files.

Both read everything from the checkpoint (model, options, input shape, classes, the fitted
preprocessing and the training config), so the data reach the model exactly as in training, and
both work the same for either engine: the engine only turns preprocessed inputs into
probabilities. Test-time augmentation (--tta) is done here too, so it serves both engines.
"""

from pathlib import Path

import numpy as np

from striate.checkpoint import load_preprocess
from striate.config import UNFLIPPABLE, TrainConfig, apply_mapping
from striate.data import load_image
from striate.engines import get_engine
from striate.errors import StriateError
from striate.training.session import load_data, prepare_splits

BATCH = 2048  # images per forward pass


def load_predictor(checkpoint, engine: str | None, device: str, tta: bool = False):
    """(predict_proba, metadata, preprocess); the engine defaults to the one that trained the
    checkpoint. predict_proba takes preprocessed (N, ...) float32 inputs."""
    preprocess, meta = load_preprocess(checkpoint)
    if tta and meta.get("dataset") in UNFLIPPABLE:
        raise StriateError(f"mirroring {meta['dataset']} images changes their class; drop --tta")
    if tta and not preprocess.is_image_like():
        raise StriateError(f"--tta mirrors images, but this model takes {preprocess.kind} "
                           "component scores; drop --tta")
    engine_name = engine or meta.get("engine", "torch")
    predict_proba, meta = get_engine(engine_name).load_predictor(checkpoint, device)
    if tta:
        return mirror_averaged(predict_proba), meta, preprocess
    return predict_proba, meta, preprocess


def mirror_averaged(predict_proba):
    """Test-time augmentation: the mean of the probabilities for each image and its mirror."""
    def averaged(images):                                  # (N, C, H, W) -> (N, classes)
        mirrored = np.ascontiguousarray(images[..., ::-1])
        return (predict_proba(images) + predict_proba(mirrored)) / 2
    return averaged


def checkpoint_dataset(checkpoint, meta: dict, data_dir: str | None = None):
    """(dataset, config): the data set the checkpoint was trained on, loaded as its config names
    it (from data_dir if given), refused if its images or classes are not the model's."""
    config = apply_mapping(TrainConfig(), meta["config"], f"{checkpoint} metadata")
    if data_dir is not None:
        config.data.data_dir = data_dir
    dataset = load_data(config)
    if list(dataset.input_shape) != list(meta["input_shape"]) or \
            dataset.class_names != list(meta["class_names"]):
        raise StriateError(f"{dataset.name} at {dataset.source} has inputs "
                           f"{dataset.input_shape} and {dataset.num_classes} classes, the model "
                           f"expects {tuple(meta['input_shape'])} and {len(meta['class_names'])}; "
                           "point --data-dir at the data it was trained on")
    return dataset, config


def batched_proba(predict_proba, preprocess, images: np.ndarray, pixel_max: float) -> np.ndarray:
    """(N, classes) probabilities of stored (N, C, H, W) images, BATCH at a time."""
    return np.concatenate([
        predict_proba(preprocess.apply(images[start:start + BATCH], pixel_max))
        for start in range(0, len(images), BATCH)])


def evaluate(checkpoint, split: str = "test", data_dir: str | None = None,
             device: str = "auto", engine: str | None = None, tta: bool = False) -> dict:
    predict_proba, meta, preprocess = load_predictor(checkpoint, engine, device, tta)
    dataset, config = checkpoint_dataset(checkpoint, meta, data_dir)
    data = prepare_splits(dataset, config)[split]
    probabilities = batched_proba(predict_proba, preprocess, data.images, dataset.pixel_max)
    picked = probabilities[np.arange(len(data)), data.labels]
    nll = float(-np.log(np.maximum(picked, np.finfo(np.float32).tiny)).mean())
    error = float((probabilities.argmax(axis=1) != data.labels).mean())
    return {"split": split, "examples": len(data), "loss": nll, "error": error,
            "accuracy": 1.0 - error}


def predict(checkpoint, images: list[str], device: str = "auto",
            engine: str | None = None, tta: bool = False) -> list[dict]:
    predict_proba, meta, preprocess = load_predictor(checkpoint, engine, device, tta)
    channels, height, width = meta["input_shape"]
    pixels = np.stack([load_image(Path(path), (height, width), channels)
                       for path in images])                            # (N, C, H, W) uint8
    # load_image gives 0..255 for every data set; training divided by the data set's own white
    # level, so both land on the same [0, 1] scale before standardizing.
    probabilities = predict_proba(preprocess.apply(pixels, 255.0))    # (N, classes)
    best = probabilities.argmax(axis=1)
    return [{"image": path, "class": meta["class_names"][i], "probability": float(p[i])}
            for path, i, p in zip(images, best, probabilities)]
