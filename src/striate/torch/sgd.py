"""SGD, momentum and Nesterov momentum, written out with foreach operations.

The same arithmetic as torch.optim.SGD with dampening 0, step for step (a test checks it to the
bit), for a reason of time only: constructing any torch.optim optimizer imports torch._dynamo,
about a second of CPU on this project's 2-core machine that a background import hid only in
part (striate's own takes 0.5 s off a run's start-up), and torch.optim's step runs wrappers of
its own on every step (docs/performance.md, Start-up). The interface is the part of
torch.optim's that striate and GradScaler use: param_groups (each with its "params", "lr" and
"weight_decay"), zero_grad, step, state_dict and load_state_dict.
"""

import torch

SGD_FAMILY = ("sgd", "momentum", "nesterov")   # the --optimizer names this class serves


class SGD:
    """Per step, for each parameter p with gradient g (decay on the groups that have it):

        g = g + weight_decay * p
        v = g on the first step, else momentum * v + g          (momentum > 0)
        g = g + momentum * v  (Nesterov)   or   g = v  (classical momentum)
        p = p - lr * g
    """

    def __init__(self, groups: list[dict], lr: float, momentum: float = 0.0,
                 nesterov: bool = False):
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.param_groups = [{"weight_decay": 0.0, **group, "lr": lr,
                              "params": list(group["params"])} for group in groups]
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity: dict[int, torch.Tensor] = {}  # by parameter index, from its first step

    def parameters(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        index = 0
        for group in self.param_groups:
            ids = range(index, index + len(group["params"]))
            index += len(group["params"])
            stepped = [(i, p) for i, p in zip(ids, group["params"]) if p.grad is not None]
            if stepped:
                self.update(group, [i for i, _ in stepped], [p for _, p in stepped])

    def update(self, group: dict, ids: list[int], params: list[torch.Tensor]) -> None:
        grads = [p.grad for p in params]
        if group["weight_decay"]:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        if self.momentum:
            velocity = self.velocities(ids, grads)
            if self.nesterov:
                torch._foreach_add_(grads, velocity, alpha=self.momentum)
            else:
                grads = velocity
        torch._foreach_add_(params, grads, alpha=-group["lr"])

    def velocities(self, ids: list[int], grads: list[torch.Tensor]) -> list[torch.Tensor]:
        """v = momentum * v + g for the parameters that have a velocity; v = g (a copy) for
        those stepped for the first time."""
        old = [(self.velocity[i], g) for i, g in zip(ids, grads) if i in self.velocity]
        if old:
            torch._foreach_mul_([v for v, _ in old], self.momentum)
            torch._foreach_add_([v for v, _ in old], [g for _, g in old])
        for i, g in zip(ids, grads):
            self.velocity.setdefault(i, g.clone())
        return [self.velocity[i] for i in ids]

    def state_dict(self) -> dict:
        return {"velocity": {str(i): v for i, v in self.velocity.items()},
                "lr": [group["lr"] for group in self.param_groups]}

    def load_state_dict(self, state: dict) -> None:
        """Our state, or torch.optim.SGD's (runs of striate versions that trained with it resume
        exactly: the arithmetic is the same). ValueError for a state of other parameters
        (indices or shapes): a resumed run would otherwise fail at its first step, or quietly
        train with a foreign velocity."""
        if "param_groups" in state:
            state = self.from_torch_optim(state)
        params = self.parameters()
        velocity = {int(i): v for i, v in state["velocity"].items()}
        if any(not 0 <= i < len(params) or tuple(v.shape) != tuple(params[i].shape)
               for i, v in velocity.items()):
            raise ValueError("the momentum state is for other parameters")
        self.velocity = {i: v.to(params[i].device, params[i].dtype)
                         for i, v in velocity.items()}
        for group, lr in zip(self.param_groups, state["lr"], strict=True):
            group["lr"] = lr

    def from_torch_optim(self, state: dict) -> dict:
        """torch.optim.SGD's state_dict ({"state": {index: {"momentum_buffer": v}},
        "param_groups": [{"lr", "params": [index, ...], "dampening", ...}]}) in our own form;
        both number the parameters alike. ValueError for other groups or a dampened rule, whose
        steps this class does not take."""
        groups = state["param_groups"]
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups] \
                or any(g.get("dampening", 0) for g in groups):
            raise ValueError("the torch.optim.SGD state is for other parameters or rules")
        velocity = {str(i): entry["momentum_buffer"] for i, entry in state["state"].items()
                    if entry.get("momentum_buffer") is not None}
        return {"velocity": velocity, "lr": [group["lr"] for group in groups]}
