"""Classification losses on class scores: each returns (loss, dscores).

scores: (N, C), the scores of N examples for C classes; y: (N,) integer labels in [0, C).
The loss is the mean over the N examples; dscores = dloss/dscores: (N, C).
"""

import numpy as np


def softmax_loss(scores, y):
    """Cross-entropy of the softmax of the scores (torch's F.cross_entropy).

    scores: (N, C); y: (N,). Returns loss: float, dscores: (N, C) = (softmax - one_hot(y)) / N.
    """
    N = scores.shape[0]
    # Subtracting each row's max changes no probability, and exp then never overflows.
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= 1
    return float(loss), dscores / N


def svm_loss(scores, y, delta=1.0):
    """The multiclass SVM (hinge) loss, cs231n's / Weston-Watkins form:

        loss = 1/N * sum_n sum_{j != y_n} max(0, scores[n, j] - scores[n, y_n] + delta)

    torch's F.multi_margin_loss(scores, y, p=1, margin=delta) averages over the C classes too, so
    svm_loss = C * multi_margin_loss. scores: (N, C); y: (N,); delta: the margin.
    Returns loss: float, dscores: (N, C).
    """
    return hinge_loss(scores, y, delta, squared=False)


def squared_hinge_loss(scores, y, delta=1.0):
    """svm_loss with every margin violation squared: C * F.multi_margin_loss(p=2, margin=delta).

    scores: (N, C); y: (N,); delta: the margin. Returns loss: float, dscores: (N, C).
    """
    return hinge_loss(scores, y, delta, squared=True)


def hinge_loss(scores, y, delta, squared):
    """The shared body of svm_loss and squared_hinge_loss; shapes as theirs."""
    N = scores.shape[0]
    rows = np.arange(N)
    margins = np.maximum(0, scores - scores[rows, y][:, None] + delta)     # (N, C)
    margins[rows, y] = 0     # the correct class is not its own competitor
    if squared:
        loss, dmargins = (margins ** 2).sum() / N, 2 * margins
    else:
        loss, dmargins = margins.sum() / N, (margins > 0).astype(scores.dtype)
    # Each violated margin pushes its class's score up and the correct class's score down.
    dmargins[rows, y] = -dmargins.sum(axis=1)
    return float(loss), dmargins / N


# --loss NAME -> its function (striate.config.LOSSES)
BY_NAME = {"cross-entropy": softmax_loss, "hinge": svm_loss, "squared-hinge": squared_hinge_loss}


def is_weight(name: str) -> bool:
    """cs231n names weights W1, W2, ...; biases (b), gamma and beta are never penalised."""
    return name.startswith("W")


def weight_penalty(params: dict, l1: float, l2: float) -> tuple[float, dict]:
    """The tutorials' L1 and L2_sqr terms, lambda_1 * sum|W| + lambda_2 * sum W^2, over the
    weights of a params dict, and their gradients {name: l1 * sign(W) + 2 * l2 * W} (weights
    only). The one penalty of the NumPy engine: the learner's --l1/--l2, and a model's cs231n
    `reg`, which is l2 = reg / 2 (0.5 * reg * sum W^2, gradient reg * W)."""
    loss, grads = 0.0, {}
    for name, weight in params.items():
        if is_weight(name) and (l1 or l2):
            loss += l1 * float(np.abs(weight).sum()) + l2 * float(np.sum(weight * weight))
            grads[name] = l1 * np.sign(weight) + 2 * l2 * weight
    return loss, grads
