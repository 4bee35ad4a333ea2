"""Building NumPy models and learners from a config, and rebuilding them from checkpoints.

Checkpoints are the torch engine's: for the models both engines have (logreg, mlp, lenet,
convnet3) the tensors carry torch's state_dict names and layouts (an affine weight is stored as
torch's (out, in), the transpose of cs231n's (in, out)), so a file trained by either engine loads
into the other. NumPy-only models store their params under their own names.
"""

import numpy as np

from striate.checkpoint import check_tensors_match, load_weights, model_input_shape
from striate.config import TrainConfig, flag_name
from striate.data import Dataset, Preprocess, Split
from striate.errors import StriateError
from striate.numpy.learner import NumpyLearner
from striate.training.world import world_from_env
from striate.numpy.models import check_model_options, create_model  # noqa: F401 (engine API)


def versions() -> dict:
    return {"numpy": np.__version__}


def check_cpu(device: str) -> None:
    if device not in ("auto", "cpu"):
        raise StriateError(f"the numpy engine runs on the CPU; drop --device {device} "
                           "(or use --engine torch)")


def check_torch_only_settings(config: TrainConfig) -> None:
    """Augmentation and reduced precision are the torch engine's; say so instead of ignoring."""
    defaults = TrainConfig()
    changed = [flag_name(name) for name in vars(config.augment)
               if getattr(config.augment, name) != getattr(defaults.augment, name)]
    changed += [flag_name(name) for name in ("precision", "channels_last")
                if getattr(config.run, name) != getattr(defaults.run, name)]
    if changed:
        raise StriateError(f"{', '.join(changed)} run on the torch engine only; drop them or "
                           "use --engine torch")


def build_learner(config: TrainConfig, dataset: Dataset, splits: dict[str, Split],
                  preprocess: Preprocess) -> NumpyLearner:
    """splits: already preprocessed, (N, *preprocess.output_shape) float32 images."""
    check_cpu(config.run.device)
    check_torch_only_settings(config)
    if world_from_env().size > 1:
        raise StriateError("the numpy engine trains in one process; run it without torchrun, "
                           "or use --engine torch for data-parallel training")
    model = create_model(config.model.model, preprocess.output_shape, dataset.num_classes,
                         seed=config.run.seed, **config.model.model_args)
    check_batch_norm_batches(model, len(splits["train"]), config.optim.batch_size)
    arrays = {name: (split.images, split.labels) for name, split in splits.items()}
    return NumpyLearner(model, arrays, config.optim, config.run.seed)


def check_batch_norm_batches(model, examples: int, batch_size: int) -> None:
    """Batch norm estimates a variance from each minibatch, which one example cannot give."""
    if not getattr(model, "bn_params", None):
        return
    last = examples % batch_size or batch_size
    if min(batch_size, last) < 2:
        raise StriateError(f"batch normalization needs at least 2 examples per minibatch, but "
                           f"--batch-size {batch_size} over {examples} training examples leaves "
                           f"a minibatch of 1; choose another --batch-size")


def checkpoint_layout(model) -> dict[str, tuple[str, bool]]:
    """numpy name -> (checkpoint name, transposed?) for every array the checkpoint holds."""
    if hasattr(model, "torch_names"):
        return model.torch_names()
    layout = {name: (name, False) for name in model.params}
    for index, bn_param in enumerate(getattr(model, "bn_params", [])):
        for key in ("running_mean", "running_var"):
            if key in bn_param:
                layout[f"bn_params.{index}.{key}"] = (f"bn_params.{index}.{key}", False)
    return layout


def to_checkpoint(model, state: dict) -> dict[str, np.ndarray]:
    """The arrays of a learner state ({"params", "bn_params"}) under checkpoint names."""
    arrays = {}
    for name, (stored, transposed) in checkpoint_layout(model).items():
        array = lookup(state, name)
        arrays[stored] = array.T if transposed else array
    return arrays


def lookup(state: dict, name: str) -> np.ndarray:
    if name.startswith("bn_params."):
        _, index, key = name.split(".")
        return state["bn_params"][int(index)][key]
    return state["params"][name]


def load_model(checkpoint):
    """Rebuild the NumPy model a checkpoint describes and load its weights; (model, meta)."""
    tensors, meta = load_weights(checkpoint)
    model = create_model(meta["model"], model_input_shape(meta), len(meta["class_names"]),
                         **meta["model_args"])
    layout = checkpoint_layout(model)
    expected = {}
    for name, (stored, transposed) in layout.items():
        shape = lookup({"params": model.params, "bn_params": getattr(model, "bn_params", [])},
                       name).shape
        expected[stored] = shape[::-1] if transposed else shape
    check_tensors_match(tensors, expected, checkpoint, meta["model"])
    for name, (stored, transposed) in layout.items():
        array = tensors[stored].T if transposed else tensors[stored]
        if name.startswith("bn_params."):
            _, index, key = name.split(".")
            model.bn_params[int(index)][key] = np.ascontiguousarray(array)
        else:
            model.params[name] = np.ascontiguousarray(array, dtype=model.params[name].dtype)
    return model, meta


def load_predictor(checkpoint, device: str = "auto"):
    """(predict_proba, metadata): preprocessed (N, ...) float32 inputs -> (N, classes) numpy."""
    check_cpu(device)
    model, meta = load_model(checkpoint)

    def predict_proba(images):
        scores = model.loss(images)                                   # (N, classes)
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    return predict_proba, meta


def run_checks(config: TrainConfig, images: np.ndarray, labels: np.ndarray, num_classes: int):
    """`striate check`: images (N, C, H, W) float32 preprocessed, labels (N,) int64."""
    from striate.numpy import check

    return check.run_checks(config.model.model, config.model.model_args, images, labels,
                            num_classes, config.run.seed)
