"""A dataset file being parsed, and the one way its failures are reported.

Every parser gets a DataFile so that any problem it finds (bad header, truncated gzip, hostile
pickle) becomes a one-line StriateError naming the file and the fix: delete it and fetch it again.
"""

import contextlib
import gzip
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from striate.errors import StriateError

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class DataFile:
    path: Path                # the file on disk (an archive, when member is set)
    dataset: str              # the `striate download` name that replaces it
    member: str | None = None  # the name inside the archive being read

    def __str__(self) -> str:
        return f"{self.member} in {self.path}" if self.member else str(self.path)

    def within(self, member: str) -> "DataFile":
        return DataFile(self.path, self.dataset, member)

    @property
    def fix(self) -> str:
        return f"delete {self.path} and run `striate download {self.dataset}`"

    def corrupt(self, problem: str) -> StriateError:
        return StriateError(f"{self}: {problem}; {self.fix}")


@contextlib.contextmanager
def reading(datafile: DataFile):
    """Turn I/O, gzip and tar failures inside the block into a StriateError naming the file."""
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile, tarfile.TarError) as error:
        # BadGzipFile is an OSError, so it must be caught before the generic I/O case below.
        raise datafile.corrupt(f"truncated or corrupt ({error or type(error).__name__})") from None
    except OSError as error:
        raise StriateError(f"cannot read {datafile.path}: {error.strerror or error}; check that "
                           "it is a readable file") from None


def open_maybe_gzip(path: Path) -> BinaryIO:
    """Open `path` for reading, decompressing on the fly when it starts with the gzip magic.

    Sniffing the content instead of trusting the ".gz" suffix accepts both the gzipped files the
    mirrors serve and the raw ones some people unpack them into.
    """
    with open(path, "rb") as handle:
        gzipped = handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def describe_value(value: object) -> str:
    """What an unpickled value is, for messages about unexpected file contents."""
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"a {value.dtype} array of shape {value.shape}"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
