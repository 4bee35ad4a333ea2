"""Atomic file writes: a reader never sees a half-written file, and a crash keeps the old one."""

import contextlib
import os
import tempfile
from pathlib import Path

from striate.errors import StriateError

TEMP_SUFFIX = ".tmp"


class WriteError(StriateError):
    """A file could not be written (full disk, read-only directory); the old file is intact.
    `problem` is the message without its advice, for callers that know a better one."""

    def __init__(self, problem: str, advice: str):
        super().__init__(f"{problem}; {advice}")
        self.problem = problem


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; on success fsync it, rename it over `path` and
    fsync the directory.

    The temporary file lives in the same directory so the final os.replace is a rename on one
    file system, which POSIX makes atomic. On any exception the temporary file is removed and
    `path` is left exactly as it was.
    """
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                        suffix=TEMP_SUFFIX)
    except OSError as error:
        raise WriteError(f"cannot write in {path.parent}: {error.strerror}",
                         "choose a writable directory") from None
    # mkstemp makes the file private (0600); give it the mode a plain open() would have, so
    # runs and shared data directories stay readable by the people the umask allows.
    os.fchmod(fd, 0o666 & ~current_umask())
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_directory(path.parent)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise WriteError(f"cannot write {path}: {error.strerror}", "free some space or choose "
                         "another directory (the previous file, if any, is intact)") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_directory(path: Path, fix: str) -> None:
    """mkdir -p, or a one-line error naming the directory and `fix` (the flag to change)."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StriateError(f"cannot create {path}: {error.strerror}; {fix}") from None


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` survive a power loss, not only a killed process."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_partial_writes(directory: Path) -> None:
    """Delete the temporary files of writes that a SIGKILL or power loss cut short: their
    targets were never replaced, so nothing in them is needed."""
    for leftover in Path(directory).glob(f".*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
