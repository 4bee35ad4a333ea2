"""What a data set file must hold, the names it may go by, and checking that it holds it.

MNIST-like files are verified by the SHA-256 of their decompressed content, so the official
.gz, the same file recompressed by a distribution or a mirror, and the raw IDX file people unpack
it into are one and the same data. The MD5 of the archive as served stays the check a download is
streamed through; files whose publishers give only that (CIFAR-10's tar.gz, mnist.pkl.gz) are
checked by it alone.
"""

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from striate.data.datafile import GZIP_MAGIC, DataFile, reading

CHUNK_BYTES = 1 << 20
# "train-images-idx3-ubyte.gz": the stem, the separator before "idx", the IDX part, the suffix.
IDX_NAME = re.compile(r"^(?P<stem>.+)[-.](?P<idx>idx\d-ubyte)(?:\.gz)?$")


@dataclass(frozen=True)
class Digests:
    """The accepted forms of one file."""
    archive_md5s: frozenset[str] = frozenset()  # MD5 hex of the file as served (the .gz bytes)
    content_sha256: str | None = None           # SHA-256 hex of the decompressed bytes


def file_forms(name: str) -> tuple[str, ...]:
    """The names a file is accepted under, the official one first.

    IDX files also go by their unpacked name and by the mirrors' spelling with a dot:
    train-images-idx3-ubyte.gz, train-images-idx3-ubyte, train-images.idx3-ubyte.gz,
    train-images.idx3-ubyte. Any other name is only itself.
    """
    match = IDX_NAME.match(name)
    if match is None:
        return (name,)
    stem, idx = match["stem"], match["idx"]
    forms = [f"{stem}{sep}{idx}{suffix}" for sep in "-." for suffix in (".gz", "")]
    return tuple(dict.fromkeys([name, *forms]))  # the official name first, no repeats


def find_form(directory: Path, name: str) -> Path | None:
    """The file in `directory` that stands for `name` (see file_forms), or None."""
    for form in file_forms(name):
        if (directory / form).is_file():
            return directory / form
    return None


def verified_content(datafile: DataFile, digests: Digests | None) -> bytes:
    """The file's bytes, decompressed when gzipped, refused unless their SHA-256 is the one
    expected (no check when `digests` is None or gives no content digest).

    The caller parses what this returns, so a file is decompressed once per load.
    """
    with reading(datafile):
        content = decompressed(datafile.path.read_bytes())
    if digests is not None and digests.content_sha256 is not None:
        problem = content_problem(content, digests)
        if problem is not None:
            raise datafile.corrupt(f"{problem}, so it is damaged or not the official file")
    return content


def check_file(path: Path, digests: Digests, dataset: str) -> None:
    """Refuse the file unless it holds an accepted content: by its content digest where there is
    one, else by the MD5 of the file itself."""
    datafile = DataFile(path, dataset)
    if digests.content_sha256 is not None:
        verified_content(datafile, digests)
        return
    with reading(datafile):
        actual = file_md5(path)
    if actual not in digests.archive_md5s:
        raise datafile.corrupt(f"MD5 {actual}, expected {either(digests.archive_md5s)}, so it is "
                               "damaged or not the official file")


def decompressed(raw: bytes) -> bytes:
    """`raw` gunzipped when it starts with the gzip magic, else `raw` itself."""
    return gzip.decompress(raw) if raw[:len(GZIP_MAGIC)] == GZIP_MAGIC else raw


def content_problem(content: bytes, digests: Digests) -> str | None:
    """None when `content` (decompressed) has the expected SHA-256, else what is wrong."""
    actual = hashlib.sha256(content).hexdigest()
    if actual == digests.content_sha256:
        return None
    return f"content SHA-256 {actual}, expected {digests.content_sha256}"


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def either(md5s: frozenset[str]) -> str:
    return " or ".join(sorted(md5s))
