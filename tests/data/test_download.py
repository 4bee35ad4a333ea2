import hashlib

import numpy as np
import pytest

from striate.data import download, load_dataset
from striate.data.download import download_dir, fetch_source, find_files, lookup_dirs
from striate.data.sources import SOURCES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS
from striate.errors import StriateError


def mirror_url(directory):
    return f"file://{directory}/{{filename}}"


def leftovers(directory):
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


def test_lookup_order(tmp_path, monkeypatch, cache_dir):
    data_dir, env = tmp_path / "given", tmp_path / "env"
    system = tmp_path / "system"
    monkeypatch.setenv("STRIATE_DATA", str(env))
    monkeypatch.setattr(download, "SYSTEM_ROOTS", (system,))
    assert lookup_dirs("mnist") == [env / "mnist", cache_dir / "mnist", system / "mnist"]
    # A folder the user names is the only place looked in: nothing else stands in for it.
    assert lookup_dirs("mnist", data_dir) == [data_dir / "mnist", data_dir]


def test_first_directory_holding_every_file_wins(tmp_path, monkeypatch, cache_dir):
    data_dir, env = tmp_path / "given", tmp_path / "env"
    monkeypatch.setenv("STRIATE_DATA", str(env))
    for directory in [data_dir / "set", data_dir, env / "set", cache_dir / "set"]:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "a").write_text("a")
        (directory / "b").write_text("b")
    (data_dir / "set" / "b").unlink()  # incomplete: skipped, not half-used
    assert find_files("set", ["a", "b"], data_dir) == data_dir
    (data_dir / "a").unlink()
    assert find_files("set", ["a", "b"], data_dir) is None  # never env's or the cache's copy
    assert find_files("set", ["a", "b"]) == env / "set"
    (env / "set" / "a").unlink()
    assert find_files("set", ["a", "b"]) == cache_dir / "set"
    (cache_dir / "set" / "a").unlink()
    assert find_files("set", ["a", "b"]) is None


def test_data_dir_beats_striate_data_beats_cache(tmp_path, monkeypatch, cache_dir, formats,
                                                 accept):
    data_dir, env = tmp_path / "given", tmp_path / "env"
    monkeypatch.setenv("STRIATE_DATA", str(env))
    # Three copies that differ only in their first test label, so we can tell which was read.
    for first_label, directory in enumerate([data_dir / "fashion-mnist", env / "fashion-mnist",
                                             cache_dir / "fashion-mnist"]):
        arrays = formats.mnist_arrays()
        arrays[TEST_LABELS][0] = first_label
        formats.write_mnist_idx(directory, arrays)
    for first_label, (given, directory) in enumerate([(data_dir, data_dir), (None, env),
                                                       (None, cache_dir)]):
        accept("fashion-mnist", directory / "fashion-mnist")
        assert load_dataset("fashion-mnist", given, download=False).test.labels[0] == first_label
        for path in (directory / "fashion-mnist").iterdir():
            path.unlink()


def test_download_destination(tmp_path, monkeypatch, cache_dir):
    assert download_dir("cifar10") == cache_dir / "cifar10"
    monkeypatch.setenv("STRIATE_DATA", str(tmp_path / "env"))
    assert download_dir("cifar10") == tmp_path / "env" / "cifar10"
    assert download_dir("cifar10", tmp_path / "given") == tmp_path / "given" / "cifar10"


def test_download_from_mirror_checks_md5_and_leaves_no_temporary_files(tmp_path, cache_dir,
                                                                       formats, accept, capsys):
    mirror = tmp_path / "mirror"
    arrays = formats.write_mnist_idx(mirror)
    accept("fashion-mnist", mirror, urls=(mirror_url(mirror),))
    dataset = load_dataset("fashion-mnist")
    destination = cache_dir / "fashion-mnist"
    assert dataset.source == str(destination)
    np.testing.assert_array_equal(dataset.train.images[:, 0], arrays[TRAIN_IMAGES])
    assert sorted(path.name for path in destination.iterdir()) == \
        sorted(SOURCES["fashion-mnist"].files)
    for name in SOURCES["fashion-mnist"].files:
        assert (destination / name).read_bytes() == (mirror / name).read_bytes()
    assert f"downloading file://{mirror}/{TRAIN_IMAGES}" in capsys.readouterr().err


def test_md5_mismatch_on_first_mirror_falls_back_to_second(tmp_path, cache_dir, formats, accept):
    bad, good = tmp_path / "bad", tmp_path / "good"
    formats.write_mnist_idx(bad, formats.mnist_arrays(seed=1))
    arrays = formats.write_mnist_idx(good, formats.mnist_arrays(seed=2))
    accept("mnist", good, urls=(mirror_url(bad), mirror_url(good)))
    dataset = load_dataset("mnist")
    np.testing.assert_array_equal(dataset.train.images[:, 0], arrays[TRAIN_IMAGES])
    assert leftovers(cache_dir / "mnist") == []


def test_all_mirrors_failing_names_files_directory_and_urls(tmp_path, cache_dir, formats,
                                                             accept):
    bad = tmp_path / "bad"
    formats.write_mnist_idx(bad)
    accept("fashion-mnist", bad, urls=(mirror_url(tmp_path / "empty"), mirror_url(bad)))
    (bad / TRAIN_IMAGES).write_bytes(b"tampered")  # the mirror now serves a wrong checksum
    sha256 = SOURCES["fashion-mnist"].files[TRAIN_IMAGES].content_sha256
    with pytest.raises(StriateError) as error:
        fetch_source(SOURCES["fashion-mnist"], None)
    message = str(error.value)
    destination = cache_dir / "fashion-mnist"
    assert f"could not download {TRAIN_IMAGES}" in message
    assert f"file://{tmp_path}/empty/{TRAIN_IMAGES}" in message
    assert (f"file://{bad}/{TRAIN_IMAGES}: got content SHA-256 "
            f"{hashlib.sha256(b'tampered').hexdigest()}, expected {sha256})") in message
    assert all(name in message for name in SOURCES["fashion-mnist"].files)
    assert message.endswith(f"yourself and put them in {destination}")
    assert "\n" not in message
    assert list(destination.iterdir()) == []  # nothing half-written or unverified


def test_only_missing_files_are_downloaded(tmp_path, cache_dir, formats, accept):
    mirror = tmp_path / "mirror"
    formats.write_mnist_idx(mirror)
    accept("mnist", mirror, urls=(mirror_url(mirror),))
    destination = cache_dir / "mnist"
    destination.mkdir(parents=True)
    (destination / TRAIN_LABELS).write_bytes((mirror / TRAIN_LABELS).read_bytes())
    (mirror / TRAIN_LABELS).unlink()  # downloading it again would now fail
    assert fetch_source(SOURCES["mnist"], None) == destination
    assert sorted(path.name for path in destination.iterdir()) == sorted(SOURCES["mnist"].files)


def test_local_file_with_wrong_content_is_refused(tmp_path, formats, accept):
    data_dir = tmp_path / "given"
    formats.write_mnist_idx(data_dir)
    accept("mnist", data_dir)
    formats.write_mnist_idx(data_dir, formats.mnist_arrays(seed=9))  # same names, other bytes
    actual = hashlib.sha256(formats.content(data_dir / TRAIN_IMAGES)).hexdigest()
    expected = SOURCES["mnist"].files[TRAIN_IMAGES].content_sha256
    with pytest.raises(StriateError) as error:
        load_dataset("mnist", data_dir)
    assert str(error.value) == (
        f"{data_dir / TRAIN_IMAGES}: content SHA-256 {actual}, expected {expected}, so it is "
        f"damaged or not the official file; delete {data_dir / TRAIN_IMAGES} and run "
        "`striate download mnist`")


def test_cifar_archive_with_wrong_md5_is_refused(tmp_path, formats, accept):
    data_dir = tmp_path / "given"
    archive = formats.write_cifar_archive(data_dir / "cifar10" / "cifar-10-python.tar.gz",
                                          formats.cifar_batches())
    expected = next(iter(SOURCES["cifar10"].files[archive.name].archive_md5s))
    with pytest.raises(StriateError) as error:
        load_dataset("cifar10", data_dir, download=False)
    assert str(error.value) == (
        f"{archive}: MD5 {formats.md5(archive)}, expected {expected}, so it is damaged or not "
        f"the official file; delete {archive} and run `striate download cifar10`")


def test_missing_data_without_download_says_where_it_looked_and_what_to_do(tmp_path, cache_dir):
    with pytest.raises(StriateError) as error:
        load_dataset("fashion-mnist", tmp_path / "given", download=False)
    message = str(error.value)
    given = tmp_path / "given"
    assert message.startswith(f"fashion-mnist not found (searched {given / 'fashion-mnist'}, ")
    assert "run `striate download fashion-mnist`" in message
    assert f"{TRAIN_IMAGES}, {TRAIN_LABELS}" in message
    assert f"in {tmp_path / 'given' / 'fashion-mnist'}" in message
    # The system copy apt-get installs would not be looked at with a --data-dir named.
    assert "apt-get" not in message
    assert not (tmp_path / "given").exists() and not cache_dir.exists()
    with pytest.raises(StriateError) as error:
        load_dataset("fashion-mnist", download=False)
    assert str(error.value).endswith(", or `apt-get install dataset-fashion-mnist`")
