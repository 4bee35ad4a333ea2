"""The two engines behind one interface, chosen with --engine.

Each engine module (striate.torch.engine, striate.numpy.engine) provides:
    versions() -> dict                             library versions for run.json
    check_model_options(name, options)             refuse unknown models/options before any work
    build_learner(config, inputs, num_classes, preprocess, model=None) -> training.learner.Learner
        inputs: {split name: Split} preprocessed, float32 (N, *preprocess.output_shape) images;
        model: one of the engine's own to train as it is (else the configured one, fresh)
    predictor(model) -> log_proba
        log_proba: (N, ...) float32 preprocessed inputs -> (N, classes) class log-probabilities
    load_model(checkpoint, device, trust_model_code, into=None) -> (model, metadata)
        into: a model the caller built, to load the weights into
    load_predictor(checkpoint, device, trust_model_code) -> (log_proba, metadata)
    initial_losses(config, sample, num_classes, preprocess) -> (loss, loss + sum W^2, any W != 0)
    gradient_problem(config, sample, num_classes, preprocess, options, redraw_zero_weight)
        -> (loss(), params, grads): float64 parameters as numpy arrays the check can nudge
    layer_outputs(learner) -> list[LayerOutput]    each activation's output (dead, saturated units)
    first_layer(model) -> (name, weight)           the weights that see the pixels, for plots
The torch engine also has warm_up(config), which starts in the background the imports its
optimizer needs while the data load, and catches what its layers output with forward hooks
(`striate plot`'s feature maps: conv_layer_names, check_layers, feature_maps); a checkpoint of
a model both engines have loads into it whichever engine trained it.
Everything else (data, splits, the loop, evaluation, checks, lr-find, runs, checkpoints, evaluate,
predict) is written once, above this interface.
"""

import importlib
import math

from striate.config import ENGINES
from striate.errors import StriateError
from striate.registry import SPECS, is_import_path


def filter_images(weight, input_shape):
    """(K, C, h, w): a first layer's weight (as an engine's first_layer gives it) as pictures:
    a convolution's kernels, or an affine layer's rows (one per unit, weight (units, D))
    reshaped to the (C, H, W) input image, the pattern the unit responds to most; None for rows
    that read PCA component scores, which are no image. (numpy arrays in and out; numpy is not
    imported here, so that `striate --help` stays light.)"""
    if weight.ndim == 4:
        return weight                                 # (K, C, f, f)
    if weight.shape[1] != math.prod(input_shape):
        return None
    return weight.reshape(len(weight), *input_shape)  # (units, C, H, W)


def build_learner(config, inputs: dict, num_classes: int, preprocess, model=None):
    """The configured engine's learner (see the module's docstring), once the model and the
    augmentation are known to suit the inputs; model: one to train as it is, else the
    configured one, fresh."""
    check_inputs(config, preprocess)
    engine = get_engine(config.run.engine)
    learner = engine.build_learner(config, inputs, num_classes, preprocess, model)
    if model is not None or is_import_path(config.model.model):
        probe(engine, learner.model, inputs["train"].images[:2], num_classes,
              config.model.model)
    return learner


def probe(engine, model, images, num_classes: int, name: str) -> None:
    """A model of the user's own, run once on two training inputs before anything is written:
    it must give one score per class. Its mistakes are its author's code: one line each."""
    try:
        shape = engine.predictor(model)(images).shape
    except Exception as error:  # the user's code: it may raise anything
        reason = (str(error).splitlines() or [""])[0]
        raise StriateError(f"model {name} fails on the data's {images.shape[1:]} inputs: "
                           f"{type(error).__name__} {reason}".rstrip()) from None
    if shape != (len(images), num_classes):
        raise StriateError(f"model {name} gives {shape[1:]} outputs per image, the data has "
                           f"{num_classes} classes: it must give one score per class")


def check_inputs(config, preprocess) -> None:
    """Convolutions, crops and flips need images (not PCA component scores), and reflection
    padding a border narrower than the image."""
    c, model = config.augment, config.model.model
    if model in SPECS and SPECS[model].convolves:
        preprocess.check_image_like(f"{model} convolves images, but --preprocess "
                                    f"{preprocess.kind} turns them into component scores; use a "
                                    "model without convolutions (logreg, mlp, fcnet) or "
                                    "--preprocess zca")
    if c.perturbs_images or c.tta or c.tta_shift:
        preprocess.check_image_like(f"--preprocess {preprocess.kind} turns images into "
                                    "component scores, which cannot be cropped, shifted or "
                                    "mirrored; drop the augmentation flags or use --preprocess "
                                    "zca")
    for flag, pixels, action in (("--crop-padding", c.crop_padding, "pads"),
                                 ("--translate", c.translate, "shifts"),
                                 ("--tta-shift", c.tta_shift, "shifts")):
        check_fits(flag, pixels, action, preprocess.input_shape)


def check_fits(flag: str, pixels: int, action: str, input_shape) -> None:
    """A shift or padding as wide as the image leaves nothing of it to train or test on."""
    side = min(input_shape[1:])
    if pixels >= side:
        raise StriateError(f"{flag} {pixels} must be smaller than the {side}-pixel images it "
                           f"{action}; try 2 to 4")


def get_engine(name: str):
    if name not in ENGINES:
        raise StriateError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    try:
        return importlib.import_module(f"striate.{name}.engine")
    except ModuleNotFoundError as error:
        if error.name != "torch":
            raise
        raise StriateError("the torch engine needs PyTorch, which is not installed: `pip "
                           "install torch`, or use --engine numpy") from None
