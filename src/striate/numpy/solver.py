"""cs231n's Solver, on striate's engine-independent loop.

    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, num_epochs=10, batch_size=50, print_every=100)
    solver.train()
    solver.loss_history, solver.train_acc_history, solver.val_acc_history, solver.best_params

data = {"X_train", "y_train", "X_val", "y_val"}. The epochs, minibatch order, per-epoch lr_decay,
validation and best-parameter bookkeeping are striate.training.loop's, the same code that runs
`striate train`; the Solver only translates cs231n's arguments and keeps the histories.
"""

from striate.config import OptimConfig, ScheduleConfig, StopConfig, TrainConfig
from striate.numpy.learner import NumpyLearner
from striate.training.learner import StepRecorder
from striate.training.loop import Loop

UPDATE_RULES = {"sgd": "sgd", "sgd_momentum": "momentum", "nesterov": "nesterov",
                "rmsprop": "rmsprop", "adam": "adam"}
# cs231n optim_config keys -> OptimConfig fields
OPTIM_KEYS = {"learning_rate": "lr", "momentum": "momentum", "decay_rate": "rho",
              "beta1": "beta1", "beta2": "beta2", "epsilon": "eps"}


class Solver:
    def __init__(self, model, data: dict, update_rule: str = "sgd", optim_config: dict = None,
                 lr_decay: float = 1.0, batch_size: int = 100, num_epochs: int = 10,
                 print_every: int = 10, verbose: bool = True, seed: int = 0):
        if update_rule not in UPDATE_RULES:
            raise ValueError(f"update_rule must be one of {', '.join(UPDATE_RULES)}")
        unknown = set(optim_config or {}) - set(OPTIM_KEYS)
        if unknown:
            raise ValueError(f"unknown optim_config keys {sorted(unknown)}; use {list(OPTIM_KEYS)}")
        optim = OptimConfig(optimizer=UPDATE_RULES[update_rule], batch_size=batch_size,
                            weight_decay=0.0,
                            **{OPTIM_KEYS[k]: v for k, v in (optim_config or {}).items()})
        self.config = TrainConfig(optim=optim,
                                  schedule=ScheduleConfig(schedule="exponential",
                                                          lr_decay=lr_decay),
                                  stop=StopConfig(epochs=num_epochs, early_stopping="none"))
        self.config = self.config.resolve()
        splits = {"train": (data["X_train"], data["y_train"]),
                  "valid": (data["X_val"], data["y_val"])}
        self.model, self.verbose = model, verbose
        self.learner = StepRecorder(NumpyLearner(model, splits, optim, seed),
                                    self.print_every_step if verbose else None, print_every)
        self.train_acc_history, self.val_acc_history = [], []

    def train(self) -> None:
        loop = Loop(self.learner, self.config)
        loop.run(on_epoch_end=self.record_epoch)
        self.best_val_acc = 1.0 - loop.state.best["valid_error"]
        self.best_params = self.learner.learner.best["params"]

    def record_epoch(self, loop: Loop, improved: bool) -> None:
        row = loop.state.history[-1]
        self.train_acc_history.append(1.0 - row["train_error"])
        self.val_acc_history.append(row["valid_accuracy"])
        if self.verbose:
            print(f"(Epoch {row['epoch']} / {self.config.stop.epochs}) train acc: "
                  f"{self.train_acc_history[-1]:.6f}; val_acc: {self.val_acc_history[-1]:.6f}")

    @property
    def loss_history(self) -> list[float]:
        return self.learner.losses

    @staticmethod
    def print_every_step(iteration: int, loss: float) -> None:
        print(f"(Iteration {iteration}) loss: {loss:.6f}")
