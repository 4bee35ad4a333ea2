"""Building torch models and learners from a config, and rebuilding them from checkpoints."""

import torch

from striate.checkpoint import check_tensors_match, load_weights, model_input_shape
from striate.config import TrainConfig
from striate.data import Dataset, Preprocess, Split
from striate.errors import StriateError
from striate.torch.data import DeviceSplit
from striate.torch.device import resolve_device
from striate.torch.distributed import join
from striate.torch.learner import TorchLearner
from striate.torch.models import check_model_options, create_model  # noqa: F401 (engine API)


def versions() -> dict:
    return {"torch": torch.__version__}


def build_learner(config: TrainConfig, dataset: Dataset, splits: dict[str, Split],
                  preprocess: Preprocess) -> TorchLearner:
    """splits: already preprocessed, (N, *preprocess.output_shape) float32 images."""
    world, device = join(resolve_device(config.run.device))
    torch.manual_seed(config.run.seed)  # the initial weights (and dropout) follow the seed
    model = create_model(config.model.model, preprocess.output_shape, dataset.num_classes,
                         **config.model.model_args).to(device)
    check_inputs(model, config, preprocess)
    on_device = {name: DeviceSplit(split, device) for name, split in splits.items()}
    return TorchLearner(model, on_device, config, world)


def check_inputs(model: torch.nn.Module, config: TrainConfig, preprocess: Preprocess) -> None:
    """Convolutions, crops and flips need images, and reflection padding a border narrower
    than the image."""
    c = config.augment
    if not preprocess.is_image_like() and any(isinstance(layer, torch.nn.Conv2d)
                                              for layer in model.modules()):
        raise StriateError(f"{config.model.model} convolves images, but --preprocess "
                           f"{preprocess.kind} turns them into component scores; use a model "
                           "without convolutions (logreg, mlp, fcnet) or --preprocess zca")
    if (c.perturbs_images or c.tta) and not preprocess.is_image_like():
        raise StriateError(f"--preprocess {preprocess.kind} turns images into component scores, "
                           "which cannot be cropped or mirrored; drop the augmentation flags or "
                           "use --preprocess zca")
    padding, side = c.crop_padding, min(preprocess.input_shape[1:])
    if padding >= side:
        raise StriateError(f"--crop-padding {padding} must be smaller than the {side}-pixel "
                           "images it pads; try 2 to 4")


def load_model(checkpoint, device: str = "auto") -> tuple[torch.nn.Module, dict]:
    """Rebuild the model a checkpoint was trained as and load its weights; (model, metadata)."""
    tensors, meta = load_weights(checkpoint)
    model = create_model(meta["model"], model_input_shape(meta), len(meta["class_names"]),
                         **meta["model_args"])
    expected = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    check_tensors_match(tensors, expected, checkpoint, meta["model"])
    model.load_state_dict({name: torch.from_numpy(array) for name, array in tensors.items()})
    return model.to(resolve_device(device)).eval(), meta


def load_predictor(checkpoint, device: str = "auto"):
    """(predict_proba, metadata): preprocessed (N, ...) float32 inputs -> (N, classes) numpy."""
    model, meta = load_model(checkpoint, device)
    device = next(model.parameters()).device

    @torch.inference_mode()
    def predict_proba(images):
        logits = model(torch.from_numpy(images).to(device))           # (N, classes)
        return logits.softmax(dim=1).cpu().numpy()

    return predict_proba, meta


def run_checks(config: TrainConfig, images, labels, num_classes: int):
    """`striate check`: images (N, C, H, W) float32 preprocessed, labels (N,) int64."""
    from striate.torch import check

    return check.run_checks(config, images, labels, num_classes)
