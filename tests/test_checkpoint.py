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
from striate.checkpoint import (PREPROCESS_FILE, check_metadata, load_weights, read_checkpoint, save_preprocess,
                                save_weights)
from striate.errors import StriateError
from striate.files import atomic_write_bytes

GOOD = {"model": "logreg", "model_args": {}, "input_shape": [1, 2, 2], "class_names": ["a", "b"],
        "pixel_max": 255, "preprocess": {"kind": "none", "input_shape": [1, 2, 2], "eps": 0.0,
                                         "components": None}, "config": {}}


WEIGHTS = {"output.weight": np.arange(8, dtype=np.float32).reshape(2, 4),
           "output.bias": np.zeros(2, np.float32)}
MEAN = {"mean": np.full(1, 0.5, np.float32)}


def write(path, meta):
    saved = save_preprocess(path.parent / PREPROCESS_FILE, MEAN, {"kind": "scalar-mean"})
    save_weights(path, WEIGHTS, meta, saved)
    return path


def test_round_trip(tmp_path):
    tensors, meta = load_weights(write(tmp_path / "m.safetensors", GOOD))
    assert meta["format"] == 3 and meta["class_names"] == ["a", "b"]
    assert tensors["output.weight"].shape == (2, 4)
    assert read_checkpoint(tmp_path / "m.safetensors", preprocessing=True)[0]["mean"] == 0.5


def test_a_snapshot_finds_the_preprocessing_of_its_run(tmp_path):
    (tmp_path / "epochs").mkdir()
    saved = save_preprocess(tmp_path / PREPROCESS_FILE, MEAN, {})
    save_weights(tmp_path / "epochs" / "e.safetensors", WEIGHTS, GOOD, saved)
    tensors, meta = read_checkpoint(tmp_path / "epochs" / "e.safetensors", preprocessing=True)
    assert meta["preprocess_file"] == "../preprocess.safetensors" and tensors["mean"] == 0.5


def test_plain_torch_loads_the_weights_strictly(tmp_path):
    """The weights file holds the state dict and nothing else (docs/export.md's three lines)."""
    import torch
    from safetensors.torch import load_file

    model = torch.nn.Sequential()
    model.add_module("output", torch.nn.Linear(4, 2))
    model.load_state_dict(load_file(write(tmp_path / "m.safetensors", GOOD)))  # strict
    assert torch.equal(model.output.weight, torch.from_numpy(WEIGHTS["output.weight"]))


def test_a_missing_preprocessing_file_is_named(tmp_path):
    path = write(tmp_path / "m.safetensors", GOOD)
    (tmp_path / PREPROCESS_FILE).unlink()
    with pytest.raises(StriateError, match="needs its preprocessing file .* which is missing"):
        read_checkpoint(path, preprocessing=True)


def edit_header(path: Path, old: bytes, new: bytes) -> None:
    """Replace bytes inside the JSON header of a safetensors file, keeping its length."""
    assert len(old) == len(new)
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    assert raw[8:8 + size].count(old) == 1
    path.write_bytes(raw[:8] + raw[8:8 + size].replace(old, new) + raw[8 + size:])


@pytest.mark.parametrize("old, new", [(b'[\\"a\\", \\"b\\"]', b'[\\"b\\", \\"a\\"]'),
                                      (b'\\"eps\\": 0.0', b'\\"eps\\": 1.0')])
def test_an_edited_metadata_byte_is_refused(tmp_path, old, new):
    """Class names and preprocessing live in the metadata: a changed byte there would change
    predictions, so the metadata has a digest of its own."""
    path = write(tmp_path / "m.safetensors", GOOD)
    edit_header(path, old, new)
    with pytest.raises(StriateError, match="its metadata do not match the SHA-256 digest"):
        load_weights(path)


def test_format_2_files_still_load(tmp_path):
    """Format 2 kept the preprocessing inside the weights file, prefixed, and had no metadata
    digest."""
    from safetensors.numpy import save_file

    path = tmp_path / "v2.safetensors"
    save_file({**WEIGHTS, "preprocess.mean": MEAN["mean"]}, str(path),
              metadata={"striate": json.dumps({**GOOD, "format": 2})})
    assert set(load_weights(path)[0]) == set(WEIGHTS)
    assert set(read_checkpoint(path, preprocessing=True)[0]) == {"mean"}


def test_deeply_nested_metadata_is_refused(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "deep.safetensors"
    save_file(WEIGHTS, str(path), metadata={"striate": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(StriateError, match="nested too deeply"):
        load_weights(path)


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


@pytest.mark.parametrize("beside", ["/etc/passwd", "../../x.safetensors", 3, None])
def test_a_preprocessing_file_elsewhere_is_refused(beside):
    meta = {**GOOD, "format": 3, "preprocess_file": beside}
    with pytest.raises(StriateError, match="does not name a preprocess.safetensors"):
        check_metadata(meta, "m.safetensors")


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


def test_a_bfloat16_tensor_is_refused_in_one_line(tmp_path):
    """With ml_dtypes installed (onnx brings it), safetensors reads BF16 tensors as NumPy
    arrays neither engine computes with."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    ml_dtypes = pytest.importorskip("ml_dtypes")
    path = write(tmp_path / "m.safetensors", GOOD)
    with safe_open(str(path), "np") as handle:
        header = handle.metadata()
    weights = {**WEIGHTS, "output.bias": WEIGHTS["output.bias"].astype(ml_dtypes.bfloat16)}
    save_file(weights, str(path), metadata=header)
    with pytest.raises(StriateError, match="data type 'bfloat16' not understood"):
        load_weights(path)
