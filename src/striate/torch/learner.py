"""The torch learner: what the engine-independent loop calls to train and evaluate a model.

The loop (striate.training.loop) owns epochs, validation, early stopping and schedules; the
learner owns the mathematics: minibatch gradients, the update rule, penalties and evaluation.
"""


import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from striate.checkpoint import map_arrays
from striate.config import OptimConfig, TrainConfig
from striate.torch.augment import BatchAugment
from striate.torch.data import DeviceSplit
from striate.torch.device import resolve_precision
from striate.torch.losses import data_loss
from striate.torch.sgd import SGD, SGD_FAMILY
from striate.training.learner import (NOT_EVALUATED, TTA, Evaluation, Tally, view,
                                      views_averaged)
from striate.training.order import (examples_per_epoch, minibatches_per_epoch,
                                    training_order)
from striate.training.world import World


def named_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Weights (matrices and filters) carry the L1/L2 penalties and decay; biases never do."""
    return {name: p for name, p in model.named_parameters() if p.ndim > 1}


def penalized(model: nn.Module) -> list[nn.Parameter]:
    return list(named_weights(model).values())


def penalty(model: nn.Module, l1: float, l2: float) -> torch.Tensor:
    """lambda_1 * sum|W| + lambda_2 * sum W^2, the tutorials' L1 and L2_sqr terms."""
    total = torch.zeros((), device=next(model.parameters()).device)
    for weight in penalized(model):
        if l1:
            total = total + l1 * weight.abs().sum()
        if l2:
            total = total + l2 * weight.pow(2).sum()
    return total


# Layers whose weight holds its output units along axis 1, not torch's usual 0: a transposed
# convolution's is (in, out, kh, kw).
TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def unit_axis(module: nn.Module, weight: nn.Parameter) -> int:
    """The axis of `weight` along which its layer's output units lie. The tutorials' affine
    layers (striate.dlt) keep Theano's W (n_in, n_out), whose units are columns."""
    theano_affine = weight is getattr(module, "W", None) and weight.ndim == 2
    return 1 if isinstance(module, TRANSPOSED) or theano_affine else 0


def units_of_weights(model: nn.Module) -> list[tuple[nn.Parameter, int]]:
    """(weight, unit axis) for every weight named_weights picks, each once (the tutorials share
    one W between layers)."""
    found = {}
    for module in model.modules():
        for weight in module.parameters(recurse=False):
            if weight.ndim > 1 and id(weight) not in found:
                found[id(weight)] = (weight, unit_axis(module, weight))
    return list(found.values())


@torch.no_grad()
def constrain_max_norm(units: list[tuple[nn.Parameter, int]], max_norm: float) -> None:
    """cs231n's max-norm constraint, projected after an update: each unit's incoming weight
    vector (a row of a Linear weight (out, in), a filter (in, kh, kw) of a convolution's
    (out, in, kh, kw)) longer than max_norm is scaled back to it; shorter ones are left exactly
    as they are. Every data-parallel rank holds the same weights after the same step, so every
    rank projects them identically."""
    for weight, axis in units:
        weight.copy_(torch.renorm(weight, p=2, dim=axis, maxnorm=max_norm))


def build_optimizer(model: nn.Module, config: OptimConfig) -> torch.optim.Optimizer | SGD:
    weights = penalized(model)
    weight_ids = {id(p) for p in weights}
    groups = [{"params": weights, "weight_decay": config.weight_decay},
              {"params": [p for p in model.parameters() if id(p) not in weight_ids],
               "weight_decay": 0.0}]
    c = config
    if c.optimizer in SGD_FAMILY:   # striate's own: no torch._dynamo import (striate.torch.sgd)
        momentum = 0.0 if c.optimizer == "sgd" else c.momentum
        return SGD(groups, lr=c.lr, momentum=momentum, nesterov=c.optimizer == "nesterov")
    if c.optimizer == "adagrad":  # cs231n's: cache += dw**2; w -= lr * dw / (sqrt(cache) + eps)
        return torch.optim.Adagrad(groups, lr=c.lr, eps=c.eps, initial_accumulator_value=0.0,
                                   foreach=True)
    if c.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=c.lr, alpha=c.rho, eps=c.eps, foreach=True)
    # Decoupled decay (AdamW) is what "weight decay" should mean with Adam.
    return torch.optim.AdamW(groups, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps, foreach=True)


def eval_batch_size(device: torch.device) -> int:
    """Examples per evaluation forward. A GPU wants large batches to fill its cores; a CPU wants
    the feature maps to stay in cache: LeNet evaluates 1.5x faster in batches of 512 than of 4096
    on a 2-core EPYC, and without the 300 MB that 4096 images' feature maps take."""
    return 4096 if device.type == "cuda" else 512


def memory_format(channels_last: bool) -> torch.memory_format:
    return torch.channels_last if channels_last else torch.contiguous_format


@torch.inference_mode()
def evaluate_split(model: nn.Module, data: DeviceSplit, tta: TTA = TTA(),
                   channels_last: bool = False, world: World = World(),
                   amp_dtype: torch.dtype | None = None) -> Evaluation:
    """The model's evaluation (striate.training.learner) on a split; leaves it in eval mode.

    In fp32 unless amp_dtype asks for autocast (--eval-precision, validation only), whatever the
    training precision: the test figures describe the weights as saved. Data-parallel ranks
    each evaluate their share and add up the sums, so all of them get the same figures."""
    model.eval()
    tally = Tally()
    device = data.labels.device
    layout = memory_format(channels_last)
    for images, labels in data.chunks(eval_batch_size(device), *world.bounds(len(data))):
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            views = [log_proba(model, view(images, *v).contiguous(memory_format=layout))
                     for v in tta.views]
        tally.add(views_averaged(views), labels.cpu().numpy())
    sums = torch.tensor([tally.nll, tally.wrong, tally.count], dtype=torch.float64,
                        device=data.labels.device)
    world.sum_(sums)
    nll, wrong, count = sums.tolist()
    return Tally(nll, int(wrong), int(count)).result()


def log_proba(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """(B, classes) float32 class log-probabilities on the CPU."""
    return model(images).float().log_softmax(1).cpu().numpy()


class TorchLearner:
    def __init__(self, model: nn.Module, splits: dict[str, DeviceSplit], config: TrainConfig,
                 world: World = World()):
        device = splits["train"].labels.device
        self.model = model.to(memory_format=memory_format(config.run.channels_last))
        self.world = world
        # Data-parallel ranks train through DDP, which averages their gradients in backward;
        # self.model stays the plain module for evaluation and checkpoints.
        if world.size > 1 and device.type == "cuda":  # batch norm over the whole minibatch
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)  # (CUDA only)
        self.network = self.model if world.size == 1 else DistributedDataParallel(
            self.model, device_ids=[device] if device.type == "cuda" else None)
        self.splits = splits
        self.config = config.optim
        self.augment_config = config.augment
        self.channels_last = config.run.channels_last
        self.seed = config.run.seed
        self.optimizer = build_optimizer(self.model, config.optim)
        self.units = units_of_weights(self.model)    # what --max-norm bounds
        self.amp_dtype = resolve_precision(config.run.precision, device)
        self.validation_dtype = resolve_precision(config.run.eval_precision, device)
        # fp16's narrow exponent underflows small gradients; scaling the loss keeps them.
        self.scaler = torch.amp.GradScaler(device.type,
                                           enabled=self.amp_dtype == torch.float16)
        self.augment = BatchAugment(config.augment, self.seed, device)
        self.best_state = self.copy_state()
        self.order = None

    @property
    def batches_per_epoch(self) -> int:
        return minibatches_per_epoch(len(self.splits["train"]), self.config.batch_size,
                                     self.config.minibatch_order)

    def start_epoch(self, epoch: int) -> None:
        train = self.splits["train"]
        order = training_order(self.seed, epoch, len(train), self.config.minibatch_order)
        self.order = torch.from_numpy(order).to(train.labels.device)
        self.augment.start_epoch(epoch)
        self.loss_sum = torch.zeros((), device=train.labels.device)
        self.wrong = torch.zeros((), dtype=torch.int64, device=train.labels.device)
        self.network.train()

    def train_step(self, batch: int, lr: float) -> torch.Tensor:
        """One update on minibatch `batch` of the epoch's order; returns its mean data loss
        (--loss) as a 0-d device tensor (the loop never reads it: that would stall a GPU every
        step)."""
        train, size = self.splits["train"], self.config.batch_size
        index = self.order[batch * size:(batch + 1) * size]        # (B,) the whole minibatch
        mine = slice(*self.world.bounds(len(index)))                # this rank's share of it
        if self.augment.enabled:
            # drawn for the whole minibatch, so that N ranks augment as one process would
            images = self.augment(train.images[index])[mine]
        else:
            images = train.images[index[mine]]                      # (b, C, H, W)
        labels = train.labels[index[mine]]                          # (b,)
        images = images.contiguous(memory_format=memory_format(self.channels_last))
        with torch.autocast(images.device.type, dtype=self.amp_dtype,
                            enabled=self.amp_dtype is not None):
            logits = self.network(images)                               # (b, classes)
            loss = data_loss(logits.float(), labels, self.config.loss,
                             self.augment_config.label_smoothing)
        # DDP averages the ranks' gradients; weighting each rank's mean by its share b/B times
        # the number of ranks makes that the gradient of the whole minibatch's mean, however
        # unevenly B was split (the weight is exactly 1 in one process).
        share = len(labels) * self.world.size / len(index)
        cost = loss * share + penalty(self.model, self.config.l1, self.config.l2)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(cost).backward()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.config.max_norm is not None:   # on the fp32 weights, outside autocast
            constrain_max_norm(self.units, self.config.max_norm)
        # Accumulated on the device: reading them every step would stall a GPU.
        self.loss_sum += loss.detach() * len(labels)
        self.wrong += (logits.detach().argmax(1) != labels).sum()
        return loss.detach()

    def end_epoch(self) -> tuple[float, float]:
        """Mean training loss (--loss) and error over the epoch's minibatches (as they were
        trained on)."""
        n = examples_per_epoch(len(self.splits["train"]), self.config.batch_size,
                               self.config.minibatch_order)
        self.world.sum_(self.loss_sum, self.wrong)
        return self.loss_sum.item() / n, self.wrong.item() / n

    def evaluate(self, split: str) -> Evaluation:
        if split not in self.splits:
            return NOT_EVALUATED
        was_training = self.model.training
        tta = TTA(self.augment_config.tta, self.augment_config.tta_shift)
        result = evaluate_split(self.model, self.splits[split], tta,
                                self.channels_last, self.world,
                                self.validation_dtype if split == "valid" else None)
        self.model.train(was_training)
        return result

    def weights(self) -> dict[str, np.ndarray]:
        return {name: p.detach().cpu().numpy().copy()
                for name, p in named_weights(self.model).items()}

    def copy_state(self) -> dict[str, torch.Tensor]:
        return {name: value.detach().clone() for name, value in self.model.state_dict().items()}

    def keep_best(self) -> None:
        self.best_state = self.copy_state()

    def restore_best(self) -> None:
        self.model.load_state_dict(self.best_state)

    def best_weights(self) -> dict[str, np.ndarray]:
        return {name: value.cpu().numpy() for name, value in self.best_state.items()}

    def current_weights(self) -> dict[str, np.ndarray]:
        return {name: value.cpu().numpy() for name, value in self.copy_state().items()}

    def state_dict(self) -> dict:
        """Numpy arrays where torch has tensors (the RNG states are uint8 tensors): the state
        file is engine-independent. 0-d tensors (Adam's step, batch norm's num_batches_tracked)
        become 0-d arrays of the same dtype, so a resumed run is bit-identical."""
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scaler": self.scaler.state_dict(), "best": self.best_state,
                 "torch_rng": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return map_arrays(state, torch.Tensor, lambda tensor: tensor.detach().cpu().numpy())

    def load_state_dict(self, state: dict) -> None:
        device = next(self.model.parameters()).device
        # Tensors on the CPU: the model and the optimizer copy or move them to their
        # parameters' device themselves, and the RNG states must be CPU tensors.
        state = map_arrays(state, np.ndarray, torch.from_numpy)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.best_state = {k: v.to(device) for k, v in state["best"].items()}
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

