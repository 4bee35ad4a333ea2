import gzip

import numpy as np
import pytest

from striate.data.datafile import DataFile
from striate.data.idx import read_idx_images, read_idx_labels
from striate.errors import StriateError


def datafile(path):
    return DataFile(path, "mnist")


def test_images_round_trip_from_gzip(tmp_path, formats):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 27), dtype=np.uint8)
    path = formats.write_gz(tmp_path / "i.gz", formats.idx_bytes(images))
    loaded = read_idx_images(datafile(path))
    assert loaded.shape == (5, 1, 28, 27) and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded[:, 0], images)
    assert loaded.flags.writeable


def test_labels_round_trip_from_raw_file(tmp_path, formats):
    labels = np.array([3, 1, 4, 1, 5, 9], np.uint8)
    path = tmp_path / "labels-idx1-ubyte"  # unpacked, no .gz
    path.write_bytes(formats.idx_bytes(labels))
    np.testing.assert_array_equal(read_idx_labels(datafile(path)), labels)


def test_wrong_magic_names_file_magic_and_fix(tmp_path, formats):
    # A label file (0x801) where an image file (0x803) belongs.
    path = formats.write_gz(tmp_path / "train-images-idx3-ubyte.gz",
                            formats.idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(StriateError) as error:
        read_idx_images(datafile(path))
    message = str(error.value)
    assert str(path) in message and "0x00000801" in message and "0x00000803" in message
    assert "striate download mnist" in message and "\n" not in message


def test_wrong_dimension_count(tmp_path, formats):
    # A 2-dimensional image file: right element type, wrong dimension count.
    path = formats.write_gz(tmp_path / "i.gz", formats.idx_bytes(np.zeros((3, 784), np.uint8)))
    with pytest.raises(StriateError, match="2 dimensions instead of 3"):
        read_idx_images(datafile(path))


def test_non_idx_file(tmp_path):
    path = tmp_path / "i.gz"
    path.write_bytes(gzip.compress(b"<html>Not Found</html> and then some"))
    with pytest.raises(StriateError, match="not an IDX file of unsigned bytes"):
        read_idx_images(datafile(path))


def test_data_shorter_than_header_says(tmp_path, formats):
    content = formats.idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-1]
    path = formats.write_gz(tmp_path / "i.gz", content)
    with pytest.raises(StriateError, match=r"3151 bytes but its header \(4, 28, 28\) says 3152"):
        read_idx_images(datafile(path))


def test_trailing_bytes_are_an_error(tmp_path, formats):
    path = formats.write_gz(tmp_path / "l.gz", formats.idx_bytes(np.zeros(4, np.uint8)) + b"\0")
    with pytest.raises(StriateError, match="header"):
        read_idx_labels(datafile(path))


def test_file_shorter_than_header(tmp_path, formats):
    path = formats.write_gz(tmp_path / "l.gz", b"\x00\x00\x08\x01\x00\x00")
    with pytest.raises(StriateError, match="shorter than the 8-byte IDX label header"):
        read_idx_labels(datafile(path))


@pytest.mark.parametrize("damage", ["truncate", "garble"])
def test_damaged_gzip_names_file_and_says_redownload(tmp_path, formats, damage):
    path = formats.write_gz(tmp_path / "i.gz", formats.idx_bytes(
        np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)))
    raw = path.read_bytes()
    path.write_bytes(raw[:len(raw) // 2] if damage == "truncate"
                     else raw[:20] + bytes(b ^ 0xFF for b in raw[20:60]) + raw[60:])
    with pytest.raises(StriateError) as error:
        read_idx_images(datafile(path))
    assert "truncated or corrupt" in str(error.value)
    assert f"delete {path} and run `striate download mnist`" in str(error.value)


def test_missing_file_is_a_striate_error(tmp_path):
    with pytest.raises(StriateError, match="cannot read"):
        read_idx_labels(datafile(tmp_path / "absent.gz"))
