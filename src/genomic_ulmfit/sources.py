"""Checksum-verified downloads of the workflow's public input files.

One way to download (`fetch`; the workflow's `download` rule calls it through
`genomic-ulmfit fetch --source '<entry as JSON>'`) for four kinds of source entry
(resources/sources.yaml, resources/paper_sources.yaml):

* a plain file: `url` (http(s)://, ftp://, file:// or a local path);
* an archive member: `url` names a .tar.gz/.tgz/.tar/.zip, `member:` a file or a directory
  inside it, relative to the archive root (a path that is not at the root is also looked
  up under the archive's one top-level folder when it has exactly one). The archive is
  downloaded once into a cache (`cache_dir`, the workflow's resources/downloads/_archives),
  verified against `sha256` (the archive's checksum) and shared by every member of it;
  a member whose path ends in "/" is a directory and becomes a directory output;
* an OSF file: `osf: {node: 4htpy, path: mRNAs.train16K.fa}`, found through the OSF API
  (api.osf.io/v2/nodes/<node>/files/osfstorage/, JSON:API, paginated) at download time;
* an NCBI genome by name: `ncbi_genome: {taxon: "Bacillus sp. MYb78"}` (or `accession:` to
  pin one), resolved through NCBI Datasets v2 (genome/taxon/<taxon>/dataset_report: the
  RefSeq reference genome, else the highest-level, latest RefSeq assembly of exactly that
  organism), then its <accession>_<assembly>_genomic.fna.gz from the genomes FTP. What it
  resolved to is logged and written to `<dest>.resolved.json`, to pin it with `accession:`.

With a mirror (a local HTTP server, a directory or a file:// URL) a remote source is read
from mirror + "/" + mirror_path: for a plain file, that file; for an archive member, the
archive (verified by its sha256 and extracted as from upstream); for an OSF or NCBI source,
the final file, nothing resolved, unless that API's endpoint is set by its environment
variable (GULMFIT_OSF_API, GULMFIT_NCBI_DATASETS_API): the variable says where the API is
(a proxy, a test's stand-in), so it is asked even with a mirror. A source whose url is
file:// or a local path is read where it is.

Every file is streamed to a temporary file next to its destination, checked, and only
then moved into place (io.atomic), so `dest` is either absent or complete and
verified. `sha256: None` accepts an unknown checksum only for a download shown complete (its
Content-Length, a chunked transfer's last chunk, or, for a stream ended by closing the
connection, a whole gzip/zip: otherwise nothing tells a dropped connection from the end);
the sha256 is logged and written to `<file>.sha256` (for an archive member: the archive's,
in the cache) and enforced from then on: a later download must match it; `genomic-ulmfit
sources --check` (check_sources) records such checksums once in a lock file beside the
sources file (<stem>.lock.yaml), which config.load_sources reads back. Failures raise
FetchError with a one-line message naming the source, the URL/member and what was
expected; nothing partial is left behind.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from .errors import GenomicUlmfitError
from .io.atomic import atomic_dir, atomic_path, write_json, write_text


__all__ = [
    "FETCH_KEYS", "FetchError", "default_url", "NCBI_DATASETS_API", "NCBI_GENOMES_FTP", "OSF_API", "fetch",
    "fetch_source", "ncbi_ftp_url", "pick_assembly", "resolve_url", "sha256_of", "source_file_name", "source_kind",
    "source_problem", "LOCK_SUFFIX", "lock_path", "read_lock", "apply_lock", "write_lock", "config_source_uses",
    "check_sources", "list_sources",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# Public endpoints; each can be redirected by an environment variable (tests, proxies).
OSF_API = "https://api.osf.io/v2"
NCBI_DATASETS_API = "https://api.ncbi.nlm.nih.gov/datasets/v2"
NCBI_GENOMES_FTP = "https://ftp.ncbi.nlm.nih.gov/genomes/all"
_ENDPOINT_ENV = {
    "osf": ("GULMFIT_OSF_API", OSF_API),
    "ncbi_datasets": ("GULMFIT_NCBI_DATASETS_API", NCBI_DATASETS_API),
    "ncbi_ftp": ("GULMFIT_NCBI_FTP", NCBI_GENOMES_FTP),
}

# The keys of a source entry that decide what is downloaded (the download rule passes
# these, as one JSON object, to `genomic-ulmfit fetch --source`).
FETCH_KEYS = ("url", "sha256", "mirror_path", "member", "osf", "ncbi_genome")
_KINDS = ("member", "osf", "ncbi_genome")


class FetchError(GenomicUlmfitError, RuntimeError):
    """A download failed or did not match its expected checksum."""


def _endpoint(which: str) -> str:
    env, default = _ENDPOINT_ENV[which]
    return (os.environ.get(env) or default).rstrip("/")


def _api_redirected(kind: str) -> bool:
    """Whether the API that resolves a source of `kind` is set by its environment variable."""
    which = {"osf": "osf", "ncbi_genome": "ncbi_datasets"}.get(kind)
    return which is not None and bool(os.environ.get(_ENDPOINT_ENV[which][0]))


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- source entries --------------------------------------------------------------------


def source_kind(entry: dict) -> str:
    """'member', 'osf', 'ncbi_genome' or 'url' (a plain file)."""
    kinds = [k for k in _KINDS if entry.get(k) is not None]
    if len(kinds) > 1:
        raise ValueError(f"a source is one kind, but this one sets {kinds}")
    return kinds[0] if kinds else "url"


_ACCESSION_RE = re.compile(r"^GC[AF]_\d{9}\.\d+$")


def source_problem(entry: dict) -> str | None:
    """What is wrong with the kind-specific keys of a source entry, or None."""
    try:
        kind = source_kind(entry)
    except ValueError as e:
        return f"{e}; a source is a url, an archive member (url + member), osf or ncbi_genome"
    if kind == "member":
        member = entry["member"]
        if not isinstance(member, str) or not member.strip("/"):
            return f"member must be a path inside the archive, got {member!r}"
        if member.startswith("/") or _unsafe_path(member.rstrip("/")):
            return f"member {member!r} must be a relative path inside the archive without '..'"
    elif kind == "osf":
        spec = entry["osf"]
        if not isinstance(spec, dict) or not isinstance(spec.get("node"), str) \
                or not isinstance(spec.get("path"), str) or not spec["path"].strip("/"):
            return f"osf must be {{node: <project id>, path: <file path in osfstorage>}}, got {spec!r}"
        extra = sorted(set(spec) - {"node", "path"})
        if extra:
            return f"osf has unknown keys {extra}; allowed: ['node', 'path']"
    elif kind == "ncbi_genome":
        spec = entry["ncbi_genome"]
        if not isinstance(spec, dict) or not (spec.get("taxon") or spec.get("accession")):
            return f"ncbi_genome must be {{taxon: <organism name>}} and/or {{accession: GCF_...}}, got {spec!r}"
        extra = sorted(set(spec) - {"taxon", "accession", "assembly_name"})
        if extra:
            return f"ncbi_genome has unknown keys {extra}; allowed: ['accession', 'assembly_name', 'taxon']"
        if spec.get("accession") and not _ACCESSION_RE.match(str(spec["accession"])):
            return f"ncbi_genome accession {spec['accession']!r} is not of the form GCF_000000000.1"
        if spec.get("assembly_name") and not spec.get("accession"):
            return "ncbi_genome assembly_name needs an accession"
    return None


def default_url(entry: dict) -> str | None:
    """A page for people, for kinds that need no literal download URL (osf, ncbi_genome)."""
    kind = source_kind(entry)
    if kind == "osf":
        return f"https://osf.io/{entry['osf']['node']}/files/osfstorage/{entry['osf']['path'].strip('/')}"
    if kind == "ncbi_genome":
        spec = entry["ncbi_genome"]
        term = spec.get("accession") or spec["taxon"]
        return f"https://www.ncbi.nlm.nih.gov/datasets/genome/?taxon={urllib.parse.quote(str(term))}" \
            if not spec.get("accession") else f"https://www.ncbi.nlm.nih.gov/datasets/genome/{term}/"
    return None


def _ftp_assembly_name(name: str) -> str:
    """The assembly name as NCBI's genomes FTP spells it in directory and file names."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def source_file_name(entry: dict) -> str:
    """The file (or directory) name a source is downloaded to: the member's or the OSF
    path's last part, `genomic.fna.gz` (or the pinned assembly's FTP name) for an NCBI
    genome, else the last part of the url."""
    kind = source_kind(entry)
    if kind == "member":
        return posixpath.basename(entry["member"].rstrip("/"))
    if kind == "osf":
        return posixpath.basename(entry["osf"]["path"].rstrip("/"))
    if kind == "ncbi_genome":
        spec = entry["ncbi_genome"]
        if spec.get("accession") and spec.get("assembly_name"):
            return f"{spec['accession']}_{_ftp_assembly_name(spec['assembly_name'])}_genomic.fna.gz"
        return "genomic.fna.gz"
    return Path(urllib.parse.urlsplit(entry["url"]).path).name


# -- locations -------------------------------------------------------------------------


def _is_local(url: str) -> bool:
    """file:// or a plain path (one letter before ':' is a Windows drive, not a scheme)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    return scheme == "file" or len(scheme) <= 1


def _local_path(location: str) -> Path | None:
    """The path of a file:// URL or plain path; None for remote URLs."""
    parts = urllib.parse.urlsplit(location)
    if parts.scheme.lower() == "file":
        return Path(urllib.request.url2pathname(parts.path))
    if len(parts.scheme) <= 1:
        return Path(location)
    return None


def resolve_url(url: str, mirror: str | None = None, mirror_path: str | None = None) -> str:
    """The location actually read: `url`, or mirror + "/" + mirror_path when a mirror is set.
    A mirror replaces remote sources only: a file:// or local-path `url` is read where it is."""
    if not mirror or (url and _is_local(url)):
        return url
    if not mirror_path:
        raise ValueError(f"a mirror ({mirror}) was given for {url} but no mirror_path to find it there")
    rel = mirror_path.lstrip("/")
    if "://" in mirror:
        # Quote the relative part: mirror paths may hold characters URLs do not allow.
        return mirror.rstrip("/") + "/" + urllib.parse.quote(rel)
    return str(Path(mirror) / rel)


@contextmanager
def _open_source(location: str, timeout: float) -> Iterator[tuple[BinaryIO, int | None, bool]]:
    """Open http(s)://, ftp://, file:// or a plain path; yield (stream, size in bytes if known,
    framed): framed when the end of the stream is itself proof that all of it came (a local
    file; HTTP chunked transfer, where http.client raises IncompleteRead without the last chunk)."""
    scheme = urllib.parse.urlsplit(location).scheme.lower()
    if scheme in ("http", "https", "ftp"):
        request = urllib.request.Request(location, headers={"User-Agent": "genomic-ulmfit"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            yield (response, int(length) if length and length.isdigit() else None,
                   bool(getattr(response, "chunked", False)))
        return
    path = _local_path(location)
    if path is None:
        raise ValueError(f"unsupported URL scheme '{scheme}' in {location}; expected http(s)://, file:// or a path")
    with open(path, "rb") as fh:
        yield fh, path.stat().st_size, True


def _self_delimited_complete(path: Path) -> str | None:
    """What proves `path` whole when only a closed connection ended it, or None: a gzip stream
    whose every member ends with its CRC/size trailer (a .tar.gz also ends its tar), a zip
    with its end-of-central-directory record."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                while gz.read(_CHUNK):
                    pass
        except (EOFError, OSError, zlib.error):
            return None
        if _is_tar_gz(path):
            try:
                with tarfile.open(path, "r:gz") as tar:
                    tar.getmembers()
            except (tarfile.TarError, EOFError, OSError):
                return None
        return "gzip trailer"
    if magic == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as zf:
                zf.infolist()
        except (zipfile.BadZipFile, OSError):
            return None
        return "zip end-of-central-directory"
    return None


def _is_tar_gz(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as gz:
            block = gz.read(512)
    except (EOFError, OSError, zlib.error):
        return False
    return len(block) == 512 and block[257:262] == b"ustar"


def _copy_stream(src: BinaryIO, dst: BinaryIO, size: int | None, label: str) -> tuple[int, str]:
    """Copy src to dst, hashing on the way; returns (bytes copied, sha256)."""
    from tqdm import tqdm  # here: genomic_ulmfit.config imports this module for its entry checks

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


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _write_record(path: Path, sha: str) -> Path:
    record = _record_path(path)
    write_text(record, f"{sha}  {path.name}\n")
    return record


def _download(location: str, dest: Path, expected: str | None, timeout: float, prefix: str,
              pinned_by: str = "") -> tuple[int, str]:
    """Stream `location` to a temporary file next to `dest`, check its size and sha256 and
    move it onto `dest`. Returns (bytes, sha256). Leaves nothing behind on failure."""
    actual: str | None = None
    try:
        with atomic_path(dest, suffix=".part") as tmp:
            with open(tmp, "wb") as out, _open_source(location, timeout) as (src, size, framed):
                copied, actual = _copy_stream(src, out, size, dest.name)
            if size is not None and copied != size:
                raise FetchError(
                    f"{prefix}download of {location} is truncated: got {copied} of {size} bytes "
                    f"(expected sha256 {expected or 'unset'}, actual sha256 {actual})"
                )
            if expected and actual != expected:
                raise FetchError(
                    f"{prefix}checksum mismatch for {location}: expected sha256 {expected}{pinned_by}, "
                    f"actual sha256 {actual} ({copied} bytes)"
                )
            if not expected and size is None and not framed and not _self_delimited_complete(tmp):
                # Only a closed connection ended it: a server that drops it midway looks the same.
                raise FetchError(
                    f"{prefix}download of {location} cannot be shown complete: the server sent no "
                    f"Content-Length and ended the transfer by closing the connection ({copied} bytes, "
                    f"not a complete gzip/zip); set the source's sha256 to verify it"
                )
    except BaseException as err:
        if isinstance(err, FetchError) or not isinstance(err, Exception):
            raise
        raise FetchError(
            f"{prefix}could not fetch {location}: {_one_line(err)} "
            f"(expected sha256 {expected or 'unset'}, actual sha256 {actual or 'not computed'})"
        ) from err
    return copied, actual


def _fetch_file(location: str, dest: Path, expected: str | None, timeout: float, prefix: str,
                *, record_unverified: bool = True) -> Path:
    """_download, then the `sha256: null` record and the log lines. Without `expected`, the
    sha256 recorded beside `dest` at its first download is enforced: a file that changed
    upstream (or came truncated) is refused, not silently taken as the new truth."""
    started = time.monotonic()
    logger.info("%sfetching %s -> %s", prefix, location, dest)
    recorded = None if expected else _recorded_sha(dest)
    pinned_by = f" (recorded at its first download in {_record_path(dest)})" if recorded else ""
    copied, actual = _download(location, dest, expected or recorded, timeout, prefix, pinned_by)
    if not expected and not recorded and record_unverified:
        record = _write_record(dest, actual)
        logger.warning("%s%s fetched without a checksum to verify (sha256: null); its sha256 is %s, "
                       "recorded in %s and enforced from now on: put it in the source's sha256",
                       prefix, location, actual, record)
    logger.info("fetched %s (%d bytes, sha256 %s) in %.1f s", dest, copied, actual, time.monotonic() - started)
    return dest


# -- the entry point -------------------------------------------------------------------


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None,
    mirror: str | None = None,
    mirror_path: str | None = None,
    *,
    member: str | None = None,
    osf: dict | None = None,
    ncbi_genome: dict | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a source to `dest`, verifying `sha256`.

    `url` alone: that file. With `member`: that file or directory inside the archive at `url`
    (`sha256` is the archive's; the archive is cached in `cache_dir`, default
    `<dest's folder>/_archives`). With `osf` ({node, path}): that file of the OSF project,
    found through the OSF API. With `ncbi_genome` ({taxon} or {accession}): that genome's
    genomic.fna.gz, resolved through NCBI Datasets (recorded in `<dest>.resolved.json`).
    With `mirror`: a remote source is read from mirror + "/" + mirror_path instead (a
    member's archive; an OSF or NCBI source's final file unless its API's environment
    variable is set); a file:// or local-path `url` is read where it is.

    With `sha256=None` (or "null"/"none": a source whose checksum is not known yet) the file
    is accepted unverified if its download is shown complete; its sha256 is logged, recorded
    in `<file>.sha256` and enforced on later fetches to `dest`.
    An existing `dest` with the expected checksum is kept without downloading.
    Raises FetchError with one line naming the source, the URL (and member) used and what was
    expected; after a failure neither `dest` nor a temporary file is left behind.
    """
    dest = Path(dest)
    entry = {"url": url, "member": member, "osf": osf, "ncbi_genome": ncbi_genome}
    problem = source_problem(entry)
    if problem:
        raise ValueError(f"source {name or url!r}: {problem}")
    kind = source_kind(entry)
    prefix = f"source {name!r}: " if name else ""
    expected = _normalise_sha256(sha256, url or name or str(dest))
    pinned = expected or (_recorded_sha(dest) if kind != "member" else None)  # see _fetch_file
    if pinned and kind != "member" and dest.is_file() and sha256_of(dest) == pinned:
        logger.info("%s already present with sha256 %s; not downloading", dest, pinned)
        return dest
    local_url = bool(url) and _is_local(url)
    if mirror and not local_url and not _api_redirected(kind):
        if kind == "member":  # the mirror holds the archive, as upstream does
            archive = resolve_url(url, mirror, mirror_path)
            return _fetch_member(archive, member, dest, expected, cache_dir, timeout, prefix)
        return _fetch_file(resolve_url(url, mirror, mirror_path), dest, expected, timeout, prefix)
    if kind == "member":
        return _fetch_member(url, member, dest, expected, cache_dir, timeout, prefix)
    if kind == "osf":
        location, osf_sha = _osf_resolve(osf, timeout, prefix)
        check = expected or osf_sha
        if not expected and osf_sha:
            logger.info("%sno sha256 in the source; verifying against the sha256 OSF reports, %s", prefix, osf_sha)
        _fetch_file(location, dest, check, timeout, prefix, record_unverified=False)
        if not expected:
            record = _write_record(dest, sha256_of(dest))
            logger.warning("%sOSF %s/%s fetched with sha256: null; its sha256 %s is recorded in %s: put it in "
                           "the source's sha256 to verify later downloads", prefix, osf["node"], osf["path"],
                           record.read_text().split()[0], record)
        return dest
    if kind == "ncbi_genome":
        resolved = _ncbi_resolve(ncbi_genome, timeout, prefix)
        location = ncbi_ftp_url(resolved["accession"], resolved["assembly_name"])
        _fetch_file(location, dest, expected, timeout, prefix)
        resolved["url"] = location
        resolved["sha256"] = sha256_of(dest) if not expected else expected
        write_json(dest.with_name(dest.name + ".resolved.json"), resolved)
        logger.info("%sresolved %s to %s %s (%s); pin it with ncbi_genome: {accession: %s, assembly_name: %s}",
                    prefix, json.dumps(ncbi_genome), resolved["accession"], resolved["assembly_name"],
                    resolved["reason"], resolved["accession"], json.dumps(resolved["assembly_name"]))
        return dest
    return _fetch_file(url, dest, expected, timeout, prefix)


def fetch_source(entry: dict, dest: str | os.PathLike[str], mirror: str | None = None, *,
                 name: str | None = None, cache_dir: str | os.PathLike[str] | None = None,
                 timeout: float = 60.0) -> Path:
    """`fetch` for one entry of a sources YAML file (url, sha256, mirror_path and member, osf
    or ncbi_genome); `name` (or the entry's `name`) labels the messages."""
    unknown = sorted(set(entry) - set(FETCH_KEYS) - {"name", "description"})
    if unknown:
        raise ValueError(f"source {name or entry.get('name')!r}: unknown keys {unknown}; allowed: {sorted(FETCH_KEYS)}")
    url = entry.get("url") or default_url(entry) or ""
    if not url and source_kind(entry) in ("url", "member"):
        raise ValueError(f"source {name or entry.get('name')!r} has no url")
    return fetch(url, dest, entry.get("sha256"), mirror=mirror or None, mirror_path=entry.get("mirror_path"),
                 member=entry.get("member"), osf=entry.get("osf"), ncbi_genome=entry.get("ncbi_genome"),
                 cache_dir=cache_dir, name=name or entry.get("name"), timeout=timeout)


# -- archive members -------------------------------------------------------------------


def _unsafe_path(name: str) -> bool:
    """True for a path that could leave the folder it is extracted into."""
    if not name or name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part in ("..", "") for part in name.split("/"))


def _norm(name: str) -> str:
    """An archive entry name without a leading './' and trailing '/'."""
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


class _Archive:
    """The entries of a .tar(.gz/.bz2/.xz) or .zip: {name: (kind, handle)}, kind 'file'/'dir'/'other'."""

    def __init__(self, path: Path, label: str):
        self.path = path
        self._zip = self._tar = None
        if zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
            self.entries = {_norm(i.filename): ("dir" if i.is_dir() else "file", i) for i in infos}
        elif tarfile.is_tarfile(path):
            self._tar = tarfile.open(path, "r:*")
            members = self._tar.getmembers()
            self.entries = {_norm(m.name): ("dir" if m.isdir() else "file" if m.isfile() else "other", m)
                            for m in members}
        else:
            raise FetchError(f"{label}is not a .tar.gz/.tgz/.tar/.zip archive")
        self.entries.pop("", None)  # './' itself
        # Folders a zip (or tar) holds only implicitly, through the paths of their files.
        for entry_name in list(self.entries):
            parts = entry_name.split("/")
            for i in range(1, len(parts)):
                self.entries.setdefault("/".join(parts[:i]), ("dir", None))

    def open(self, handle) -> BinaryIO:
        return self._zip.open(handle) if self._zip is not None else self._tar.extractfile(handle)

    def close(self) -> None:
        (self._zip or self._tar).close()

    def find(self, member: str) -> str | None:
        """The entry name of `member`: at the root, or under the archive's only top-level folder."""
        if member in self.entries:
            return member
        tops = {n.split("/", 1)[0] for n in self.entries}
        if len(tops) == 1:
            (top,) = tops
            if self.entries.get(top, ("",))[0] == "dir" and f"{top}/{member}" in self.entries:
                return f"{top}/{member}"
        return None

    def missing_message(self, member: str) -> str:
        base = posixpath.basename(member).lower()
        want = member.lower()
        names = sorted(self.entries)
        near = [n for n in names if n.lower() == want or n.lower().endswith("/" + want)]
        near += [n for n in names if n not in near and n.lower().rsplit("/", 1)[-1] == base]
        tops = sorted({n.split("/", 1)[0] for n in names})
        shown_tops = tops[:8] + ([f"... {len(tops) - 8} more"] if len(tops) > 8 else [])
        hint = f"paths ending in {posixpath.basename(member)!r}: {near[:5]}" if near else "no path ends in it"
        return (f"has no member {member!r} (a path relative to the archive root); {hint}; "
                f"its top-level entries: {shown_tops} ({len(names)} entries in all): set member: to one of its paths")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (POSIX); removed afterwards. Two jobs fetching the same
    archive then download it once; without the lock (elsewhere) both would, still safely."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _archive_is_valid(path: Path, expected: str | None) -> bool:
    """A cached archive with the expected sha256, or (sha256 unknown) the one recorded at its download."""
    if not path.is_file():
        return False
    actual = sha256_of(path)
    if expected:
        return actual == expected
    return _recorded_sha(path) == actual


def _cached_archive(url: str, expected: str | None, cache_dir: Path, timeout: float, prefix: str) -> Path:
    """The archive at `url`, downloaded once into `cache_dir` and verified."""
    archive_name = Path(urllib.parse.urlsplit(url).path).name or "archive"
    created = not cache_dir.exists()
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / archive_name
    try:
        with _locked(cache_dir / f".{archive_name}.lock"):
            if _archive_is_valid(path, expected):
                logger.info("%susing the cached archive %s (sha256 %s)", prefix, path, expected or "as recorded")
                return path
            _fetch_file(url, path, expected, timeout, prefix)
            return path
    except BaseException:
        if created and not any(cache_dir.iterdir()):
            cache_dir.rmdir()  # a failed first download leaves no empty cache behind
        raise


def _fetch_member(url: str, member: str, dest: Path, expected: str | None, cache_dir, timeout: float,
                  prefix: str) -> Path:
    local = _local_path(url) if _is_local(url) else None
    if local is not None:
        # A local archive is read where it is, after checking it.
        if not local.is_file():
            raise FetchError(f"{prefix}could not fetch {url}: no such archive file (member {member!r})")
        actual = sha256_of(local)
        if expected and actual != expected:
            raise FetchError(f"{prefix}checksum mismatch for {url}: expected sha256 {expected}, actual sha256 {actual} "
                             f"(the archive holding member {member!r})")
        if not expected:
            logger.warning("%s%s read without a checksum to verify (sha256: null); the archive's sha256 is %s: "
                           "put it in the source's sha256", prefix, url, actual)
        archive_path = local
    else:
        cache = Path(cache_dir) if cache_dir is not None else dest.parent / "_archives"
        archive_path = _cached_archive(url, expected, cache, timeout, prefix)
    label = f"{prefix}{archive_path.name} (from {url}) "
    try:
        archive = _Archive(archive_path, label)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as err:
        raise FetchError(f"{label}could not be read as an archive: {_one_line(err)}") from err
    try:
        return _extract(archive, member, dest, label, prefix)
    finally:
        archive.close()


def _extract(archive: _Archive, member: str, dest: Path, label: str, prefix: str) -> Path:
    want_dir = member.endswith("/")
    wanted = _norm(member.strip("/"))
    found = archive.find(wanted)
    if found is None:
        raise FetchError(label + archive.missing_message(wanted))
    kind, handle = archive.entries[found]
    if kind == "other":
        raise FetchError(f"{label}member {found!r} is a link or special file, not a file or directory; refusing it")
    if want_dir and kind != "dir":
        raise FetchError(f"{label}member {found!r} is a file, but the source names a directory ({member!r})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if kind == "file":
        try:
            with atomic_path(dest, suffix=".part") as tmp:
                with open(tmp, "wb") as out, archive.open(handle) as src:
                    copied, sha = _copy_stream(src, out, None, dest.name)
        except Exception as err:
            if isinstance(err, FetchError):
                raise
            raise FetchError(f"{label}could not extract member {found!r}: {_one_line(err)}") from err
        logger.info("%sextracted %s from %s -> %s (%d bytes, sha256 %s)",
                    prefix, found, archive.path, dest, copied, sha)
        return dest
    # A directory: every entry under it, refusing paths that would leave it and links.
    inside = [(n[len(found) + 1:], archive.entries[n]) for n in sorted(archive.entries) if n.startswith(found + "/")]
    # Real entries first (a folder a zip holds only implicitly names no entry of its own).
    for rel, (entry_kind, handle_) in sorted(inside, key=lambda item: item[1][1] is None):
        raw = getattr(handle_, "name", None) or getattr(handle_, "filename", None) or rel
        if _unsafe_path(rel) or _unsafe_path(_norm(raw)):
            raise FetchError(f"{label}entry {raw!r} of member {found!r} would be written outside {dest}; "
                             f"refusing to extract it")
        if entry_kind == "other":
            raise FetchError(f"{label}entry {raw!r} of member {found!r} is a link or special file; refusing it")
    files = 0
    try:
        with atomic_dir(dest) as tmp:
            for rel, (entry_kind, handle_) in inside:
                target = tmp.joinpath(*rel.split("/"))
                if entry_kind == "dir":
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out, archive.open(handle_) as src:
                    shutil.copyfileobj(src, out, _CHUNK)
                files += 1
    except Exception as err:
        if isinstance(err, FetchError):
            raise
        raise FetchError(f"{label}could not extract directory member {found!r}: {_one_line(err)}") from err
    logger.info("%sextracted directory %s (%d files) from %s -> %s", prefix, found, files, archive.path, dest)
    return dest


# -- JSON APIs (OSF, NCBI Datasets) ------------------------------------------------------


def _get_json(url: str, timeout: float, prefix: str, what: str, tries: int = 4) -> dict:
    """GET a JSON document; retries rate limits (429) and server errors with backoff."""
    request = urllib.request.Request(url, headers={"User-Agent": "genomic-ulmfit", "Accept": "application/json"})
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            body = ""
            try:
                body = _one_line(err.read().decode("utf-8", "replace"))[:300]
            except Exception:  # noqa: BLE001 - the body only decorates the message
                pass
            if (err.code == 429 or err.code >= 500) and attempt < tries - 1:
                time.sleep(2 ** attempt)
                continue
            raise FetchError(f"{prefix}{what}: {url} answered HTTP {err.code} {err.reason}"
                             + (f": {body}" if body else "")) from err
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            if attempt < tries - 1:
                time.sleep(2 ** attempt)
                continue
            raise FetchError(f"{prefix}{what}: could not reach {url}: {_one_line(err)}") from err
        except ValueError as err:
            raise FetchError(f"{prefix}{what}: {url} did not answer JSON: {_one_line(err)}") from err
    raise AssertionError("unreachable")


def _osf_pages(url: str, timeout: float, prefix: str, what: str) -> Iterator[dict]:
    """The `data` items of a paginated OSF (JSON:API) listing, following links.next."""
    seen = set()
    while url and url not in seen and len(seen) < 200:
        seen.add(url)
        page = _get_json(url, timeout, prefix, what)
        yield from page.get("data") or []
        url = (page.get("links") or {}).get("next")
        if isinstance(url, dict):  # JSON:API allows link objects
            url = url.get("href")


def _osf_resolve(spec: dict, timeout: float, prefix: str) -> tuple[str, str | None]:
    """(download URL, sha256 OSF reports or None) of spec's path in the node's osfstorage."""
    node, path = spec["node"], spec["path"].strip("/")
    what = f"OSF node {node}, file {path!r}"
    root = f"{_endpoint('osf')}/nodes/{urllib.parse.quote(node)}/files/osfstorage/"
    want = "/" + path
    queue: list[tuple[str, int]] = [(root, 0)]
    names: list[str] = []
    by_name: list[dict] = []
    requests = 0
    while queue and requests < 50:
        url, depth = queue.pop(0)
        requests += 1
        for item in _osf_pages(url, timeout, prefix, what):
            attrs = item.get("attributes") or {}
            materialized = attrs.get("materialized_path") or "/" + str(attrs.get("name", ""))
            if attrs.get("kind") == "folder":
                href = (((item.get("relationships") or {}).get("files") or {}).get("links") or {}).get("related")
                href = href.get("href") if isinstance(href, dict) else href
                # Into folders on the way to the path, or anywhere for a bare file name.
                if href and depth < 6 and ("/" not in path or want.startswith(materialized.rstrip("/") + "/")):
                    queue.append((href, depth + 1))
                continue
            names.append(materialized.lstrip("/"))
            if materialized == want or (depth == 0 and attrs.get("name") == path):
                return _osf_link(item, what, prefix), ((attrs.get("extra") or {}).get("hashes") or {}).get("sha256")
            if "/" not in path and attrs.get("name") == path:
                by_name.append(item)
    if len(by_name) == 1:
        item = by_name[0]
        attrs = item["attributes"]
        logger.info("%s%s found in a folder: %s", prefix, what, attrs.get("materialized_path"))
        return _osf_link(item, what, prefix), ((attrs.get("extra") or {}).get("hashes") or {}).get("sha256")
    if by_name:
        paths = [i["attributes"].get("materialized_path") for i in by_name][:5]
        raise FetchError(f"{prefix}{what}: the name is in several folders {paths}; give osf.path with its folder")
    shown = names[:8] + ([f"... {len(names) - 8} more"] if len(names) > 8 else [])
    raise FetchError(f"{prefix}OSF node {node} has no file {path!r} in osfstorage (listing {root}); "
                     f"files there: {shown}")


def _osf_link(item: dict, what: str, prefix: str) -> str:
    link = (item.get("links") or {}).get("download")
    if not link:
        raise FetchError(f"{prefix}{what}: the OSF listing gives no links.download for it")
    return link


_LEVELS = {"complete genome": 4, "chromosome": 3, "scaffold": 2, "contig": 1}
_CATEGORIES = {"reference genome": 2, "representative genome": 1}


def _norm_name(name: object) -> str:
    return " ".join(str(name or "").split()).casefold()


def _assembly_rank(report: dict, taxon: str | None) -> tuple:
    """Sort key, best last: exact organism name, RefSeq category, assembly level, release date, accession."""
    info = report.get("assembly_info") or {}
    level = str(info.get("assembly_level") or "").lower().replace("_", " ")
    return (
        taxon is not None and _norm_name((report.get("organism") or {}).get("organism_name")) == _norm_name(taxon),
        _CATEGORIES.get(str(info.get("refseq_category") or "").lower(), 0),
        _LEVELS.get(level, 0),
        str(info.get("release_date") or info.get("submission_date") or ""),
        str(report.get("accession") or ""),
    )


def pick_assembly(reports: list[dict], taxon: str | None) -> dict | None:
    """The best RefSeq (GCF_) report: exact organism name first, then reference over
    representative over none, the highest assembly level, the latest release; None if none."""
    refseq = [r for r in reports if str(r.get("accession", "")).startswith("GCF_")]
    return max(refseq, key=lambda r: _assembly_rank(r, taxon)) if refseq else None


def _dataset_reports(url: str, timeout: float, prefix: str, what: str, pages: int = 10) -> list[dict]:
    reports: list[dict] = []
    token = None
    for _ in range(pages):
        page = _get_json(url + (f"&page_token={urllib.parse.quote(token)}" if token else ""), timeout, prefix, what)
        reports.extend(page.get("reports") or [])
        token = page.get("next_page_token")
        if not token:
            break
    return reports


def _summary(report: dict) -> dict:
    info = report.get("assembly_info") or {}
    return {
        "accession": report.get("accession"),
        "assembly_name": info.get("assembly_name"),
        "organism_name": (report.get("organism") or {}).get("organism_name"),
        "tax_id": (report.get("organism") or {}).get("tax_id"),
        "refseq_category": info.get("refseq_category"),
        "assembly_level": info.get("assembly_level"),
        "release_date": info.get("release_date"),
    }


def _ncbi_resolve(spec: dict, timeout: float, prefix: str) -> dict:
    """{accession, assembly_name, ..., reason} of an ncbi_genome spec, through NCBI Datasets v2."""
    api = _endpoint("ncbi_datasets")
    accession, taxon = spec.get("accession"), spec.get("taxon")
    if accession:
        if spec.get("assembly_name"):
            return {"accession": accession, "assembly_name": spec["assembly_name"], "taxon": taxon,
                    "reason": "accession and assembly name pinned in the source"}
        what = f"NCBI genome {accession}"
        url = f"{api}/genome/accession/{urllib.parse.quote(accession, safe='')}/dataset_report"
        reports = [r for r in _dataset_reports(url + "?page_size=10", timeout, prefix, what)
                   if r.get("accession") == accession]
        if not reports or not (reports[0].get("assembly_info") or {}).get("assembly_name"):
            raise FetchError(f"{prefix}{what}: NCBI Datasets has no assembly report for it ({url})")
        return {**_summary(reports[0]), "taxon": taxon, "reason": "accession pinned in the source"}
    what = f"NCBI genome of taxon {taxon!r}"
    base = f"{api}/genome/taxon/{urllib.parse.quote(taxon, safe='')}/dataset_report"
    query = "?filters.reference_only=true&filters.assembly_source=refseq&page_size=1000"
    references = [r for r in _dataset_reports(base + query, timeout, prefix, what)
                  if str((r.get("assembly_info") or {}).get("refseq_category") or "").lower() in _CATEGORIES]
    best = pick_assembly(references, taxon)
    if best is not None:
        reason = (f"the RefSeq {(best.get('assembly_info') or {}).get('refseq_category')} of {taxon!r}"
                  + (f" (best of {len(references)})" if len(references) > 1 else ""))
        return {**_summary(best), "taxon": taxon, "reason": reason}
    query = "?filters.assembly_source=refseq&tax_exact_match=true&page_size=1000"
    reports = _dataset_reports(base + query, timeout, prefix, what)
    exact = [r for r in reports if _norm_name((r.get("organism") or {}).get("organism_name")) == _norm_name(taxon)]
    best = pick_assembly(exact, taxon)
    if best is None:
        found = sorted({str((r.get("organism") or {}).get("organism_name")) for r in reports})[:5]
        raise FetchError(f"{prefix}{what}: NCBI Datasets lists no RefSeq reference genome and no RefSeq assembly "
                         f"of exactly that organism ({base}); organisms it returned: {found or 'none'}; "
                         f"check the taxon's spelling in NCBI Taxonomy or pin ncbi_genome: {{accession: GCF_...}}")
    info = best.get("assembly_info") or {}
    reason = (f"no RefSeq reference genome of {taxon!r}; the highest-level ({info.get('assembly_level')}), "
              f"latest ({info.get('release_date')}) of its {len(exact)} RefSeq assemblies")
    return {**_summary(best), "taxon": taxon, "reason": reason}


def ncbi_ftp_url(accession: str, assembly_name: str) -> str:
    """genomes/all/GCF/ddd/ddd/ddd/<acc>_<asm>/<acc>_<asm>_genomic.fna.gz on NCBI's FTP (over HTTPS)."""
    m = re.match(r"^(GC[AF])_(\d{3})(\d{3})(\d{3})\.\d+$", accession)
    if not m:
        raise FetchError(f"NCBI accession {accession!r} is not of the form GCF_000000000.1")
    stem = f"{accession}_{_ftp_assembly_name(assembly_name)}"
    return f"{_endpoint('ncbi_ftp')}/{m[1]}/{m[2]}/{m[3]}/{m[4]}/{stem}/{stem}_genomic.fna.gz"


# -- lock files and `genomic-ulmfit sources --check` -------------------------------------
#
# A sources file's checksums that are not known yet (`sha256: null`) are filled in once, by
# `genomic-ulmfit sources --check`, into a lock file beside it: <stem>.lock.yaml, a map
# `name: {sha256, size[, accession, assembly_name]}`. `load_sources` reads it and fills each
# null sha256 from it, so every later download is verified.

LOCK_SUFFIX = ".lock.yaml"
_LOCK_KEYS = ("sha256", "size", "accession", "assembly_name")
_LOCK_HEADER = (
    "# Checksums of the sources in {name} whose sha256 is null there, written by\n"
    "# `genomic-ulmfit sources --check` (make sources-check). genomic_ulmfit.config.load_sources\n"
    "# fills those null sha256 from here, so later downloads are verified. Commit this file.\n"
    "# An entry here that disagrees with a sha256 in {name} is an error; delete an entry to\n"
    "# record that source again. ncbi_genome sources: accession and assembly_name are what the\n"
    "# taxon resolved to (copy them into the source's ncbi_genome to pin it).\n"
)


def lock_path(sources_file: str | os.PathLike[str]) -> Path:
    """The lock file beside a sources file: resources/paper_sources.yaml ->
    resources/paper_sources.lock.yaml."""
    path = Path(sources_file)
    return path.with_name(path.stem + LOCK_SUFFIX)


def read_lock(path: str | os.PathLike[str]) -> dict:
    """The entries of a lock file ({} when there is none), checked: each a mapping with a
    64-hex sha256. Raises ValueError naming the lock file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"lock file {path}: not valid YAML: {_one_line(err)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"lock file {path}: expected a map of source name -> {{sha256, size}}, "
                         f"got {type(data).__name__}")
    for name, entry in data.items():
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(sha, str) or not _SHA256_RE.match(sha):
            raise ValueError(f"lock file {path}: source {name!r} needs sha256: <64 hex digits>, got {entry!r}")
        extra = sorted(set(entry) - set(_LOCK_KEYS))
        if extra:
            raise ValueError(f"lock file {path}: source {name!r} has unknown keys {extra}; "
                             f"allowed: {list(_LOCK_KEYS)}")
    return data


def apply_lock(sources: dict, sources_file: str | os.PathLike[str]) -> dict:
    """`sources` (one sources file's entries) with each null sha256 filled from the file's
    lock. A lock entry naming no source of the file, or disagreeing with a sha256 the file
    sets, is a ValueError naming the lock file (and the sources file)."""
    lock_file = lock_path(sources_file)
    lock = read_lock(lock_file)
    if not lock:
        return sources
    unknown = sorted(set(lock) - set(sources))
    if unknown:
        raise ValueError(f"lock file {lock_file}: {unknown} are not sources of {sources_file}; "
                         f"remove them from the lock file (or restore the sources)")
    out = dict(sources)
    for name, entry in lock.items():
        src = sources[name]
        if not isinstance(src, dict):
            continue  # load_sources reports it
        have = src.get("sha256")
        if have is None or (isinstance(have, str) and have.strip().lower() in UNKNOWN_SHA256):
            out[name] = {**src, "sha256": entry["sha256"]}
        elif str(have).strip().lower() != entry["sha256"]:
            raise ValueError(f"source {name!r}: {sources_file} sets sha256 {have} but its lock file {lock_file} "
                             f"records sha256 {entry['sha256']}; fix one of them (or remove the lock entry)")
    return out


def write_lock(path: str | os.PathLike[str], entries: dict, order: list[str] | None = None) -> Path:
    """Merge `entries` ({name: {sha256, size, ...}}) into the lock file at `path`, written
    atomically (a temporary file beside it, then os.replace). Entries keep `order` (the
    sources file's order) where given; an entry's fields replace the old ones, except that
    accession / assembly_name recorded before are kept when the sha256 is the same and the
    new entry lacks them (e.g. read from a mirror, where nothing is resolved)."""
    import yaml

    path = Path(path)
    merged = dict(read_lock(path))
    for name, entry in entries.items():
        new = {k: entry[k] for k in _LOCK_KEYS if entry.get(k) is not None}
        old = merged.get(name) or {}
        if old.get("sha256") == new.get("sha256"):
            new = {**{k: v for k, v in old.items() if k in ("accession", "assembly_name")}, **new}
            new = {k: new[k] for k in _LOCK_KEYS if k in new}
        merged[name] = new
    rank = {name: i for i, name in enumerate(order or [])}
    ordered = dict(sorted(merged.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))
    sources_name = path.name[: -len(LOCK_SUFFIX)] + ".yaml" if path.name.endswith(LOCK_SUFFIX) else "the sources file"
    text = _LOCK_HEADER.format(name=sources_name) + yaml.safe_dump(ordered, sort_keys=False, width=1000)
    write_text(path, text)
    return path


def config_source_uses(config: dict) -> dict[str, list[str]]:
    """The sources a workflow config uses, each with the config keys naming it: tasks'
    inputs, corpora's genomes, deepsea.source and the interpretation specs' sources."""
    from .config import interpret_specs

    uses: dict[str, list[str]] = {}

    def use(name, where: str) -> None:
        if isinstance(name, str):
            uses.setdefault(name, []).append(where)

    for task_name, task in (config.get("tasks") or {}).items():
        for role, src in ((task or {}).get("inputs") or {}).items():
            use(src, f"tasks.{task_name}.inputs.{role}")
    for corpus_name, corpus in (config.get("corpora") or {}).items():
        for src in (corpus or {}).get("genomes") or []:
            use(src, f"corpora.{corpus_name}.genomes")
    if config.get("deepsea"):
        use(config["deepsea"].get("source"), "deepsea.source")
    for where, spec in interpret_specs(config):
        for section, key in (("motifs", "jaspar"), ("scan", "genome"), ("scan", "annotation"),
                             ("variants", "vcf"), ("variants", "genome")):
            use(((spec or {}).get(section) or {}).get(key), f"{where}.{section}.{key}")
    return uses


def default_repo() -> Path:
    """The checkout this package is in (the folder holding workflow/Snakefile), else the
    current directory."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "workflow" / "Snakefile").is_file() else Path.cwd()


def _sources_files(config: dict, repo: Path) -> list[Path]:
    files = config.get("sources") or "resources/sources.yaml"
    return [repo / f for f in ([files] if isinstance(files, str) else files)]


def _checked_file(entry: dict, dest: Path, cache: Path, location: str) -> Path | None:
    """The file whose sha256 is the source's: the archive of a member (read where it is when
    `location`, the url or its mirror copy, is local; else from the cache), else what was
    fetched to `dest`."""
    if source_kind(entry) != "member":
        return dest if dest.is_file() else None
    if _is_local(location):
        return _local_path(location)
    archive = cache / (Path(urllib.parse.urlsplit(location).path).name or "archive")
    return archive if archive.is_file() else None


def _recorded_sha(path: Path) -> str | None:
    """The sha256 fetch wrote beside a file it took unverified, if it is there and current."""
    record = path.with_name(path.name + ".sha256")
    if record.is_file():
        words = record.read_text().split()
        if words and _SHA256_RE.match(words[0]):
            return words[0]
    return None


def check_sources(config: dict, *, repo: str | os.PathLike[str] | None = None, mirror: str | None = None,
                  only: list[str] | None = None, every: bool = False, tmp_dir: str | os.PathLike[str] | None = None,
                  timeout: float = 60.0, out=None, err=None) -> int:
    """Download every source `config` uses (or those in `only`; `every`: every source of its
    sources files) with `fetch_source` into a temporary directory, print one line per source
    (name, sha256, size in bytes, ok / recorded / MISMATCH / FAILED / unchecked) to `out`, and
    write the sha256 of each source whose entry has `sha256: null` (and no lock entry yet)
    into the lock file beside its sources file. Returns the number of failed or mismatched
    sources, each also reported on one line to `err` (naming the source, the url and the
    expected vs actual sha256). A lock entry that no longer matches is reported, not replaced.
    """
    from .config import load_sources

    out = out or sys.stdout
    err = err or sys.stderr
    repo = Path(repo) if repo is not None else default_repo()
    files = _sources_files(config, repo)
    load_sources(files)  # names defined once across the files; every lock consistent
    raw: dict[str, tuple[Path, dict]] = {}  # name -> (sources file, entry as written there)
    locked: dict[str, dict] = {}  # name -> entry with the lock's sha256 filled in
    order: dict[Path, list[str]] = {}
    for path in files:
        written = load_sources(path, lock=False)
        order[path] = list(written)
        raw.update({name: (path, entry) for name, entry in written.items()})
        locked.update(load_sources(path))
    uses = config_source_uses(config)
    if only:
        unknown = sorted(set(only) - set(raw))
        if unknown:
            raise ValueError(f"--only: unknown source(s) {unknown}; the sources files {[str(f) for f in files]} "
                             f"define {sorted(raw)}")
        names = list(dict.fromkeys(only))
    elif every:
        names = list(raw)
    else:
        unknown = {n: w for n, w in uses.items() if n not in raw}
        if unknown:
            raise ValueError("; ".join(f"config key {w[0]}: unknown source {n!r}" for n, w in sorted(unknown.items()))
                             + f" (the sources files: {[str(f) for f in files]})")
        names = [n for n in raw if n in uses]  # in the sources files' order
    mirror = mirror or None
    width = max([len(n) for n in names] + [4])
    failures = 0
    # fetch's own log (fetching..., "put it in the source's sha256") is about the
    # temporary copies; keep its warnings out of the way, failures come back as errors.
    quiet = logger.level
    if logger.getEffectiveLevel() >= logging.INFO:
        logger.setLevel(logging.ERROR)
    base = Path(tempfile.mkdtemp(prefix="gulmfit-sources-check-", dir=tmp_dir))
    try:
        for i, name in enumerate(names, 1):
            src_file, written = raw[name]
            entry = {k: v for k, v in locked[name].items() if k in FETCH_KEYS}
            expected = _normalise_sha256(entry.get("sha256"), entry.get("url") or name)
            null_here = _normalise_sha256(written.get("sha256"), name) is None
            from_lock = null_here and expected is not None
            url = entry.get("url") or ""
            location = url
            if mirror and url and not _is_local(url) and not _api_redirected(source_kind(entry)):
                try:
                    location = resolve_url(url, mirror, entry.get("mirror_path"))
                except ValueError:
                    location = url
            where = url + (f" (read from {location})" if location != url else "")
            print(f"[{i}/{len(names)}] checking {name}: {where}", file=err, flush=True)
            work = base / f"{i:04d}"
            cache = work / "_archives"
            dest = work / name / source_file_name(entry)
            sha = size = None
            try:
                fetch_source({**entry, "sha256": None}, dest, mirror=mirror, name=name, cache_dir=cache,
                             timeout=timeout)
                checked = _checked_file(entry, dest, cache, location)
                if checked is not None:
                    # fetch wrote the sha256 of what it took unverified beside it; a local archive
                    # is read where it is (a .sha256 there is not fetch's): hash it.
                    is_local_archive = source_kind(entry) == "member" and _is_local(location)
                    sha = (None if is_local_archive else _recorded_sha(checked)) or sha256_of(checked)
                    size = checked.stat().st_size
            except (FetchError, ValueError, OSError) as e:
                failures += 1
                print(f"{name:<{width}}  {'-':<64}  {'-':>12}  FAILED", file=out, flush=True)
                # fetch ran with sha256 null (to report the actual one): its "(expected sha256 unset,
                # ...)" would mislead; the expected one is the source's (or its lock's).
                reason = re.sub(r"\s*\(expected sha256 unset, actual sha256 ([^)]*)\)", "", _one_line(e))
                actual = re.search(r"actual sha256 ([0-9a-f]{64})", _one_line(e))
                print(f"FAILED source {name!r} ({where}): {reason}; expected sha256 "
                      f"{expected or 'null (not known)'}, actual sha256 {actual[1] if actual else 'not computed'}",
                      file=err, flush=True)
                shutil.rmtree(work, ignore_errors=True)
                continue
            if sha is None:  # nothing left to hash (cannot happen after a fetch that succeeded)
                print(f"{name:<{width}}  {'-':<64}  {'-':>12}  unchecked", file=out, flush=True)
            elif expected and sha != expected:
                failures += 1
                recorded_in = lock_path(src_file) if from_lock else src_file
                print(f"{name:<{width}}  {sha:<64}  {size:>12}  MISMATCH", file=out, flush=True)
                print(f"MISMATCH source {name!r} ({where}): expected sha256 {expected} (from {recorded_in}), "
                      f"actual sha256 {sha} ({size} bytes)", file=err, flush=True)
            elif expected:
                print(f"{name:<{width}}  {sha:<64}  {size:>12}  ok", file=out, flush=True)
            else:
                record = {"sha256": sha, "size": size}
                resolved = dest.with_name(dest.name + ".resolved.json")
                if source_kind(entry) == "ncbi_genome" and resolved.is_file():
                    info = json.loads(resolved.read_text())
                    record.update({k: info.get(k) for k in ("accession", "assembly_name")})
                write_lock(lock_path(src_file), {name: record}, order[src_file])
                print(f"{name:<{width}}  {sha:<64}  {size:>12}  recorded", file=out, flush=True)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        logger.setLevel(quiet)
        shutil.rmtree(base, ignore_errors=True)
    print(f"{len(names)} source(s) checked, {failures} failed or mismatched", file=err, flush=True)
    return failures


def list_sources(config: dict, *, repo: str | os.PathLike[str] | None = None, out=None) -> None:
    """One line per source the config uses: name, sha256 (or null) and where it comes from
    (the sources file or its lock), without downloading anything."""
    from .config import load_sources

    out = out or sys.stdout
    repo = Path(repo) if repo is not None else default_repo()
    uses = config_source_uses(config)
    for path in _sources_files(config, repo):
        written, locked = load_sources(path, lock=False), load_sources(path)
        for name, entry in written.items():
            if name not in uses:
                continue
            sha = locked[name].get("sha256")
            origin = "null" if sha is None else (lock_path(path).name if written[name].get("sha256") is None
                                                 else path.name)
            print(f"{name}  {sha or '-'}  {origin}", file=out)
