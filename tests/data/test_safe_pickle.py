import builtins
import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from striate.data.datafile import DataFile, reading
from striate.data.safe_pickle import load_pickle
from striate.errors import StriateError

SOURCE = DataFile(Path("/data/mnist.pkl.gz"), "mnist")


def unpickle(raw: bytes):
    with reading(SOURCE):  # as every loader calls it
        return load_pickle(io.BytesIO(raw), SOURCE)


class Opener:
    def __reduce__(self):
        return builtins.open, ("/etc/passwd",)


def test_python2_pickle_of_arrays_and_containers(formats):
    images = np.arange(24, dtype=np.float32).reshape(2, 12) / 7
    labels = np.array([7, -3], np.int64)
    value = unpickle(formats.py2_dumps({b"x": (images, labels), b"names": [b"a", b"b"]}))
    # Python 2 str becomes latin-1 text; numpy turns its own buffers back into bytes.
    assert sorted(value) == ["names", "x"] and value["names"] == ["a", "b"]
    np.testing.assert_array_equal(value["x"][0], images)
    np.testing.assert_array_equal(value["x"][1], labels)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_pickles_of_arrays_bytes_and_sets(protocol):
    value = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), "scalar": np.int64(5),
             "set": {1, 2}, "blob": bytearray(b"\x00\xff"), "empty": b""}
    loaded = unpickle(pickle.dumps(value, protocol=protocol))
    np.testing.assert_array_equal(loaded[b"data"], value[b"data"])
    assert loaded["scalar"] == 5 and loaded["set"] == {1, 2}
    assert loaded["blob"] == bytearray(b"\x00\xff") and loaded["empty"] == b""


@pytest.mark.parametrize("hostile, name", [
    (Opener(), "io.open"),  # builtins.open is io.open
    (eval, "__builtin__.eval"),
    (getattr, "__builtin__.getattr"),
])
def test_functions_are_refused(hostile, name):
    raw = pickle.dumps(hostile, protocol=2)
    with pytest.raises(StriateError, match=rf"refusing to unpickle {name} from "
                                           r"/data/mnist\.pkl\.gz: only numpy arrays"):
        unpickle(raw)


def test_os_system_is_refused_and_never_runs(tmp_path, formats):
    control, target = tmp_path / "control", tmp_path / "pwned"
    pickle.loads(pickle.dumps(formats.Malicious(control), protocol=2))
    assert control.exists()  # the payload is live: plain pickle runs it
    with pytest.raises(StriateError, match=r"refusing to unpickle posix\.system"):
        unpickle(pickle.dumps(formats.Malicious(target), protocol=2))
    assert not target.exists()


@pytest.mark.parametrize("array", [
    np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4)),
    np.arange(5, dtype=">f8"),
    np.array([[True, False]]),
    np.zeros((0, 3), np.uint8),
])
@pytest.mark.parametrize("protocol", [2, 5])
def test_layouts_and_byte_orders_survive(array, protocol):
    loaded = unpickle(pickle.dumps(array, protocol=protocol))
    assert type(loaded) is np.ndarray and loaded.dtype == array.dtype
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable


@pytest.mark.parametrize("array, problem", [
    (np.array([1, None], dtype=object), "dtype 'O8' is not a plain numeric type"),
    (np.zeros(2, dtype=[("a", "u1"), ("b", "f4")]), "dtype 'V5' is not a plain numeric type"),
])
def test_object_and_structured_arrays_are_refused(array, problem):
    with pytest.raises(StriateError, match=f"not a valid pickle .*{problem}"):
        unpickle(pickle.dumps(array, protocol=2))


class ForgedArray:
    """A uint64 array whose pickled dtype state adds an object field: with numpy's own
    dtype.__setstate__, the array's bytes would be used as object pointers (a segfault)."""

    def __init__(self, dtype_state):
        self.dtype_state = dtype_state

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct
        dtype = Reduced(np.dtype, ("u8", False, True), self.dtype_state)
        return _reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), dtype, False, b"A" * 8)


class Reduced:
    def __init__(self, *reduction):
        self.reduction = reduction

    def __reduce__(self):
        return self.reduction


@pytest.mark.parametrize("dtype_state, problem", [
    ((3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 8, 1, 0), "dtype 'O8' is not a plain"),
    ((3, "|", None, ("a",), {"a": ("x", 0)}, 8, 1, 0), r"dtype state \(3, '\|', None, \('a',\)"),
])
def test_forged_dtype_state_is_refused(dtype_state, problem):
    with pytest.raises(StriateError, match=f"not a valid pickle .*{problem}"):
        unpickle(pickle.dumps(ForgedArray(dtype_state), protocol=2))


def test_codecs_encode_only_rebuilds_latin1_bytes():
    raw = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00hiX\x09\x00\x00\x00rot13_xyz\x86R."
    with pytest.raises(StriateError, match="not a valid pickle"):
        unpickle(raw)


@pytest.mark.parametrize("raw", [b"\x80\x02}q\x00(X", b"garbage that is no pickle", b""])
def test_damaged_pickle_is_reported_as_corrupt(raw):
    with pytest.raises(StriateError) as error:
        unpickle(raw)
    assert str(error.value).startswith("/data/mnist.pkl.gz: ")
    assert str(error.value).endswith("; delete /data/mnist.pkl.gz and run `striate download mnist`")


def test_shared_references_are_resolved_once():
    """A few KB of shared references (each list two references to the list below it, 40 deep,
    an array at the bottom) would be 2**40 copies as a tree: they are resolved once each and
    stay shared, in the file's own size of work."""
    node = [np.arange(3, dtype=np.uint8)]
    for _ in range(40):
        node = [node, node]
    raw = pickle.dumps({b"data": node}, protocol=2)
    assert len(raw) < 8000
    loaded = unpickle(raw)[b"data"]
    assert loaded[0] is loaded[1]
    for _ in range(40):
        loaded = loaded[0]
    np.testing.assert_array_equal(loaded[0], [0, 1, 2])
