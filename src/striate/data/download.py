"""Finding a data set's files on this machine, and downloading the missing ones, MD5-checked.

Lookup order, first directory holding every file wins:
  1. data_dir/<dirname>, then data_dir itself (the one the user named, so it beats all else)
  2. $STRIATE_DATA/<dirname>
  3. <user cache>/<dirname>   (platformdirs.user_cache_dir("striate"), e.g. ~/.cache/striate)
  4. SYSTEM_ROOTS/<dirname>   (where distribution packages such as dataset-fashion-mnist install)
Downloads go to the first of data_dir, $STRIATE_DATA and the user cache that is set.
"""

import hashlib
import http.client
import os
import sys
import urllib.request
from pathlib import Path
from typing import Sequence

import platformdirs

from striate.data.datafile import DataFile, reading
from striate.data.sources import Source
from striate.errors import StriateError
from striate.files import atomic_path, make_directory

SYSTEM_ROOTS = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))
TIMEOUT_S = 30
CHUNK_BYTES = 1 << 20


def user_roots(data_dir: str | Path | None) -> list[Path]:
    """The data roots the user controls, most specific first: data_dir, $STRIATE_DATA, cache."""
    roots = [Path(data_dir).expanduser()] if data_dir is not None else []
    if os.environ.get("STRIATE_DATA"):
        roots.append(Path(os.environ["STRIATE_DATA"]).expanduser())
    return roots + [Path(platformdirs.user_cache_dir("striate"))]


def lookup_dirs(dirname: str, data_dir: str | Path | None = None) -> list[Path]:
    """Every directory searched for a data set's files, in the order of the module docstring."""
    dirs = [root / dirname for root in user_roots(data_dir)]
    if data_dir is not None:
        dirs.insert(1, Path(data_dir).expanduser())
    return dirs + [root / dirname for root in SYSTEM_ROOTS]


def download_dir(dirname: str, data_dir: str | Path | None = None) -> Path:
    return user_roots(data_dir)[0] / dirname


def find_files(dirname: str, filenames: Sequence[str],
               data_dir: str | Path | None = None) -> Path | None:
    """The first lookup directory holding all of `filenames` (paths relative to it), or None."""
    for directory in lookup_dirs(dirname, data_dir):
        if all((directory / name).is_file() for name in filenames):
            return directory
    return None


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(path: Path, md5s: frozenset[str], dataset: str) -> None:
    datafile = DataFile(path, dataset)
    with reading(datafile):
        actual = file_md5(path)
    if actual not in md5s:
        raise datafile.corrupt(f"MD5 {actual}, expected {_either(md5s)}, so it is damaged or "
                               "not the official file")


def find_source(source: Source, data_dir: str | Path | None = None) -> Path | None:
    """The directory holding all of the source's files, checksums verified; None if none does."""
    directory = find_files(source.dirname, list(source.files), data_dir)
    if directory is not None:
        for name, md5s in source.files.items():
            check_md5(directory / name, md5s, source.dataset)
    return directory


def fetch_source(source: Source, data_dir: str | Path | None = None) -> Path:
    """The directory holding all of the source's files, downloading whichever are missing."""
    found = find_source(source, data_dir)
    if found is not None:
        return found
    destination = download_dir(source.dirname, data_dir)
    make_directory(destination, "pass a writable --data-dir or set $STRIATE_DATA")
    missing = [name for name in source.files if not (destination / name).is_file()]
    for name, md5s in source.files.items():
        if name in missing:
            download(source.urls_for(name), destination / name, md5s, manual=missing)
        else:
            check_md5(destination / name, md5s, source.dataset)
    return destination


def locate(source: Source, data_dir: str | Path | None, download: bool) -> Path:
    """fetch_source, or only find_source when downloading is off."""
    if download:
        return fetch_source(source, data_dir)
    found = find_source(source, data_dir)
    if found is None:
        raise not_found(source.dataset, [source], data_dir)
    return found


def not_found(dataset: str, sources: Sequence[Source], data_dir: str | Path | None) -> StriateError:
    searched = ", ".join(map(str, lookup_dirs(sources[0].dirname, data_dir)))
    return StriateError(f"{dataset} not found (searched {searched}); "
                        f"{how_to_fetch(dataset, sources, data_dir)}")


def how_to_fetch(dataset: str, sources: Sequence[Source], data_dir: str | Path | None) -> str:
    """How a person gets the files: the download command, or which files to put where by hand."""
    return f"run `striate download {dataset}`, or " + "; or ".join(
        _by_hand(source, data_dir) for source in sources)


def _by_hand(source: Source, data_dir: str | Path | None) -> str:
    mirror = source.urls[0].replace("{filename}", "")
    how = (f"put {', '.join(source.files)} from {mirror} in "
           f"{download_dir(source.dirname, data_dir)}")
    return f"{how}, or `apt-get install {source.apt_package}`" if source.apt_package else how


def download(urls: Sequence[str], dest: Path, md5s: frozenset[str], *,
             manual: Sequence[str] = ()) -> None:
    """Download `dest` from the first of `urls` that delivers a file with an accepted MD5.

    Each attempt streams into a temporary file beside `dest` that only becomes `dest` once its
    checksum is right, so an interrupted or wrong download never leaves a file that looks valid.
    If every mirror fails, the StriateError names each URL's failure and says to put `manual`
    (default: just dest's name) into dest's directory by hand.
    """
    failures = []
    for url in urls:
        print(f"downloading {url} to {dest.parent}", file=sys.stderr)
        failure = _try_download(url, dest, md5s)
        if failure is None:
            return
        failures.append(f"{url}: {failure}")
    raise StriateError(f"could not download {dest.name} ({'; '.join(failures)}); download "
                       f"{', '.join(manual or [dest.name])} yourself and put them in "
                       f"{dest.parent}")


class _MirrorFailed(Exception):
    """One mirror could not deliver a good file; the next one gets its turn."""


def _try_download(url: str, dest: Path, md5s: frozenset[str]) -> str | None:
    """None on success, else why this mirror failed."""
    try:
        with atomic_path(dest) as partial:
            actual = _stream(url, partial)
            if actual not in md5s:
                raise _MirrorFailed(f"got MD5 {actual}, expected {_either(md5s)}")
    except _MirrorFailed as failure:
        return str(failure)
    return None


def _stream(url: str, partial: Path) -> str:
    """Copy `url` into `partial` chunk by chunk; return the MD5 of what was written.

    Network failures become _MirrorFailed here, so the only OSErrors reaching atomic_path are
    local write errors, which it reports as such.
    """
    digest = hashlib.md5(usedforsecurity=False)
    with _open_url(url) as response, open(partial, "wb") as out:
        while chunk := _read_chunk(response):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _open_url(url: str):
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise _MirrorFailed(str(error) or type(error).__name__) from None


def _read_chunk(response) -> bytes:
    try:
        return response.read(CHUNK_BYTES)
    except (OSError, http.client.HTTPException) as error:
        raise _MirrorFailed(str(error) or type(error).__name__) from None


def _either(md5s: frozenset[str]) -> str:
    return " or ".join(sorted(md5s))
