"""Finding a data set's files on this machine, and downloading the missing ones, checked.

Lookup order, first directory holding every file (in any of its accepted names) wins:
  1. data_dir/<dirname>, then data_dir itself: when the user names a data_dir, only these two,
     so an explicit folder that lacks the data is downloaded into or reported, never passed over
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
import zlib
from pathlib import Path
from typing import Sequence

import platformdirs

from striate.data.digests import (Digests, check_file, content_problem, decompressed, either,
                                  find_form)
from striate.data.sources import Source
from striate.errors import StriateError
from striate.files import atomic_path, make_directory

SYSTEM_ROOTS = (Path("/usr/share/datasets"), Path("/usr/local/share/datasets"))
TIMEOUT_S = 30
CHUNK_BYTES = 1 << 20


def user_roots(data_dir: str | Path | None, dirname: str) -> list[Path]:
    """The data roots the user controls, most specific first: data_dir, or else $STRIATE_DATA
    and the cache."""
    if data_dir is not None:
        return [given_dir(data_dir, dirname)]
    roots = []
    if os.environ.get("STRIATE_DATA"):
        roots.append(Path(os.environ["STRIATE_DATA"]).expanduser())
    return roots + [Path(platformdirs.user_cache_dir("striate"))]


def given_dir(data_dir: str | Path, dirname: str) -> Path:
    """data_dir as a Path, refused when it is a file: the user meant a folder of data files."""
    path = Path(data_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise StriateError(f"--data-dir {data_dir} is a file, not a folder; pass --data-dir DIR, "
                           f"the folder holding the {dirname} files "
                           f"(or DIR/{dirname} holding them)")
    return path


def lookup_dirs(dirname: str, data_dir: str | Path | None = None) -> list[Path]:
    """Every directory searched for a data set's files, in the order of the module docstring."""
    roots = user_roots(data_dir, dirname)
    if data_dir is not None:
        return [roots[0] / dirname, roots[0]]
    return [root / dirname for root in (*roots, *SYSTEM_ROOTS)]


def download_dir(dirname: str, data_dir: str | Path | None = None) -> Path:
    return user_roots(data_dir, dirname)[0] / dirname


def find_files(dirname: str, filenames: Sequence[str],
               data_dir: str | Path | None = None) -> Path | None:
    """The first lookup directory holding all of `filenames` (paths relative to it, each under
    any of its accepted names: digests.file_forms), or None."""
    for directory in lookup_dirs(dirname, data_dir):
        if all(find_form(directory, name) for name in filenames):
            return directory
    return None


def find_source(source: Source, data_dir: str | Path | None = None, *,
                check_contents: bool = True) -> Path | None:
    """The directory holding all of the source's files, verified; None if none does.

    check_contents=False leaves files with a content digest to the loader, which verifies the
    bytes it decompresses to parse them (digests.verified_content): one decompression per load.
    """
    directory = find_files(source.dirname, list(source.files), data_dir)
    if directory is not None:
        for name, digests in source.files.items():
            if check_contents or digests.content_sha256 is None:
                check_file(find_form(directory, name), digests, source.dataset)
    return directory


def fetch_source(source: Source, data_dir: str | Path | None = None, *,
                 check_contents: bool = True) -> Path:
    """The directory holding all of the source's files, downloading whichever are missing."""
    found = find_source(source, data_dir, check_contents=check_contents)
    if found is not None:
        return found
    destination = download_dir(source.dirname, data_dir)
    make_directory(destination, "pass a writable --data-dir or set $STRIATE_DATA")
    missing = [name for name in source.files if find_form(destination, name) is None]
    for name, digests in source.files.items():
        if name in missing:
            download(source.urls_for(name), destination / name, digests, manual=missing)
        else:
            check_file(find_form(destination, name), digests, source.dataset)
    return destination


def locate(source: Source, data_dir: str | Path | None, download: bool, *,
           check_contents: bool = True) -> Path:
    """fetch_source, or only find_source when downloading is off."""
    if download:
        return fetch_source(source, data_dir, check_contents=check_contents)
    found = find_source(source, data_dir, check_contents=check_contents)
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
    if source.apt_package is None or data_dir is not None:  # a named data_dir is the only place
        return how
    return f"{how}, or `apt-get install {source.apt_package}`"


def download(urls: Sequence[str], dest: Path, digests: Digests, *,
             manual: Sequence[str] = ()) -> None:
    """Download `dest` from the first of `urls` that delivers an accepted file: the archive MD5,
    or failing that (a mirror that recompressed it) the content digest.

    Each attempt streams into a temporary file beside `dest` that only becomes `dest` once its
    checksum is right, so an interrupted or wrong download never leaves a file that looks valid.
    If every mirror fails, the StriateError names each URL's failure and says to put `manual`
    (default: just dest's name) into dest's directory by hand.
    """
    failures = []
    for url in urls:
        print(f"downloading {url} to {dest.parent}", file=sys.stderr)
        failure = _try_download(url, dest, digests)
        if failure is None:
            return
        failures.append(f"{url}: {failure}")
    raise StriateError(f"could not download {dest.name} ({'; '.join(failures)}); download "
                       f"{', '.join(manual or [dest.name])} yourself and put them in "
                       f"{dest.parent}")


class _MirrorFailed(Exception):
    """One mirror could not deliver a good file; the next one gets its turn."""


def _try_download(url: str, dest: Path, digests: Digests) -> str | None:
    """None on success, else why this mirror failed."""
    try:
        with atomic_path(dest) as partial:
            actual = _stream(url, partial)
            if actual not in digests.archive_md5s:
                _check_downloaded_content(partial, actual, digests)
    except _MirrorFailed as failure:
        return str(failure)
    return None


def _check_downloaded_content(partial: Path, md5: str, digests: Digests) -> None:
    """Accept a download whose archive MD5 is unknown by its content digest, if it has one."""
    if digests.content_sha256 is None:
        raise _MirrorFailed(f"got MD5 {md5}, expected {either(digests.archive_md5s)}")
    try:
        content = decompressed(partial.read_bytes())
    except (EOFError, OSError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise _MirrorFailed(f"got a file that does not decompress "
                            f"({error or type(error).__name__})") from None
    problem = content_problem(content, digests)
    if problem is not None:
        raise _MirrorFailed(f"got {problem}")


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
