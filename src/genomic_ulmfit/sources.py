"""Checksum-verified downloads of the workflow's public input files.

`fetch` takes a file from its canonical URL or, when a mirror is given, from
mirror + "/" + mirror_path (a local HTTP server, a directory or a file:// URL).
The file is streamed to a temporary file next to `dest`, its sha256 is checked,
and only then is it moved to `dest` with os.replace, so `dest` is either absent
or complete and verified: a later step can never read a truncated download.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

__all__ = ["FetchError", "fetch", "resolve_url", "sha256_of"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class FetchError(RuntimeError):
    """A download failed or did not match its expected checksum."""


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_url(url: str, mirror: str | None = None, mirror_path: str | None = None) -> str:
    """The location actually read: `url`, or mirror + "/" + mirror_path when a mirror is set."""
    if not mirror:
        return url
    if not mirror_path:
        raise ValueError(f"a mirror ({mirror}) was given for {url} but no mirror_path to find it there")
    rel = mirror_path.lstrip("/")
    if "://" in mirror:
        # Quote the relative part: mirror paths may hold characters URLs do not allow.
        return mirror.rstrip("/") + "/" + urllib.parse.quote(rel)
    return str(Path(mirror) / rel)


@contextmanager
def _open_source(location: str, timeout: float) -> Iterator[tuple[BinaryIO, int | None]]:
    """Open http(s)://, file:// or a plain path; yield (stream, size in bytes if known)."""
    scheme = urllib.parse.urlsplit(location).scheme.lower()
    if scheme in ("http", "https", "ftp"):
        request = urllib.request.Request(location, headers={"User-Agent": "genomic-ulmfit"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            yield response, int(length) if length and length.isdigit() else None
        return
    if scheme == "file":
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(location).path))
    elif scheme and len(scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ValueError(f"unsupported URL scheme '{scheme}' in {location}; expected http(s)://, file:// or a path")
    else:
        path = Path(location)
    with open(path, "rb") as fh:
        yield fh, path.stat().st_size


def _copy_stream(src: BinaryIO, dst: BinaryIO, size: int | None, label: str) -> tuple[int, str]:
    """Copy src to dst, hashing on the way; returns (bytes copied, sha256)."""
    digest = hashlib.sha256()
    copied = 0
    # A progress bar only helps a person watching; in logs it is noise.
    with tqdm(
        total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
        disable=not sys.stderr.isatty(), leave=False,
    ) as bar:
        for chunk in iter(lambda: src.read(_CHUNK), b""):
            dst.write(chunk)
            digest.update(chunk)
            copied += len(chunk)
            bar.update(len(chunk))
    return copied, digest.hexdigest()


# A source whose checksum is not known yet has `sha256: null` in sources.yaml; on the
# command line that arrives as one of these words.
UNKNOWN_SHA256 = ("", "none", "null")


def _normalise_sha256(sha256: str | None, url: str) -> str | None:
    if sha256 is None or sha256.strip().lower() in UNKNOWN_SHA256:
        return None
    value = sha256.strip().lower()
    if not _SHA256_RE.match(value):
        raise ValueError(f"expected sha256 for {url} is not 64 hex digits: {sha256!r}")
    return value


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None,
    mirror: str | None = None,
    mirror_path: str | None = None,
    *,
    timeout: float = 60.0,
) -> Path:
    """Download `url` (or its copy in `mirror`) to `dest`, verifying `sha256`.

    With `sha256=None` (or "null"/"none": a source whose checksum is not known yet) the file
    is accepted unverified; its sha256 is logged and recorded in `<dest>.sha256`.
    An existing `dest` with the expected checksum is kept without downloading.
    Raises FetchError naming the URL used and the expected and actual sha256;
    after a failure neither `dest` nor a temporary file is left behind.
    """
    dest = Path(dest)
    expected = _normalise_sha256(sha256, url)
    location = resolve_url(url, mirror, mirror_path)
    if expected and dest.is_file() and sha256_of(dest) == expected:
        logger.info("%s already present with sha256 %s; not downloading", dest, expected)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    actual: str | None = None
    started = time.monotonic()
    logger.info("fetching %s -> %s", location, dest)
    try:
        with os.fdopen(fd, "wb") as out, _open_source(location, timeout) as (src, size):
            copied, actual = _copy_stream(src, out, size, dest.name)
        if size is not None and copied != size:
            raise FetchError(
                f"download of {location} is truncated: got {copied} of {size} bytes "
                f"(expected sha256 {expected or 'unset'}, actual sha256 {actual})"
            )
        if expected and actual != expected:
            raise FetchError(
                f"checksum mismatch for {location}: expected sha256 {expected}, actual sha256 {actual} "
                f"({copied} bytes)"
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; downloads are shared inputs
        os.replace(tmp, dest)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, FetchError) or not isinstance(err, Exception):
            raise
        raise FetchError(
            f"could not fetch {location}: {err} "
            f"(expected sha256 {expected or 'unset'}, actual sha256 {actual or 'not computed'})"
        ) from err
    if not expected:
        record = dest.with_name(dest.name + ".sha256")
        record.write_text(f"{actual}  {dest.name}\n")
        logger.warning("%s fetched without a checksum to verify (sha256: null); its sha256 is %s, "
                       "recorded in %s: put it in the source's sha256 to verify later downloads",
                       location, actual, record)
    logger.info("fetched %s (%d bytes, sha256 %s) in %.1f s", dest, copied, actual, time.monotonic() - started)
    return dest
