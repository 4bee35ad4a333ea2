"""Unpickling dataset files without letting them run code.

mnist.pkl.gz and the CIFAR-10 batches are pickles, and a pickle can name any importable callable
(os.system, builtins.eval, ...) for the loader to call. These files come off the network, so the
unpickler below resolves only the handful of names that numpy arrays and plain containers need
and refuses everything else before it is imported, let alone called. Even numpy's own pickle
hooks are replaced by checked stand-ins that rebuild plain numeric arrays from raw bytes.
"""

import math
import pickle
import zlib
from typing import BinaryIO

import numpy as np

from striate.data.datafile import DataFile
from striate.errors import StriateError

PLAIN_KINDS = "biufc"  # bool, signed, unsigned, float, complex: bytes that are only numbers


def _encode_latin1(text: str, encoding: str = "latin1") -> bytes:
    """What Python 3 pickles (protocol < 3) store bytes as: _codecs.encode(text, "latin1").

    The real _codecs.encode would look up any codec by name; pickle always writes "latin1".
    """
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"bytes encoded as {encoding!r}, not latin-1")
    return text.encode("latin1")


def _raw_bytes(data: object) -> bytes:
    """An array's or scalar's pickled data; a Python 2 str arrives as latin-1 text."""
    if isinstance(data, str):
        return data.encode("latin1")
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    raise pickle.UnpicklingError(f"array data is a {type(data).__name__}, not raw bytes")


class _DtypeRecipe:
    """Stands in for numpy.dtype while unpickling.

    numpy's own dtype.__setstate__ takes fields, subarrays and flags from the file, so a forged
    dtype can declare an object field and turn file bytes into pointers (a crash at best). This
    stand-in accepts a plain numeric type and a byte order, nothing else.
    """

    def __init__(self, spec: object, align: object = False, copy: object = True):
        dtype = np.dtype(spec) if isinstance(spec, str) else None
        if dtype is None or dtype.kind not in PLAIN_KINDS:
            raise pickle.UnpicklingError(f"dtype {spec!r} is not a plain numeric type")
        self.dtype = dtype

    def __setstate__(self, state: object) -> None:
        # (version, byte order, subarray, names, fields, item size, alignment, flags[, ...]):
        # only the byte order is taken; a subarray, names or fields would need a tuple or dict.
        if not (isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "=")
                and all(item is None or isinstance(item, int) for item in state[2:])):
            raise pickle.UnpicklingError(f"dtype state {state!r} is not a plain numeric type's")
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


class _ArrayRecipe:
    """Stands in for the empty ndarray that numpy's _reconstruct makes and BUILD then fills;
    the array is made here from the raw bytes and a checked dtype."""

    array = None

    def __init__(self, *ignored: object):
        pass

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and len(state) in (4, 5)):
            raise pickle.UnpicklingError("not an ndarray state")
        # (version, shape, dtype, fortran, data); numpy before 1.0 wrote it without the version.
        *_, shape, dtype, fortran, data = state
        self.array = _array(data, dtype, shape, "F" if fortran else "C")


def _array(data: object, dtype: object, shape: object, order: object) -> np.ndarray:
    if not isinstance(dtype, _DtypeRecipe):
        raise pickle.UnpicklingError("array without a plain numeric dtype")
    if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise pickle.UnpicklingError(f"array shape {shape!r}")
    raw = _raw_bytes(data)
    if len(raw) != math.prod(shape) * dtype.dtype.itemsize:
        raise pickle.UnpicklingError(f"{len(raw)} bytes of data for a {dtype.dtype} array of "
                                     f"shape {shape}")
    # frombuffer over bytes is read-only; the copy makes the array an ordinary writable one.
    return np.frombuffer(raw, dtype.dtype).reshape(shape, order=order).copy(order="K")


def _reconstruct(cls: object, shape: object, typecode: object) -> _ArrayRecipe:
    """numpy's _reconstruct, protocols 0-4: the array itself arrives with the BUILD that follows."""
    return _ArrayRecipe()


def _frombuffer(data: object, dtype: object, shape: object, order: object) -> np.ndarray:
    """numpy's _frombuffer, protocol 5."""
    return _array(data, dtype, shape, "F" if order == "F" else "C")


def _scalar(dtype: object, data: object) -> np.generic:
    """numpy's scalar, for numpy scalars such as np.int64(3)."""
    return _array(data, dtype, (), "C")[()]


def _resolved(value: object, memo: dict | None = None) -> object:
    """`value` with every stand-in replaced by the real numpy object it stands for. An object
    the pickle refers to several times is resolved once and stays shared (memo, by id), so a
    small file of shared references (a list of two references to a list of two references...,
    40 deep) costs its size, not 2**40 copies."""
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, _ArrayRecipe):
        if value.array is None:
            raise pickle.UnpicklingError("array without data")
        result = value.array
    elif isinstance(value, _DtypeRecipe):
        result = value.dtype
    elif isinstance(value, (list, tuple, set, frozenset)):
        result = type(value)(_resolved(item, memo) for item in value)
    elif isinstance(value, dict):
        result = {_resolved(key, memo): _resolved(item, memo) for key, item in value.items()}
    else:
        return value
    memo[id(value)] = result
    return result


_NUMPY_FUNCTIONS = {("multiarray", "_reconstruct"): _reconstruct, ("multiarray", "scalar"): _scalar,
                    ("numeric", "_frombuffer"): _frombuffer}
_BUILTIN_TYPES = {t.__name__: t for t in (bytes, bytearray, dict, frozenset, list, set, tuple)}

# Every name a numpy-array pickle uses, each spelling (numpy 1 writes numpy.core, numpy 2
# numpy._core, Python 2 __builtin__) mapped to a checked stand-in or a plain container type.
ALLOWED = {
    **{(f"{package}.{module}", name): function for package in ("numpy.core", "numpy._core")
       for (module, name), function in _NUMPY_FUNCTIONS.items()},
    ("numpy", "ndarray"): _ArrayRecipe,
    ("numpy", "dtype"): _DtypeRecipe,
    ("_codecs", "encode"): _encode_latin1,
    **{(module, name): value for module in ("builtins", "__builtin__")
       for name, value in _BUILTIN_TYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only the names in ALLOWED; its result still holds stand-ins,
    which load_pickle resolves.

    encoding="latin1" reads Python 2 pickles: their str objects (numpy buffers, CIFAR's dict
    keys) map byte-for-byte onto latin-1 text, which _raw_bytes turns back into the bytes.
    """

    def __init__(self, file: BinaryIO, datafile: DataFile):
        super().__init__(file, encoding="latin1")
        self.datafile = datafile

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[module, name]
        except KeyError:
            raise StriateError(f"refusing to unpickle {module}.{name} from {self.datafile}: only "
                               f"numpy arrays are accepted, so this is not a genuine dataset "
                               f"file; {self.datafile.fix}") from None


def load_pickle(file: BinaryIO, datafile: DataFile) -> object:
    """Unpickle one object from `file` (read from `datafile`): numpy arrays of plain numbers and
    numpy scalars, inside any nesting of dicts, lists, tuples, sets, bytes and str.

    I/O and decompression errors pass through for reading() to report; anything else a damaged
    pickle makes the unpickler raise (UnpicklingError, ValueError, KeyError, TypeError, ...)
    means the same thing to the user, so it is reported as one kind of corruption.
    """
    try:
        return _resolved(_RestrictedUnpickler(file, datafile).load())
    except (StriateError, OSError, EOFError, zlib.error):
        raise
    except Exception as error:
        raise datafile.corrupt(f"not a valid pickle ({type(error).__name__}: {error})") from None
