"""Settings: one dataclass per concern, the single source of every option.

The CLI flags, the YAML config files and the `config.yaml` written into each run directory are all
generated from these dataclasses, so a setting is declared exactly once: its name, type, default
and help text live on the field. A YAML file is organised by section (`data:`, `model:`, ...) and a
flag is the field name with dashes (`--batch-size`), so every field name is unique across sections.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from striate.errors import StriateError


def option(default, help: str, choices: tuple | None = None, **kwargs):
    """A dataclass field carrying its CLI help text (and allowed values, where there is a list)."""
    metadata = {"help": help, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata, **kwargs)
    return field(default=default, metadata=metadata, **kwargs)


VALID_SPLITS = ("random", "last")
PREPROCESSING = ("none", "scalar-mean", "standardize", "mean-image", "per-feature", "pca", "pca-whiten", "zca")


@dataclass
class DataConfig:
    dataset: str = option("fashion-mnist", "data set: mnist, fashion-mnist, cifar10, digits, "
                                           "folder, npz")
    data_dir: str | None = option(None, "the folder to look for (and download) the data in, "
                                        "instead of the usual places; for --dataset folder, "
                                        "the image folder itself; for npz, the .npz file")
    valid_size: int | None = option(None, "validation examples carved from training "
                                          "(default: the data set's own, e.g. 10000 for MNIST)")
    valid_split: str = option("random", "which training examples validate: random (drawn by "
                                        "--seed) or last (the last --valid-size, as the "
                                        "tutorials' mnist.pkl.gz holds out MNIST's last 10,000)",
                              choices=VALID_SPLITS)
    download: bool = option(True, "download missing files (checked by their digests)")
    folds: int | None = option(None, "k-fold cross-validation: split the labelled non-test "
                                     "examples into k stratified folds (by --seed) and "
                                     "validate on fold --fold")
    fold: int = option(1, "with --folds k: the fold (1..k) held out for validation")
    preprocess: str = option("standardize", "input transform fitted on the training split: "
                                            "standardize (per channel), none ([0, 1] pixels, "
                                            "the Deep Learning Tutorials'), scalar-mean "
                                            "(X -= np.mean(X), one number), mean-image, "
                                            "per-feature, pca, pca-whiten, zca",
                             choices=PREPROCESSING)
    deskew: bool = option(False, "straighten each image (shear its slant upright, centre its "
                                 "mass) before --preprocess, in training and prediction: "
                                 "LeCun's deskewing, for handwriting")
    pca_components: int | None = option(None, "pca/pca-whiten: principal components kept "
                                              "(default for pca-whiten: all)")
    whiten_eps: float = option(1e-2, "pca-whiten/zca: added to each eigenvalue before dividing "
                                     "by its square root, so near-constant directions are not "
                                     "blown up into noise")
    image_size: str | None = option(None, "HxW to resize folder images to (folder data set only)")
    channels: str = option("auto", "folder images: auto, 1 or gray, 3 or rgb",
                           choices=("auto", "1", "gray", "3", "rgb"))

    def check(self) -> None:
        if self.valid_size is not None and self.valid_size < 1:
            raise bad_setting("--valid-size", "a positive number of examples", self.valid_size)
        if self.dataset == "folder" and not self.data_dir:
            raise StriateError("--dataset folder needs --data-dir ROOT, a folder laid out as "
                               "ROOT/<class>/<image>")
        if self.dataset == "npz" and not self.data_dir:
            raise StriateError("--dataset npz needs --data-dir FILE.npz, written with "
                               "np.savez(FILE, x_train=..., y_train=..., x_test=..., y_test=...)")
        parse_image_size(self.image_size)
        if self.folds is not None:
            if self.folds < 2:
                raise bad_setting("--folds", "at least 2", self.folds)
            if self.valid_size is not None or self.valid_split != "random":
                raise StriateError("--folds chooses the validation examples itself; drop "
                                   "--valid-size and --valid-split")
        if not 1 <= self.fold <= (self.folds or 1):
            raise bad_setting("--fold", f"between 1 and --folds ({self.folds or 1})", self.fold)


def parse_image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        height, width = (int(part) for part in str(text).lower().split("x"))
    except ValueError:
        raise StriateError(f"--image-size must look like 32x32 (height x width), got {text!r}; "
                           "write it that way") from None
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise bad_setting("--image-size", f"between 1 and {MAX_SIDE}", repr(text),
                          shown="--image-size sides")
    return height, width


MAX_SIDE = 4096  # pixels; a whole data set is held in memory, so anything larger is a typo


@dataclass
class ModelConfig:
    model: str = option("lenet", "model name (see `striate models`), or a class of your own as "
                                 "package.module:Class")
    model_args: dict = option({}, "model keyword options as KEY=VALUE, e.g. hidden=500,500 "
                                  "(repeatable; values are YAML; default: none)")

    def check(self) -> None:
        taken = sorted(set(self.model_args) & ENGINE_ARGUMENTS)
        if taken:
            raise StriateError(f"--model-arg {taken[0]} names what striate passes to every "
                               f"model itself ({', '.join(sorted(ENGINE_ARGUMENTS))}); rename "
                               "that option of your model")


# What the engines pass a model builder themselves; a model option cannot have these names.
ENGINE_ARGUMENTS = {"name", "input_shape", "num_classes", "trusted", "dtype", "seed", "reg"}


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
MINIBATCH_ORDERS = ("shuffle", "sequential")
LOSSES = ("cross-entropy", "hinge", "squared-hinge")


@dataclass
class OptimConfig:
    optimizer: str = option("momentum", "update rule", choices=OPTIMIZERS)
    lr: float = option(0.05, "learning rate (eta0 of the schedule)")
    batch_size: int | None = option(None, "minibatch size; 1 is pure stochastic gradient "
                                          "descent (default: 128; 64 for digits)")
    minibatch_order: str = option("shuffle", "shuffle: a new order every epoch (by --seed); "
                                             "sequential: the stored order every epoch, the "
                                             "last partial minibatch dropped (the Deep Learning "
                                             "Tutorials')", choices=MINIBATCH_ORDERS)
    momentum: float = option(0.9, "momentum for momentum/nesterov")
    beta1: float = option(0.9, "Adam's first-moment decay")
    beta2: float = option(0.999, "Adam's second-moment decay")
    rho: float = option(0.99, "RMSprop's squared-gradient decay")
    eps: float = option(1e-8, "Adagrad/RMSprop/Adam denominator epsilon")
    l1: float = option(0.0, "lambda_1: L1 penalty on weights (not biases), added to the cost")
    l2: float = option(0.0, "lambda_2: L2 penalty sum(W**2) on weights, added to the cost "
                            "(cs231n's reg is 2 * lambda_2: it adds 0.5 * reg * sum(W**2))")
    weight_decay: float = option(5e-4, "weight decay inside the update rule, on weights only "
                                       "(AdamW-style for adam); 0 turns it off")
    max_norm: float | None = option(None, "max-norm constraint: after each update, rescale each "
                                          "unit's incoming weight vector to L2 norm at most "
                                          "this (cs231n: 3 or 4)")
    loss: str = option("cross-entropy", "training loss on the class scores: cross-entropy "
                                        "(softmax), hinge (multiclass SVM, margin 1, as cs231n) "
                                        "or squared-hinge", choices=LOSSES)

    def check(self) -> None:
        positive(self.lr, "--lr")
        positive(self.batch_size, "--batch-size")
        positive(self.eps, "--eps")
        positive(self.max_norm, "--max-norm")
        for name in ("momentum", "beta1", "beta2", "rho"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise bad_setting(flag_name(name), "in [0, 1)", value)
        for name in ("l1", "l2", "weight_decay"):
            if getattr(self, name) < 0:
                raise bad_setting(flag_name(name), ">= 0", getattr(self, name))
        # The optimizers compute in float32, where a larger number is infinite.
        for name in ("lr", "eps", "max_norm", "l1", "l2", "weight_decay"):
            value = getattr(self, name)
            if value is not None and value > FLOAT32_MAX:
                raise bad_setting(flag_name(name), f"at most {FLOAT32_MAX:.3g}, the largest "
                                  "float32", value)


FLOAT32_MAX = 3.4028234663852886e38

SCHEDULES = ("constant", "inverse-time", "exponential", "step", "plateau", "cosine")


@dataclass
class ScheduleConfig:
    schedule: str = option("cosine", "learning-rate schedule over epochs", choices=SCHEDULES)
    lr_decay: float = option(0.95, "exponential: lr *= lr_decay each epoch (cs231n); "
                                   "step: the factor applied every --step-epochs")
    inverse_time_decay: float = option(0.1, "inverse-time: lr = eta0 / (1 + d * epoch)")
    step_epochs: int = option(10, "step: epochs between decays")
    plateau_factor: float = option(0.5, "plateau: multiply lr by this (the tutorials' 1/2 or "
                                        "1/10) after --plateau-epochs without improvement")
    plateau_epochs: int = option(1, "plateau: validated epochs without a new best before lr "
                                    "drops")
    min_lr_ratio: float = option(1 / 1024, "plateau: stop once lr falls below eta0 * this")
    warmup_epochs: float = option(0.0, "epochs of linear warm-up before the schedule; a "
                                       "fraction warms up over part of the first epoch")

    def check(self) -> None:
        if not 0 < self.lr_decay <= 1:
            raise bad_setting("--lr-decay", "in (0, 1]", self.lr_decay)
        positive(self.step_epochs, "--step-epochs")
        positive(self.plateau_epochs, "--plateau-epochs")
        if not 0 < self.plateau_factor < 1:
            raise bad_setting("--plateau-factor", "in (0, 1)", self.plateau_factor)
        positive(self.min_lr_ratio, "--min-lr-ratio")
        for name in ("inverse_time_decay", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise bad_setting(flag_name(name), ">= 0", getattr(self, name))


STOPPING = ("patience", "epochs", "none")


@dataclass
class StopConfig:
    epochs: int | None = option(None, "maximum number of epochs (default: 15; 60 for digits)")
    early_stopping: str = option("patience", "patience: the tutorials' rule (iterations); "
                                             "epochs: stop after --stop-epochs without "
                                             "improvement; none", choices=STOPPING)
    patience: int = option(10000, "patience rule: look at this many iterations at least")
    patience_increase: float = option(2.0, "patience rule: on a significant improvement, "
                                           "patience = max(patience, iter * this)")
    improvement_threshold: float = option(0.995, "patience rule: a relative improvement this "
                                                 "large is significant")
    validation_frequency: int | None = option(None, "iterations between validations "
                                                    "(default: min(batches per epoch, "
                                                    "patience // 2)); 0: once, after the "
                                                    "last epoch, on the final weights")
    stop_epochs: int = option(5, "epochs rule: epochs without improvement before stopping")

    def check(self) -> None:
        positive(self.epochs, "--epochs")
        positive(self.patience, "--patience")
        positive(self.stop_epochs, "--stop-epochs")
        if self.validation_frequency == 0 and self.early_stopping != "none":
            raise StriateError(f"--validation-frequency 0 validates only after the last epoch, "
                               f"and --early-stopping {self.early_stopping} stops by "
                               "validations during training; use --early-stopping none or "
                               "validate more often")
        if self.validation_frequency:
            positive(self.validation_frequency, "--validation-frequency")
            if self.early_stopping == "patience" and self.validation_frequency > self.patience:
                # The rule would stop before the first validation: no best weights, no figures.
                raise StriateError(f"--validation-frequency {self.validation_frequency} is "
                                   f"longer than --patience {self.patience}: training would stop "
                                   "before validating once; validate more often or raise "
                                   "--patience")
        if self.patience_increase < 1:
            raise bad_setting("--patience-increase", ">= 1", self.patience_increase)
        if not 0 < self.improvement_threshold <= 1:
            raise bad_setting("--improvement-threshold", "in (0, 1]", self.improvement_threshold)


@dataclass
class AugmentConfig:
    """Regularisation by perturbing the data: drawn per image and step, on whole minibatches on
    the device, from the seed (so a rerun or a resumed run sees the same perturbations)."""
    crop_padding: int = option(0, "random crop: pad each side by this many pixels (reflected) "
                                  "and crop back to the original size; 0 turns it off")
    translate: int = option(0, "random shift by up to this many pixels, filling with zeros "
                               "(the training mean once standardized); 0 turns it off")
    rotate: float = option(0.0, "random rotation by up to this many degrees either way, about "
                                "the image's centre; 0 turns it off")
    scale: float = option(0.0, "random zoom by a factor in [1 - s, 1 + s], about the image's "
                               "centre; 0 turns it off")
    flip: bool = option(False, "random horizontal flip; not for digits (a mirrored 2 is not a 2)")
    erase: float = option(0.0, "random erasing: the probability that an image gets a random "
                               "rectangle (2 to 40 percent of its area, aspect 0.3 to 3.3) set to "
                               "zero, the mean once standardized; 0 turns it off")
    label_smoothing: float = option(0.0, "train towards (1 - e) on the label and e / classes "
                                         "elsewhere instead of one-hot targets")
    tta: bool = option(False, "test-time augmentation: validation and test average the "
                              "predictions for each image and its mirror image")
    tta_shift: int = option(0, "test-time shifts: validation and test also average the "
                               "predictions for each image moved this many pixels right, left, "
                               "down and up (with --tta, their mirror images too); 0 turns it "
                               "off")

    def check(self) -> None:
        for name in ("crop_padding", "translate", "tta_shift"):
            if getattr(self, name) < 0:
                raise bad_setting(flag_name(name), ">= 0 pixels", getattr(self, name))
        if not 0 <= self.rotate <= 180:
            raise bad_setting("--rotate", "in [0, 180] degrees", self.rotate)
        if not 0 <= self.scale < 1:
            raise bad_setting("--scale", "in [0, 1)", self.scale)
        if not 0 <= self.erase <= 1:
            raise bad_setting("--erase", "a probability in [0, 1]", self.erase)
        if not 0 <= self.label_smoothing < 1:
            raise bad_setting("--label-smoothing", "in [0, 1)", self.label_smoothing)

    @property
    def perturbs_images(self) -> bool:
        return bool(self.crop_padding or self.translate or self.rotate or self.scale
                    or self.flip or self.erase)


# Data sets whose classes a mirror image changes: digits and letters read one way only.
UNFLIPPABLE = ("mnist", "digits")


def check_mirrorable(dataset: str, flags: str) -> None:
    """Refuse to mirror (--flip, --tta) the images of a data set whose classes it changes."""
    if dataset in UNFLIPPABLE:
        raise StriateError(f"mirroring {dataset} images changes their class (a mirrored 2 is "
                           f"not a 2); drop {flags}")

ENGINES = ("torch", "numpy")
PRECISIONS = ("fp32", "bf16", "fp16", "auto")


@dataclass
class RunConfig:
    engine: str = option("torch", "torch (fast, CPU or CUDA) or numpy (every layer by hand)",
                         choices=ENGINES)
    seed: int = option(0, "random seed: data split, initial weights, minibatch order")
    device: str = option("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    out_dir: str = option("runs", "parent directory of run directories")
    name: str | None = option(None, "run directory name (default: time-model-dataset)")
    progress: str = option("auto", "train: a progress bar on a terminal, one line per epoch "
                                   "in a file or a pipe (never a bar's frames), with auto or "
                                   "on; off: neither. In Python, auto shows the bar only on a "
                                   "terminal or in a notebook",
                           choices=("auto", "on", "off"))
    nproc: int = option(1, "processes for data-parallel training on this machine "
                           "(DistributedDataParallel: gloo on CPU, NCCL on CUDA; each takes its "
                           "share of every minibatch); torchrun sets this itself")
    threads: int | None = option(None, "CPU threads per process (default: the physical cores "
                                       "this process may run on, from its CPU affinity and "
                                       "cgroup quota, shared among --nproc ranks; "
                                       "OMP_NUM_THREADS if set)")
    tensorboard: bool = option(False, "also write each epoch's metrics as TensorBoard scalars "
                                      "into RUN/tensorboard/ (needs `pip install tensorboard`)")
    precision: str = option("fp32", "training arithmetic: fp32; bf16 or fp16 autocast (fp16 on "
                                    "CUDA only, with loss scaling); auto: bf16 where the "
                                    "hardware has it natively, else fp16 on CUDA, else fp32. "
                                    "Weights, optimizer "
                                    "and evaluation stay fp32", choices=PRECISIONS)
    eval_precision: str = option("fp32", "validation arithmetic during training, as "
                                         "--precision (auto: bf16 where native; on this "
                                         "project's CPU about 1.5x faster for LeNet, see "
                                         "performance.md); the test split and evaluate stay "
                                         "fp32, so reported figures describe the saved weights",
                                 choices=PRECISIONS)
    save_every: int = option(0, "also keep the weights of every Nth epoch as "
                                "RUN/epochs/epoch-NNNN.safetensors (for later visualisation); "
                                "0 keeps only the best and the state to resume from")
    channels_last: bool = option(True, "NHWC memory layout for convolutions: on this "
                                       "project's 2-core CPU, 1.4x faster for LeNet and 2.5x "
                                       "for ResNet; --no-channels-last for NCHW")

    def shows_progress(self) -> bool:
        """--progress auto shows the bar on a terminal and in a Jupyter notebook, not in a file."""
        interactive = sys.stderr.isatty() or "ipykernel" in sys.modules
        return self.progress == "on" or (self.progress == "auto" and interactive)

    def check(self) -> None:
        if not 0 <= self.seed < 2 ** 32:
            raise bad_setting("--seed", "in [0, 2**32)", self.seed)
        check_device(self.device)
        check_run_name(self.name)
        if self.save_every < 0:
            raise bad_setting("--save-every", ">= 0", self.save_every)
        if not 1 <= self.nproc <= MAX_NPROC:
            raise bad_setting("--nproc", f"a number of processes from 1 to {MAX_NPROC}",
                              self.nproc)
        if self.threads is not None and not 1 <= self.threads <= MAX_THREADS:
            raise bad_setting("--threads", f"a number of threads from 1 to {MAX_THREADS}",
                              self.threads)


MAX_NPROC = 64  # processes on one machine; more machines join through torchrun
MAX_THREADS = 1024


def check_device(spec: str) -> str:
    """auto, cpu, cuda or cuda:N; whether that device exists is the engine's question."""
    kind, _, index = spec.partition(":")
    if not (spec in ("auto", "cpu", "cuda") or kind == "cuda" and index.isdigit()):
        raise StriateError(f"--device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    return spec


def check_run_name(name: str | None) -> None:
    """A run name is one directory inside --out-dir, never a path that leaves it."""
    if name is not None and (not name or name in (".", "..") or "/" in name or "\\" in name):
        raise StriateError(f"--name must be a plain directory name, got {name!r}; use --out-dir "
                           "to choose where runs go")


# The training budget depends on the data set's size: digits has 1,294 training images, 40x fewer
# than Fashion-MNIST, so 15 epochs would be only ~150 steps; it gets smaller batches and more epochs.
DATASET_DEFAULTS = {"*": {"batch_size": 128, "epochs": 15},
                    "digits": {"batch_size": 64, "epochs": 60}}


@dataclass
class TrainConfig:
    """Everything one training run needs; `config.yaml` in a run directory is this, resolved."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    stop: StopConfig = field(default_factory=StopConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def resolve(self) -> "TrainConfig":
        """A new config with the data set's defaults filled in (see DATASET_DEFAULTS), checked
        as a whole: what training runs on. This config is left as it is."""
        resolved = copy.deepcopy(self)
        resolved.fill_dataset_defaults()
        resolved.check()
        return resolved

    def check(self) -> None:
        """Refuse settings that are out of range or contradict each other; changes nothing."""
        for section in self.sections().values():
            if hasattr(section, "check"):
                section.check()
        if self.augment.flip or self.augment.tta:
            check_mirrorable(self.data.dataset, "--flip and --tta")
        if self.optim.loss != "cross-entropy" and self.augment.label_smoothing:
            # label smoothing softens the softmax's one-hot targets; a hinge has none
            raise StriateError(f"--label-smoothing smooths cross-entropy's targets, and --loss "
                               f"{self.optim.loss} has none; drop --label-smoothing or use "
                               "--loss cross-entropy")
        if self.stop.validation_frequency == 0 and self.schedule.schedule == "plateau":
            raise StriateError("--schedule plateau lowers the rate after validations, and "
                               "--validation-frequency 0 validates only after the last epoch; "
                               "validate more often or choose another schedule")
        if self.run.nproc > 1 and self.run.engine != "torch":
            raise StriateError("--nproc trains data-parallel on the torch engine; drop --nproc "
                               "or use --engine torch")

    def fill_dataset_defaults(self) -> None:
        """Settings left at None take the data set's default (see DATASET_DEFAULTS)."""
        defaults = {**DATASET_DEFAULTS["*"], **DATASET_DEFAULTS.get(self.data.dataset, {})}
        for section in self.sections().values():
            for name, value in defaults.items():
                if hasattr(section, name) and getattr(section, name) is None:
                    setattr(section, name, value)

    def sections(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def flag_name(field_name: str) -> str:
    """The command-line flag of a setting."""
    return "--model-arg" if field_name == "model_args" else "--" + field_name.replace("_", "-")


def positive(value, flag: str) -> None:
    if value is None:  # unset: the data set's default is filled in before training
        return
    if not value > 0 or (isinstance(value, float) and not math.isfinite(value)):
        raise bad_setting(flag, "a positive number", value)


def bad_setting(flag: str, rule: str, value, shown: str | None = None) -> StriateError:
    """A setting of the wrong kind or outside its range: what it must be, what it was, and the
    way back to safety, its default. `shown` is how the message names it, if not by its flag."""
    default = {flag_name(leaf.name): leaf.default for _, leaf in section_fields()}.get(flag)
    known = "" if default is None else f" ({default})"
    return StriateError(f"{shown or flag} must be {rule}, got {value}; change it, or leave it "
                        f"out for the default{known}")


def section_fields(config_class=TrainConfig) -> list[tuple[str, dataclasses.Field]]:
    """(section name, field) for every leaf setting, in declaration order."""
    return [(section.name, leaf)
            for section in dataclasses.fields(config_class)
            for leaf in dataclasses.fields(section.default_factory)]


def field_type(leaf: dataclasses.Field) -> type:
    """The concrete type of a field (str, int, float, bool or dict), unwrapping `X | None`."""
    hint = typing.get_type_hints(_owner_of(leaf))[leaf.name]
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return args[0] if args else hint


def _owner_of(leaf: dataclasses.Field) -> type:
    for section in dataclasses.fields(TrainConfig):
        if leaf in dataclasses.fields(section.default_factory):
            return section.default_factory
    raise KeyError(leaf.name)


def coerce(value, leaf: dataclasses.Field, where: str):
    """Check a YAML or flag value against the field's type; ints are accepted for floats."""
    shown = f"{where}: {leaf.name}"
    if value is None:
        if leaf.default is None:
            return None
        raise StriateError(f"{shown} cannot be empty; give it a value, or leave it out for the "
                           f"default ({leaf.default})")
    kind = field_type(leaf)
    ok = (isinstance(value, kind) and not (kind is int and isinstance(value, bool))
          or kind is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise bad_setting(flag_name(leaf.name), kind.__name__, repr(value), shown)
    choices = leaf.metadata.get("choices")
    value = float(value) if kind is float else value
    if kind is float and not math.isfinite(value):
        raise bad_setting(flag_name(leaf.name), "a finite number", value, shown)
    if choices and value not in choices:
        raise bad_setting(flag_name(leaf.name), f"one of {', '.join(choices)}", repr(value),
                          shown)
    return value


def apply_mapping(config: TrainConfig, mapping: dict, where: str) -> TrainConfig:
    """Set values from a {section: {field: value}} mapping (a YAML file), rejecting unknown keys."""
    if not isinstance(mapping, dict):
        raise StriateError(f"{where}: expected sections like `optim:` at the top level; write "
                           "the settings by section, e.g. `optim: {lr: 0.1}`")
    sections = config.sections()
    for section_name, values in mapping.items():
        if section_name not in sections:
            raise StriateError(f"{where}: unknown section {section_name!r}; use one of "
                               f"{', '.join(sections)}")
        if not isinstance(values, dict):
            raise StriateError(f"{where}: section {section_name!r} must be a mapping of "
                               f"settings; write it as `{section_name}: {{setting: value}}`")
        section = sections[section_name]
        leaves = {leaf.name: leaf for leaf in dataclasses.fields(section)}
        for key, value in values.items():
            if key not in leaves:
                raise StriateError(f"{where}: unknown setting {section_name}.{key}; use one of "
                                   f"{', '.join(leaves)}")
            setattr(section, key, coerce(value, leaves[key], f"{where}: {section_name}"))
    return config


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StriateError(f"cannot read config {path}: {getattr(error, 'strerror', error)}; "
                           "check the path") from None
    try:
        mapping = yaml.load(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        at = f" at line {line + 1}" if line is not None else ""
        if isinstance(error, DuplicateKey):
            raise StriateError(f"{path}{at}: {error.problem}; keep one of them") from None
        if isinstance(error, yaml.constructor.ConstructorError):   # !!python/object and kin
            raise StriateError(f"{path}{at}: {error.problem}: a config holds plain values "
                               "(numbers, strings, lists), not Python objects; remove the "
                               "tag") from None
        raise StriateError(f"{path} is not valid YAML{at}; fix the syntax") from None
    return mapping or {}


class DuplicateKey(yaml.constructor.ConstructorError):
    pass


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, but a key given twice in one mapping is refused: PyYAML keeps the last,
    silently dropping a setting the user wrote."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, typing.Hashable):   # PyYAML's own error names it
                continue
            if key in seen:
                raise DuplicateKey(problem=f"{key!r} is given twice",
                                   problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def config_from_yaml(path: str | Path) -> TrainConfig:
    return apply_mapping(TrainConfig(), load_yaml(path), str(path))


def to_yaml(config: TrainConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
