"""The training losses on class scores (--loss), as torch functions of the logits.

scores: (N, C) float class scores (logits); labels: (N,) integer labels in [0, C). Every loss is
the mean over the N examples, as striate.numpy.losses computes them by hand.
"""

import torch
import torch.nn.functional as F


def data_loss(scores: torch.Tensor, labels: torch.Tensor, loss: str,
              label_smoothing: float = 0.0) -> torch.Tensor:
    """The configured loss (OptimConfig.loss) of the scores, a 0-d tensor."""
    if loss == "cross-entropy":
        return F.cross_entropy(scores, labels, label_smoothing=label_smoothing)
    return multiclass_hinge(scores, labels, squared=loss == "squared-hinge")


def multiclass_hinge(scores: torch.Tensor, labels: torch.Tensor,
                     squared: bool = False) -> torch.Tensor:
    """cs231n's multiclass SVM loss, mean over n of sum_{j != y_n} max(0, s_nj - s_ny_n + 1);
    squared: every margin squared. Written out because F.multi_margin_loss also divides by C."""
    correct = scores.gather(1, labels[:, None])                     # (N, 1) s_y
    margins = (scores - correct + 1).clamp(min=0)                   # (N, C)
    # The correct class is not its own competitor: its margin would always count 1.
    margins = margins.scatter(1, labels[:, None], 0.0)
    return (margins.square() if squared else margins).sum(1).mean()

