"""Helpers shared by the test modules (conftest.py holds the fixtures)."""

import hashlib
from pathlib import Path


def tree_snapshot(root: Path) -> dict:
    """Every file under root with its content hash: to prove that nothing was touched."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}

