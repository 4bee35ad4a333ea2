"""Helpers shared by the test modules (conftest.py holds the fixtures)."""

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
