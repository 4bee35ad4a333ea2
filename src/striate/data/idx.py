"""The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

A file is a 4-byte big-endian magic (0x00, 0x00, element type 0x08 = unsigned byte, number of
dimensions), one big-endian uint32 per dimension, then the elements in C order.
"""

import struct

import numpy as np

from striate.data.datafile import DataFile
from striate.data.digests import Digests, verified_content

UNSIGNED_BYTE = 0x08
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension: (N,)
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions: (N, H, W)


def read_idx_images(datafile: DataFile, digests: Digests | None = None) -> np.ndarray:
    """The images of an IDX image file (gzipped or not) as (N, 1, H, W) uint8, its content
    verified against `digests` when given."""
    images = _read_idx(datafile, digests, IMAGES_MAGIC, "image")  # (N, H, W) uint8
    return images[:, np.newaxis]                                   # (N, 1, H, W) uint8


def read_idx_labels(datafile: DataFile, digests: Digests | None = None) -> np.ndarray:
    """The labels of an IDX label file (gzipped or not) as (N,) uint8, verified likewise."""
    return _read_idx(datafile, digests, LABELS_MAGIC, "label")


def _read_idx(datafile: DataFile, digests: Digests | None, expected_magic: int,
              kind: str) -> np.ndarray:
    content = verified_content(datafile, digests)
    if len(content) < 4:
        raise datafile.corrupt(f"only {len(content)} bytes, too short for an IDX {kind} file")
    (magic,) = struct.unpack(">I", content[:4])
    if magic != expected_magic:
        raise datafile.corrupt(_magic_problem(magic, expected_magic, kind))
    ndim = expected_magic & 0xFF
    header_size = 4 + 4 * ndim  # the magic, then one uint32 per dimension
    if len(content) < header_size:
        raise datafile.corrupt(f"only {len(content)} bytes, shorter than the {header_size}-byte "
                               f"IDX {kind} header")
    shape = struct.unpack(f">{ndim}I", content[4:header_size])
    expected_size = header_size + int(np.prod(shape))
    if len(content) != expected_size:
        raise datafile.corrupt(f"{len(content)} bytes but its header {tuple(shape)} says "
                               f"{expected_size}")
    # frombuffer over bytes is read-only; the copy makes the array an ordinary writable one.
    return np.frombuffer(content, np.uint8, offset=header_size).reshape(shape).copy()


def _magic_problem(magic: int, expected_magic: int, kind: str) -> str:
    wrong = f"wrong IDX magic 0x{magic:08x} (expected 0x{expected_magic:08x})"
    if magic >> 8 != UNSIGNED_BYTE:
        return f"{wrong}; it is not an IDX file of unsigned bytes"
    return (f"{wrong}: {magic & 0xFF} dimensions instead of {expected_magic & 0xFF}, so it is "
            f"not an IDX {kind} file")
