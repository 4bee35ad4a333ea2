"""What `striate check` reports, whichever engine ran the checks: a pass/fail table.

Each engine provides run_checks(config, images, labels, num_classes) -> list[Check], given the
first OVERFIT_EXAMPLES preprocessed training examples.
"""

from dataclasses import dataclass

import numpy as np

OVERFIT_EXAMPLES = 50  # a model that cannot memorise this many examples has a bug
GRADIENT_TOLERANCE = 1e-5   # relative error; ReLU and max kinks make 1e-7 too strict
INITIAL_LOSS_TOLERANCE = 0.1  # relative distance from ln(num_classes)


@dataclass
class Check:
    name: str
    value: str      # what was measured
    expected: str   # what a healthy set-up gives
    passed: bool


def report(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    lines = [f"{'check':<{width}}  {'result':<22} {'expected':<16} verdict"]
    lines += [f"{c.name:<{width}}  {c.value:<22} {c.expected:<16} "
              f"{'pass' if c.passed else 'FAIL'}" for c in checks]
    return "\n".join(lines)


def vector_rel_error(numerical: np.ndarray, analytic: np.ndarray) -> float:
    """|a - n| / (|a| + |n|) over the whole parameter (norms), where rel_error takes the worst
    element: a parameter's tiniest gradients, at the limit of float64 differences, would decide
    an element-wise verdict, while a wrong backward pass moves the whole vector."""
    scale = np.linalg.norm(numerical) + np.linalg.norm(analytic)
    return float(np.linalg.norm(numerical - analytic) / max(scale, 1e-12))
