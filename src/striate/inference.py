"""Using a trained model: evaluate it on a split, or predict the classes of image files.

Both read everything from the checkpoint's metadata (model, options, input shape, classes and the
training config), so the data reach the model exactly as they did in training.
"""

from pathlib import Path

import torch

from striate.config import TrainConfig, apply_mapping
from striate.data import load_image
from striate.errors import StriateError
from striate.training.session import load_data, prepare_splits


def evaluate(checkpoint, split: str = "test", data_dir: str | None = None,
             device: str = "auto") -> dict:
    from striate.torch.data import DeviceSplit
    from striate.torch.engine import load_model
    from striate.torch.learner import evaluate_split

    model, meta = load_model(checkpoint, device)
    config = apply_mapping(TrainConfig(), meta["config"], f"{checkpoint} metadata")
    if data_dir is not None:
        config.data.data_dir = data_dir
    dataset = load_data(config)
    if list(dataset.input_shape) != list(meta["input_shape"]) or \
            dataset.num_classes != len(meta["class_names"]):
        raise StriateError(f"{dataset.name} at {dataset.source} has inputs "
                           f"{dataset.input_shape} and {dataset.num_classes} classes, the model "
                           f"expects {tuple(meta['input_shape'])} and {len(meta['class_names'])}; "
                           "point --data-dir at the data it was trained on")
    data = prepare_splits(dataset, config)[split]
    device_split = DeviceSplit(data, dataset.pixel_max, meta["standardize"],
                               next(model.parameters()).device)
    loss, error = evaluate_split(model, device_split)
    return {"split": split, "examples": len(data), "loss": loss, "error": error,
            "accuracy": 1.0 - error}


def predict(checkpoint, images: list[str], device: str = "auto") -> list[dict]:
    from striate.torch.data import standardize_
    from striate.torch.engine import load_model

    model, meta = load_model(checkpoint, device)
    channels, height, width = meta["input_shape"]
    # load_image gives uint8 0..255; training divided by the data set's white level, so / 255
    # maps both to the same [0, 1] range.
    batch = torch.stack([torch.from_numpy(load_image(Path(path), (height, width), channels))
                         for path in images])                       # (N, C, H, W) uint8
    batch = standardize_(batch.to(next(model.parameters()).device).float() / 255.0,
                         meta["standardize"])
    with torch.inference_mode():
        probabilities = model(batch).softmax(dim=1)                  # (N, classes)
    best, index = probabilities.max(dim=1)
    return [{"image": path, "class": meta["class_names"][i], "probability": p}
            for path, i, p in zip(images, index.tolist(), best.tolist())]
