"""Update rules: `next_w, config = rule(w, dw, config)` (cs231n's contract).

w: the current weights, any shape; dw: dloss/dw, w's shape. config: a dict of hyperparameters
(missing ones are filled in with the defaults below) that also carries the rule's state between
calls (velocity, cache, m, v, t), so keep one config per parameter and pass back the one that was
returned. Every rule accepts an optional "weight_decay" (default 0), as torch's optimizers do:

- sgd, sgd_momentum, nesterov, adagrad, rmsprop: coupled, dw += weight_decay * w (torch's SGD,
  Adagrad, RMSprop);
- adam: decoupled, w -= learning_rate * weight_decay * w before the step (torch's AdamW) --
  decay added to the gradient would be divided by Adam's per-weight step size and lose its
  meaning.

Each rule follows the same trajectory as its torch.optim counterpart for a constant learning
rate (tests/numpy/test_optim.py). The momentum rules keep cs231n's velocity, which holds
learning-rate-scaled steps: when the learning rate changes between steps, the old velocity keeps
its old scale, where torch's buffer (a sum of gradients) is rescaled by the new rate.

max_norm is no rule but a constraint applied after one: each unit's incoming weights rescaled
to a bounded L2 norm.
"""

import numpy as np


def coupled_decay(w, dw, config):
    """dw + weight_decay * w: L2 decay inside the gradient."""
    decay = config.get("weight_decay", 0.0)
    return dw + decay * w if decay else dw


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: w -= learning_rate * dw.

    config: learning_rate (1e-2), weight_decay (0).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    dw = coupled_decay(w, dw, config)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: a velocity that averages past steps damps the zig-zag across a ravine.

        v = momentum * v - learning_rate * dw
        w = w + v

    config: learning_rate (1e-2), momentum (0.9), weight_decay (0); state: velocity (w's shape,
    zeros at first). Equal to torch.optim.SGD(momentum=momentum, dampening=0).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    dw = coupled_decay(w, dw, config)
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def nesterov(w, dw, config=None):
    """Nesterov momentum in Sutskever's form, the gradient taken at the current weights
    (cs231n's formulation): the step looks ahead along the new velocity.

        v_prev = v
        v = momentum * v - learning_rate * dw
        w = w - momentum * v_prev + (1 + momentum) * v

    config: learning_rate (1e-2), momentum (0.9), weight_decay (0); state: velocity. Equal to
    torch.optim.SGD(momentum=momentum, nesterov=True).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    mu = config["momentum"]
    v_prev = config.get("velocity", np.zeros_like(w))
    dw = coupled_decay(w, dw, config)
    v = mu * v_prev - config["learning_rate"] * dw
    config["velocity"] = v
    return w - mu * v_prev + (1 + mu) * v, config


def adagrad(w, dw, config=None):
    """Adagrad: divide each step by the root of the sum of all that weight's squared gradients
    so far, so that rarely-moved weights take larger steps (cs231n's notes).

        cache = cache + dw ** 2
        w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    The sum only grows, so the steps only shrink (RMSprop makes it a moving average instead).
    config: learning_rate (1e-2), epsilon (1e-8), weight_decay (0); state: cache. Equal to
    torch.optim.Adagrad(lr=learning_rate, eps=epsilon, weight_decay=weight_decay).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache", np.zeros_like(w))
    dw = coupled_decay(w, dw, config)
    cache = cache + dw ** 2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def rmsprop(w, dw, config=None):
    """RMSProp: divide each step by a running root mean square of that weight's gradients, so
    every weight moves at about the same rate whatever its gradient's scale.

        cache = decay_rate * cache + (1 - decay_rate) * dw ** 2
        w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    config: learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8), weight_decay (0); state:
    cache. Equal to torch.optim.RMSprop(alpha=decay_rate, eps=epsilon).
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    cache = config.get("cache", np.zeros_like(w))
    dw = coupled_decay(w, dw, config)
    rate = config["decay_rate"]
    cache = rate * cache + (1 - rate) * dw ** 2
    config["cache"] = cache
    return w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"]), config


def adam(w, dw, config=None):
    """Adam: momentum (m) and RMSProp (v) together, both bias-corrected, since they start at
    zero and would make the first steps too small.

        t = t + 1
        m = beta1 * m + (1 - beta1) * dw            v = beta2 * v + (1 - beta2) * dw ** 2
        w = w - learning_rate * (m / (1 - beta1 ** t)) / (sqrt(v / (1 - beta2 ** t)) + epsilon)

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8), weight_decay (0,
    decoupled); state: m, v, t. Equal to torch.optim.AdamW(betas=(beta1, beta2), eps=epsilon,
    weight_decay=weight_decay), which is torch.optim.Adam when weight_decay is 0.
    """
    config = {} if config is None else config
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    m = config.get("m", np.zeros_like(w))
    v = config.get("v", np.zeros_like(w))
    t = config.get("t", 0) + 1
    lr, beta1, beta2 = config["learning_rate"], config["beta1"], config["beta2"]
    decay = config.get("weight_decay", 0.0)
    if decay:
        w = w * (1 - lr * decay)
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    config.update(m=m, v=v, t=t)
    return w - lr * m_hat / (np.sqrt(v_hat) + config["epsilon"]), config


def max_norm(w, limit):
    """The max-norm constraint (cs231n's notes; Srivastava et al. 2014): each unit's incoming
    weight vector whose L2 norm exceeds `limit` is scaled back to norm `limit`; the others stay.

    w: an affine weight (D, M), where unit j's incoming vector is the column w[:, j], or a filter
    bank (F, C, HH, WW), where it is filter w[f]. Returns an array of w's shape and dtype.
    """
    if w.ndim not in (2, 4):
        raise ValueError(f"max_norm takes weights (D, M) or (F, C, HH, WW), not {w.shape}")
    unit_axes = (0,) if w.ndim == 2 else (1, 2, 3)
    norms = np.sqrt((w * w).sum(axis=unit_axes, keepdims=True))      # (1, M) or (F, 1, 1, 1)
    # limit / max(norm, limit) is 1 for a unit within the limit; no division by a zero norm
    scale = limit / np.maximum(norms, limit)
    return w * scale.astype(w.dtype)
