"""Building torch models and learners from a config, and rebuilding them from checkpoints."""

import torch

from striate.checkpoint import check_tensors_match, load_weights
from striate.config import TrainConfig
from striate.data import Dataset, Split, Standardize
from striate.torch.data import DeviceSplit
from striate.torch.device import resolve_device
from striate.torch.learner import TorchLearner
from striate.torch.models import check_model_options, create_model


def versions() -> dict:
    return {"torch": torch.__version__}


def build_learner(config: TrainConfig, dataset: Dataset, splits: dict[str, Split],
                  standardize: Standardize) -> TorchLearner:
    device = resolve_device(config.run.device)
    torch.manual_seed(config.run.seed)  # the initial weights (and dropout) follow the seed
    model = create_model(config.model.model, dataset.input_shape, dataset.num_classes,
                         **config.model.model_args).to(device)
    on_device = {name: DeviceSplit(split, dataset.pixel_max, standardize, device)
                 for name, split in splits.items()}
    return TorchLearner(model, on_device, config.optim, config.run.seed)


def load_model(checkpoint, device: str = "auto") -> tuple[torch.nn.Module, dict]:
    """Rebuild the model a checkpoint was trained as and load its weights; (model, metadata).

    metadata["standardize"] is the Standardize the model's inputs need."""
    tensors, meta = load_weights(checkpoint)
    model = create_model(meta["model"], meta["input_shape"], len(meta["class_names"]),
                         **meta["model_args"])
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    check_tensors_match(tensors, expected, checkpoint, meta["model"])
    model.load_state_dict({name: torch.from_numpy(array) for name, array in tensors.items()})
    meta["standardize"] = Standardize(tuple(meta["standardize"]["mean"]),
                                      tuple(meta["standardize"]["std"]))
    return model.to(resolve_device(device)).eval(), meta
