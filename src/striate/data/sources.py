"""Where each downloadable data set's files come from and what their checksums must be.

SOURCES is looked up at call time, so tests can swap an entry for one served from file:// URLs.
"""

from dataclasses import dataclass
from typing import Mapping

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
MNIST_PICKLE = "mnist.pkl.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"


@dataclass(frozen=True)
class Source:
    """A group of files that live together in <root>/<dirname>/ and come from the same mirrors."""
    dataset: str                         # the `striate download` name that fetches them
    dirname: str                         # their subdirectory under each data root
    files: Mapping[str, frozenset[str]]  # file name -> accepted MD5 hex digests
    urls: tuple[str, ...]                # mirrors in order; "{filename}" becomes the file name
    apt_package: str | None = None       # a distribution package that installs them

    def urls_for(self, filename: str) -> list[str]:
        return [url.replace("{filename}", filename) for url in self.urls]


SOURCES = {
    "mnist": Source(
        "mnist", "mnist",
        {TRAIN_IMAGES: frozenset({"f68b3c2dcbeaaa9fbdd348bbdeb94873"}),
         TRAIN_LABELS: frozenset({"d53e105ee54ea40749a09fcbcd1e9432"}),
         TEST_IMAGES: frozenset({"9fb629c4189551a2d022fa330f9573f3"}),
         TEST_LABELS: frozenset({"ec29112dd5afa0611ce80d1b7f02629c"})},
        ("https://ossci-datasets.s3.amazonaws.com/mnist/{filename}",
         "https://storage.googleapis.com/cvdf-datasets/mnist/{filename}",
         "http://yann.lecun.com/exdb/mnist/{filename}")),
    # The Deep Learning Tutorials' pickle: the same digits, with their 50k/10k/10k split.
    "mnist-pickle": Source(
        "mnist", "mnist",
        {MNIST_PICKLE: frozenset({"a02cd19f81d51c426d7ca14024243ce9"})},
        ("http://deeplearning.net/data/mnist/mnist.pkl.gz",
         "https://figshare.com/ndownloader/files/25635053")),
    # Debian's dataset-fashion-mnist recompresses the upstream files (same pixels, other gzip
    # bytes), so each file has two accepted checksums: upstream's and Debian's.
    "fashion-mnist": Source(
        "fashion-mnist", "fashion-mnist",
        {TRAIN_IMAGES: frozenset({"8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                  "cf8536b0aa1a6ac5fa3f23001093305c"}),
         TRAIN_LABELS: frozenset({"25c81989df183df01b3e8a0aad5dffbe",
                                  "10bea18fdb374794d4bb42e356e600c9"}),
         TEST_IMAGES: frozenset({"bef4ecab320f06d8554ea6380940ec79",
                                 "f78720b4224f21cce2f2ccf2d7a94c9a"}),
         TEST_LABELS: frozenset({"bb300cfdad3c16e7a12a480ee83cd310",
                                 "0d30e22e447f3c33dab9ed536400ac01"})},
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{filename}",),
        apt_package="dataset-fashion-mnist"),
    "cifar10": Source(
        "cifar10", "cifar10",
        {CIFAR10_ARCHIVE: frozenset({"c58f30108f718f92721af3b95e74349a"})},
        ("https://www.cs.toronto.edu/~kriz/{filename}",)),
}
