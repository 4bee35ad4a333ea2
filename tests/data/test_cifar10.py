import pickle
import tarfile

import numpy as np
import pytest

from striate.data import fetch_dataset, load_dataset
from striate.data.sources import CIFAR10_ARCHIVE
from striate.errors import StriateError

TRAIN_BATCHES = [f"data_batch_{n}" for n in range(1, 6)]
STANDARD_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                  "truck"]


@pytest.fixture
def archive(tmp_path, formats, accept):
    """write(batches, **options) -> data dir holding cifar10/cifar-10-python.tar.gz, accepted."""
    def write(batches, **options):
        formats.write_cifar_archive(tmp_path / "cifar10" / CIFAR10_ARCHIVE, batches, **options)
        accept("cifar10", tmp_path / "cifar10")
        return tmp_path
    return write


def expected_train(formats, batches):
    images = np.concatenate([formats.cifar_images(batches[name]) for name in TRAIN_BATCHES])
    labels = np.concatenate([batches[name][b"labels"] for name in TRAIN_BATCHES])
    return images, labels


@pytest.mark.parametrize("py2", [False, True], ids=["python3-pickles", "python2-pickles"])
def test_archive_round_trip(formats, archive, py2):
    batches = formats.cifar_batches()
    data_dir = archive(batches, py2=py2)
    dataset = load_dataset("cifar10", data_dir, download=False)
    images, labels = expected_train(formats, batches)
    assert dataset.train.images.shape == (100, 3, 32, 32) and dataset.train.images.dtype == np.uint8
    np.testing.assert_array_equal(dataset.train.images, images)
    np.testing.assert_array_equal(dataset.train.labels, labels)
    np.testing.assert_array_equal(dataset.test.images, formats.cifar_images(batches["test_batch"]))
    np.testing.assert_array_equal(dataset.test.labels, batches["test_batch"][b"labels"])
    assert dataset.train.labels.dtype == np.int64
    assert dataset.class_names == STANDARD_NAMES and dataset.pixel_max == 255
    assert dataset.default_valid_size == 1000 and dataset.valid is None
    assert dataset.source == str(data_dir / "cifar10" / CIFAR10_ARCHIVE)


def test_channel_planes_become_channels(formats, archive):
    # A CIFAR row is 1024 red values, then 1024 green, then 1024 blue.
    batches = formats.cifar_batches(per_batch=1)
    batches["test_batch"][b"data"] = np.repeat(np.array([10, 20, 30], np.uint8), 1024)[None]
    dataset = load_dataset("cifar10", archive(batches))
    assert [int(dataset.test.images[0, c, 31, 0]) for c in range(3)] == [10, 20, 30]


def test_extracted_directory(tmp_path, formats, accept):
    batches = formats.cifar_batches()
    extracted = formats.write_cifar_extracted(tmp_path, batches)
    accept("cifar10-batches", tmp_path)
    dataset = load_dataset("cifar10", tmp_path, download=False)
    np.testing.assert_array_equal(dataset.train.images, expected_train(formats, batches)[0])
    assert dataset.source == str(extracted)
    assert fetch_dataset("cifar10", tmp_path) == tmp_path


@pytest.mark.parametrize("name", ["data_batch_3", "test_batch", "batches.meta"])
def test_an_extracted_batch_unlike_the_archives_is_refused_unread(tmp_path, formats, accept,
                                                                   name):
    """Each file is checked against the MD5 of its batch in the official archive before it is
    unpickled: here one byte of a label, or of a class name, changed after extraction."""
    batches = formats.cifar_batches()
    extracted = formats.write_cifar_extracted(tmp_path, batches)
    accept("cifar10-batches", tmp_path)
    if name == "batches.meta":
        batches[name][b"label_names"] = [b"cat", *batches[name][b"label_names"][1:]]
    else:
        batches[name][b"labels"][0] = (batches[name][b"labels"][0] + 1) % 10
    (extracted / name).write_bytes(pickle.dumps(batches[name], protocol=2))
    with pytest.raises(StriateError, match=rf"{name}: MD5 [0-9a-f]{{32}}, expected "
                                           r"[0-9a-f]{32}, so it is damaged or not the official"):
        load_dataset("cifar10", tmp_path, download=False)


def test_the_official_batch_digests_are_those_of_the_archive():
    """torchvision, the cs231n loaders and the data set's page list the same MD5s."""
    from striate.data.sources import SOURCES

    files = SOURCES["cifar10-batches"].files
    assert {name: next(iter(digests.archive_md5s)) for name, digests in files.items()} == {
        "cifar-10-batches-py/data_batch_1": "c99cafc152244af753f735de768cd75f",
        "cifar-10-batches-py/data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "cifar-10-batches-py/test_batch": "40351d587109b95175f43aff81a1287e",
        "cifar-10-batches-py/batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        "cifar-10-batches-py/data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "cifar-10-batches-py/data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "cifar-10-batches-py/data_batch_4": "634d18415352ddfa80567beed471001a"}


def test_label_names_come_from_batches_meta(formats, archive):
    batches = formats.cifar_batches()
    batches["batches.meta"] = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    assert load_dataset("cifar10", archive(batches)).class_names == [f"c{i}" for i in range(10)]


def test_missing_meta_falls_back_to_the_standard_names(formats, archive):
    batches = formats.cifar_batches()
    del batches["batches.meta"]
    assert load_dataset("cifar10", archive(batches)).class_names == STANDARD_NAMES


def test_missing_batch(formats, archive):
    batches = formats.cifar_batches()
    del batches["data_batch_3"]
    with pytest.raises(StriateError, match="no cifar-10-batches-py/data_batch_3 in it"):
        load_dataset("cifar10", archive(batches))


def test_members_outside_the_expected_names_are_ignored(tmp_path, formats, archive):
    batches = formats.cifar_batches()
    target = tmp_path / "pwned"
    hostile = pickle.dumps(formats.Malicious(target), protocol=2)
    data_dir = archive(batches, extra={"../data_batch_1": hostile, "/tmp/test_batch": hostile,
                                       "other/cifar-10-batches-py/data_batch_1": hostile})
    # Reading any of the look-alikes would raise the unpickling refusal.
    dataset = load_dataset("cifar10", data_dir)
    np.testing.assert_array_equal(dataset.train.images, expected_train(formats, batches)[0])
    assert not target.exists()


def test_a_link_named_like_a_batch_is_not_followed(tmp_path, formats, accept):
    path = tmp_path / CIFAR10_ARCHIVE
    with tarfile.open(path, "w:gz") as tar:
        for name, value in formats.cifar_batches().items():
            if name != "test_batch":
                formats.add_member(tar, f"cifar-10-batches-py/{name}", formats.cifar_pickle(value))
        link = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        link.type, link.linkname = tarfile.SYMTYPE, "data_batch_1"
        tar.addfile(link)
    accept("cifar10", tmp_path)
    with pytest.raises(StriateError, match="no cifar-10-batches-py/test_batch in it"):
        load_dataset("cifar10", tmp_path)


@pytest.mark.parametrize("change, problem", [
    (lambda batch: batch.pop(b"data"), r"needs the keys b'data' and b'labels', found "
                                       r"\['batch_label', 'filenames', 'labels'\]"),
    (lambda batch: batch.update({b"data": batch[b"data"].reshape(20, 32, 96)}),
     r"b'data' must be an \(N, 3072\) uint8 array, got a uint8 array of shape \(20, 32, 96\)"),
    (lambda batch: batch.update({b"data": batch[b"data"][:, :3071]}),
     r"got a uint8 array of shape \(20, 3071\)"),
    (lambda batch: batch.update({b"data": batch[b"data"].astype(np.float32)}),
     r"got a float32 array"),
    (lambda batch: batch.update({b"labels": ["cat"] * 20}), r"b'labels' must be a list of "
                                                           r"integers, got a list"),
    (lambda batch: batch.update({b"labels": batch[b"labels"][:19]}), "20 images but 19 labels"),
    (lambda batch: batch.update({b"labels": [10] * 20}), r"label 10 is outside 0\.\.9"),
])
def test_malformed_batches(formats, archive, change, problem):
    batches = formats.cifar_batches()
    change(batches["data_batch_2"])
    with pytest.raises(StriateError, match=rf"cifar-10-batches-py/data_batch_2 in "
                                           rf".*{CIFAR10_ARCHIVE}: .*{problem}"):
        load_dataset("cifar10", archive(batches))


def test_batch_that_is_not_a_dict(formats, archive):
    batches = formats.cifar_batches()
    batches["test_batch"] = [1, 2, 3]
    with pytest.raises(StriateError, match="expected a pickled dict, got a list"):
        load_dataset("cifar10", archive(batches))


def test_malicious_batch_is_refused(tmp_path, formats, archive):
    batches = formats.cifar_batches()
    target = tmp_path / "pwned"
    batches["data_batch_4"][b"labels"] = formats.Malicious(target)
    with pytest.raises(StriateError, match=r"refusing to unpickle posix\.system from "
                                           r"cifar-10-batches-py/data_batch_4 in "):
        load_dataset("cifar10", archive(batches))
    assert not target.exists()


def test_truncated_archive(tmp_path, formats, accept):
    path = formats.write_cifar_archive(tmp_path / CIFAR10_ARCHIVE, formats.cifar_batches())
    path.write_bytes(path.read_bytes()[:-200])
    accept("cifar10", tmp_path)  # as if the checksum matched: the parser must still cope
    with pytest.raises(StriateError, match=f"{CIFAR10_ARCHIVE}: truncated or corrupt"):
        load_dataset("cifar10", tmp_path)
