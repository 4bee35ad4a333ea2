"""What `striate check` reports, whichever engine ran the checks: a pass/fail table.

Each engine provides run_checks(config, images, labels, num_classes) -> list[Check], given the
first OVERFIT_EXAMPLES preprocessed training examples.
"""

from dataclasses import dataclass

OVERFIT_EXAMPLES = 50  # a model that cannot memorise this many examples has a bug


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
