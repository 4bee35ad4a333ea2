"""The checkpoint format refuses what it did not write, and writes never half-happen."""

import errno
import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest

from helpers import tree_snapshot
from striate.checkpoint import load_weights, save_weights
from striate.errors import StriateError
from striate.files import atomic_write_bytes

GOOD = {"model": "logreg", "model_args": {}, "input_shape": [1, 2, 2], "class_names": ["a", "b"],
        "pixel_max": 255, "preprocess": {"kind": "none", "input_shape": [1, 2, 2], "eps": 0.0,
                                         "components": None}, "config": {}}


def write(path, meta):
    save_weights(path, {"output.weight": np.zeros((2, 4), np.float32),
                        "output.bias": np.zeros(2, np.float32)}, meta)
    return path


def test_round_trip(tmp_path):
    tensors, meta = load_weights(write(tmp_path / "m.safetensors", GOOD))
    assert meta["format"] == 2 and meta["class_names"] == ["a", "b"]
    assert tensors["output.weight"].shape == (2, 4)


@pytest.mark.parametrize("change", [
    {"class_names": 7}, {"class_names": []}, {"model": None}, {"model_args": [1]},
    {"input_shape": [1, 2]}, {"input_shape": [1, 0, 2]}, {"config": "x"},
    {"preprocess": None}, {"preprocess": {"components": -3}}, {"format": 99},
])
def test_forged_metadata_is_refused(tmp_path, change):
    meta = {**GOOD, **change}
    path = write(tmp_path / "m.safetensors", meta)
    with pytest.raises(StriateError, match="striate checkpoint|checkpoint format"):
        load_weights(path)


def test_metadata_that_is_not_a_mapping_is_refused(tmp_path):
    from safetensors.numpy import save_file
    path = tmp_path / "m.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"striate": json.dumps([1, 2])})
    with pytest.raises(StriateError, match="not a mapping"):
        load_weights(path)


def test_a_full_disk_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("previous")

    def no_space(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", no_space)
    with pytest.raises(StriateError, match="No space left on device.*intact"):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left


def a_file_in_the_way(tmp_path, monkeypatch):
    """A file where the directory should be: the kernel refuses with ENOTDIR."""
    (tmp_path / "runs").write_text("a file, not a directory")
    return tmp_path / "runs", "Not a directory"


def a_read_only_file_system(tmp_path, monkeypatch):
    """EROFS, what a read-only mount gives, when the temporary file is created."""
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    return tmp_path, "Read-only file system"


@pytest.mark.parametrize("block", [a_file_in_the_way, a_read_only_file_system])
def test_a_directory_that_takes_no_file_is_a_clear_error(tmp_path, monkeypatch, block):
    """Read-only permissions cannot stop root (CI runs as root): these blocks stop any user."""
    directory, reason = block(tmp_path, monkeypatch)
    before = tree_snapshot(tmp_path)
    with pytest.raises(StriateError) as error:
        atomic_write_bytes(directory / "x", b"1")
    monkeypatch.undo()
    assert str(error.value) == f"cannot write in {directory}: {reason}; choose a writable directory"
    assert tree_snapshot(tmp_path) == before


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "shared.txt", b"1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o644
