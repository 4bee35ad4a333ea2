"""Helpers shared by the test modules (conftest.py holds the fixtures)."""

import contextlib
import hashlib
from pathlib import Path


def tree_snapshot(root: Path) -> dict:
    """Every file under root with its content hash: to prove that nothing was touched."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def csv_column(run, column):
    rows = (run / "metrics.csv").read_text().splitlines()
    index = rows[0].split(",").index(column)
    return [float(row.split(",")[index]) for row in rows[1:]]


@contextlib.contextmanager
def interrupted_after_epochs(epochs: int):
    """Inside the block, training stops as on Ctrl-C right after its `epochs`-th checkpoint is
    saved (the train state, the epoch's last file)."""
    import striate.training.session as session

    real_save_state, saved = session.save_state, []

    def save_then_interrupt(path, state):
        real_save_state(path, state)
        saved.append(path)
        if len(saved) == epochs:
            raise KeyboardInterrupt

    session.save_state = save_then_interrupt
    try:
        yield
    finally:
        session.save_state = real_save_state
