"""Where each downloadable data set's files come from and what they must hold.

SOURCES is looked up at call time, so tests can swap an entry for one served from file:// URLs.
"""

from dataclasses import dataclass
from typing import Mapping

from striate.data.digests import Digests

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
MNIST_PICKLE = "mnist.pkl.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_BATCHES_DIR = "cifar-10-batches-py"


@dataclass(frozen=True)
class Source:
    """A group of files that live together in <root>/<dirname>/ and come from the same mirrors."""
    dataset: str                    # the `striate download` name that fetches them
    dirname: str                    # their subdirectory under each data root
    files: Mapping[str, Digests]    # official file name -> what it must hold
    urls: tuple[str, ...]           # mirrors in order; "{filename}" becomes the file name
    apt_package: str | None = None  # a distribution package that installs them

    def urls_for(self, filename: str) -> list[str]:
        return [url.replace("{filename}", filename) for url in self.urls]


def _idx(archive_md5: str, content_sha256: str) -> Digests:
    return Digests(frozenset({archive_md5}), content_sha256)


SOURCES = {
    # SHA-256 of the decompressed IDX files, as listed beside the real MNIST in ../shared/data.
    "mnist": Source(
        "mnist", "mnist",
        {TRAIN_IMAGES: _idx("f68b3c2dcbeaaa9fbdd348bbdeb94873",
                            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
         TRAIN_LABELS: _idx("d53e105ee54ea40749a09fcbcd1e9432",
                            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
         TEST_IMAGES: _idx("9fb629c4189551a2d022fa330f9573f3",
                           "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
         TEST_LABELS: _idx("ec29112dd5afa0611ce80d1b7f02629c",
                           "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")},
        ("https://ossci-datasets.s3.amazonaws.com/mnist/{filename}",
         "https://storage.googleapis.com/cvdf-datasets/mnist/{filename}",
         "http://yann.lecun.com/exdb/mnist/{filename}")),
    # The Deep Learning Tutorials' pickle: the same digits, with their 50k/10k/10k split.
    "mnist-pickle": Source(
        "mnist", "mnist",
        {MNIST_PICKLE: Digests(frozenset({"a02cd19f81d51c426d7ca14024243ce9"}))},
        ("http://deeplearning.net/data/mnist/mnist.pkl.gz",
         "https://figshare.com/ndownloader/files/25635053")),
    # Content digests computed from Debian's dataset-fashion-mnist, which recompresses upstream's
    # files (other .gz bytes, the same decompressed bytes); the MD5s are upstream's archives.
    "fashion-mnist": Source(
        "fashion-mnist", "fashion-mnist",
        {TRAIN_IMAGES: _idx("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
         TRAIN_LABELS: _idx("25c81989df183df01b3e8a0aad5dffbe",
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
         TEST_IMAGES: _idx("bef4ecab320f06d8554ea6380940ec79",
                           "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
         TEST_LABELS: _idx("bb300cfdad3c16e7a12a480ee83cd310",
                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")},
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{filename}",),
        apt_package="dataset-fashion-mnist"),
    "cifar10": Source(
        "cifar10", "cifar10",
        {CIFAR10_ARCHIVE: Digests(frozenset({"c58f30108f718f92721af3b95e74349a"}))},
        ("https://www.cs.toronto.edu/~kriz/{filename}",)),
    # The batches as that archive holds them, for an already-extracted cifar-10-batches-py/:
    # each is checked before it is unpickled. Not downloadable on their own.
    "cifar10-batches": Source(
        "cifar10", "cifar10",
        {f"{CIFAR10_BATCHES_DIR}/{name}": Digests(frozenset({md5})) for name, md5 in (
            ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
            ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
            ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
            ("data_batch_4", "634d18415352ddfa80567beed471001a"),
            ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
            ("test_batch", "40351d587109b95175f43aff81a1287e"),
            ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"))},
        ()),
}
