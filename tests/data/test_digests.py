"""Data set files verified by the SHA-256 of their decompressed content, under any accepted name,
and the --data-dir the user names taken at its word."""

import gzip
import hashlib

import numpy as np
import pytest

from striate.data import digests, download, load_dataset
from striate.data.digests import file_forms
from striate.data.sources import SOURCES, TEST_IMAGES, TRAIN_IMAGES, TRAIN_LABELS
from striate.errors import StriateError

FORMS = {"official": lambda stem, idx: f"{stem}-{idx}.gz",
         "unpacked": lambda stem, idx: f"{stem}-{idx}",
         "dotted": lambda stem, idx: f"{stem}.{idx}.gz",
         "dotted-unpacked": lambda stem, idx: f"{stem}.{idx}"}


def renamed(name: str, form: str) -> str:
    stem, idx = name.removesuffix(".gz").rsplit("-idx", 1)
    return FORMS[form](stem, "idx" + idx)


def test_file_forms_of_an_idx_file_and_of_anything_else():
    assert file_forms("train-images-idx3-ubyte.gz") == (
        "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte", "train-images.idx3-ubyte.gz",
        "train-images.idx3-ubyte")
    assert file_forms("t10k-labels.idx1-ubyte") == (
        "t10k-labels.idx1-ubyte", "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte",
        "t10k-labels.idx1-ubyte.gz")
    assert file_forms("cifar-10-python.tar.gz") == ("cifar-10-python.tar.gz",)
    assert file_forms("mnist.pkl.gz") == ("mnist.pkl.gz",)


@pytest.mark.parametrize("form", FORMS)
def test_every_accepted_name_loads_the_same_digits(tmp_path, formats, accept, form):
    official = tmp_path / "official"
    arrays = formats.write_mnist_idx(official)
    accept("mnist", official)
    given = tmp_path / "given"
    given.mkdir()
    for name in SOURCES["mnist"].files:
        unpacked = form.endswith("unpacked")
        content = formats.content(official / name)
        (given / renamed(name, form)).write_bytes(content if unpacked else gzip.compress(content))
    dataset = load_dataset("mnist", given, download=False)
    assert dataset.source == str(given)
    np.testing.assert_array_equal(dataset.train.images[:, 0], arrays[TRAIN_IMAGES])
    np.testing.assert_array_equal(dataset.train.labels, arrays[TRAIN_LABELS])
    np.testing.assert_array_equal(dataset.test.images[:, 0], arrays[TEST_IMAGES])


def test_recompressed_file_is_accepted_by_its_content(tmp_path, formats, accept):
    formats.write_mnist_idx(tmp_path)
    accept("fashion-mnist", tmp_path)
    path = tmp_path / TRAIN_IMAGES
    before = path.read_bytes()
    path.write_bytes(gzip.compress(formats.content(path), compresslevel=1, mtime=12345))
    assert path.read_bytes() != before  # another archive: its MD5 is not the accepted one
    assert formats.md5(path) not in SOURCES["fashion-mnist"].files[TRAIN_IMAGES].archive_md5s
    assert load_dataset("fashion-mnist", tmp_path, download=False).train.images.shape == \
        (30, 1, 28, 28)


@pytest.mark.parametrize("form", ["unpacked", "dotted-unpacked", "dotted"])
def test_wrong_content_under_any_name_is_refused_in_one_line(tmp_path, formats, accept, form):
    formats.write_mnist_idx(tmp_path)
    accept("mnist", tmp_path)
    wrong = formats.idx_bytes(formats.mnist_arrays(seed=9)[TRAIN_IMAGES])
    (tmp_path / TRAIN_IMAGES).unlink()
    path = tmp_path / renamed(TRAIN_IMAGES, form)
    path.write_bytes(wrong if form.endswith("unpacked") else gzip.compress(wrong))
    expected = SOURCES["mnist"].files[TRAIN_IMAGES].content_sha256
    with pytest.raises(StriateError) as error:
        load_dataset("mnist", tmp_path, download=False)
    assert str(error.value) == (
        f"{path}: content SHA-256 {hashlib.sha256(wrong).hexdigest()}, expected {expected}, so "
        f"it is damaged or not the official file; delete {path} and run "
        "`striate download mnist`")


def test_each_file_is_decompressed_once_per_load(tmp_path, formats, accept, monkeypatch):
    formats.write_mnist_idx(tmp_path)
    accept("mnist", tmp_path)
    calls = []
    original = digests.decompressed
    monkeypatch.setattr(digests, "decompressed", lambda raw: calls.append(1) or original(raw))
    load_dataset("mnist", tmp_path, download=False)
    assert len(calls) == 4


def test_download_checks_every_present_file_by_content(tmp_path, formats, accept):
    formats.write_mnist_idx(tmp_path / "mnist")
    accept("mnist", tmp_path / "mnist")
    (tmp_path / "mnist" / TRAIN_LABELS).write_bytes(gzip.compress(b"\0\0\x08\x01\0\0\0\0"))
    with pytest.raises(StriateError, match=f"{TRAIN_LABELS}: content SHA-256 "):
        download.fetch_source(SOURCES["mnist"], tmp_path)


def test_a_mirror_serving_a_recompressed_copy_is_accepted(tmp_path, formats, accept, cache_dir):
    mirror = tmp_path / "mirror"
    arrays = formats.write_mnist_idx(mirror)
    accept("mnist", mirror, urls=(f"file://{mirror}/{{filename}}",))
    for name in SOURCES["mnist"].files:  # other gzip bytes, the same contents
        path = mirror / name
        path.write_bytes(gzip.compress(formats.content(path), compresslevel=1, mtime=1))
    dataset = load_dataset("mnist")
    assert dataset.source == str(cache_dir / "mnist")
    np.testing.assert_array_equal(dataset.train.images[:, 0], arrays[TRAIN_IMAGES])


def test_a_data_dir_that_is_a_file_is_refused(tmp_path, formats, accept, monkeypatch, cli):
    # A good copy elsewhere on the lookup path must not be used in its place.
    formats.write_mnist_idx(tmp_path / "system" / "fashion-mnist")
    accept("fashion-mnist", tmp_path / "system" / "fashion-mnist")
    monkeypatch.setattr(download, "SYSTEM_ROOTS", (tmp_path / "system",))
    notes = tmp_path / "notes.txt"
    notes.write_text("not data")
    message = (f"--data-dir {notes} is a file, not a folder; pass --data-dir DIR, the folder "
               "holding the fashion-mnist files (or DIR/fashion-mnist holding them)")
    with pytest.raises(StriateError) as error:
        load_dataset("fashion-mnist", notes)
    assert str(error.value) == message
    result = cli("train", "--dataset", "fashion-mnist", "--data-dir", notes, "--out-dir",
                 tmp_path / "runs", "--progress", "off")
    assert (result.code, result.out, result.err) == (2, "", f"striate: error: {message}\n")
    assert not (tmp_path / "runs").exists()


def test_a_data_dir_without_the_files_is_said_not_passed_over(tmp_path, formats, accept,
                                                              monkeypatch, cache_dir):
    formats.write_mnist_idx(cache_dir / "fashion-mnist")  # a good copy the user did not name
    accept("fashion-mnist", cache_dir / "fashion-mnist")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StriateError) as error:
        load_dataset("fashion-mnist", empty, download=False)
    assert str(error.value).startswith(
        f"fashion-mnist not found (searched {empty / 'fashion-mnist'}, {empty}); run `striate "
        f"download fashion-mnist`, or put {', '.join(SOURCES['fashion-mnist'].files)} from ")
    assert "\n" not in str(error.value)
    # With downloads on, it is downloaded into the named folder (here the mirror is dead).
    with pytest.raises(StriateError) as error:
        load_dataset("fashion-mnist", empty)
    assert str(error.value).startswith(f"could not download {TRAIN_IMAGES} (file://")
    assert str(error.value).endswith(f"yourself and put them in {empty / 'fashion-mnist'}")
    assert list((empty / "fashion-mnist").iterdir()) == []
