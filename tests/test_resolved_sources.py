"""Sources resolved at download time, against stand-ins on 127.0.0.1 in the real formats:
archive members (.tgz / .zip in enhancer_CNN's layout), OSF files (the OSF API v2 JSON:API
listing of a node's osfstorage, paginated, with links.download), NCBI genomes by name
(NCBI Datasets v2 genome/taxon/<taxon>/dataset_report, then the genomes FTP path)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import urllib.parse
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from genomic_ulmfit.config import ConfigError, load_sources
from genomic_ulmfit.sources import (
    FetchError, fetch, fetch_source, ncbi_ftp_url, pick_assembly, source_file_name,
)
from paper_standins import DatasetsHandler, OsfHandler, OsfNode, ncbi_report
from workflow_run import REPO, planned_jobs, snakemake, write_config

SPECIES = ("Human", "Mouse", "Dog")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _samples(species: str, cls: str) -> bytes:
    base = {"positive": "ACGT", "negative": "TTGA"}[cls]
    tag = {"Human": "AA", "Mouse": "CC", "Dog": "GG"}[species]
    return "".join(f"{base * 5}{tag}{'ACG'[i]}\n" for i in range(3)).encode()


def _enhancer_files(top: str = "") -> dict[str, bytes]:
    """enhancer_CNN's archive layout: <species>/{positive,negative}_samples, one sequence a
    line, plus a peaks folder (FASTA) the notebook skips."""
    files = {f"{top}{sp}/{cls}_samples": _samples(sp, cls) for sp in SPECIES for cls in ("positive", "negative")}
    files[f"{top}peaks_fasta_files/Human_peaks.fa"] = b">chr1:1-500\nACGT\n"
    return files


def _tgz(path: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] | None = None) -> bytes:
    with tarfile.open(path, "w:gz") as tar:
        dirs = sorted({"/".join(n.split("/")[:i]) for n in files for i in range(1, n.count("/") + 1)
                       if ".." not in n.split("/")[:i]})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path.read_bytes()


def _zip(path: Path, files: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path.read_bytes()


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def served(tmp_path: Path, http_serve):
    """A served folder holding the enhancer archive (.tgz, species at the root) and a .zip
    of the same data under one top-level folder; returns (base URL, folder)."""
    folder = tmp_path / "served"
    folder.mkdir()
    _tgz(folder / "Enhancers_vs_negative.tgz", _enhancer_files())
    _zip(folder / "Enhancers_vs_negative.zip", _enhancer_files("Enhancers_vs_negative/"))
    return http_serve(folder), folder


# -- archive members -------------------------------------------------------------------


def test_file_member_from_tgz_is_extracted_and_the_archive_cached(served, tmp_path: Path) -> None:
    base, folder = served
    url = f"{base}/Enhancers_vs_negative.tgz"
    sha = _sha((folder / "Enhancers_vs_negative.tgz").read_bytes())
    cache = tmp_path / "downloads" / "_archives"
    pos = fetch(url, tmp_path / "downloads" / "enh_pos" / "positive_samples", sha,
                member="Human/positive_samples", cache_dir=cache, name="enh_pos")
    assert pos.read_bytes() == _samples("Human", "positive")
    assert _listing(cache) == ["Enhancers_vs_negative.tgz"]
    (folder / "Enhancers_vs_negative.tgz").unlink()  # the second member comes from the cache
    neg = fetch(url, tmp_path / "downloads" / "enh_neg" / "negative_samples", sha,
                member="Human/negative_samples", cache_dir=cache)
    assert neg.read_bytes() == _samples("Human", "negative")
    assert _listing(tmp_path / "downloads") == [
        "_archives", "_archives/Enhancers_vs_negative.tgz", "enh_neg", "enh_neg/negative_samples",
        "enh_pos", "enh_pos/positive_samples"]


def test_directory_member_becomes_a_directory(served, tmp_path: Path) -> None:
    base, folder = served
    dest = tmp_path / "out" / "Mouse"
    got = fetch(f"{base}/Enhancers_vs_negative.tgz", dest, None, member="Mouse/", cache_dir=tmp_path / "cache")
    assert got.is_dir() and _listing(dest) == ["negative_samples", "positive_samples"]
    assert (dest / "positive_samples").read_bytes() == _samples("Mouse", "positive")
    assert _listing(tmp_path / "out") == ["Mouse", "Mouse/negative_samples", "Mouse/positive_samples"]
    # sha256 null: the archive is accepted and its sha256 recorded next to it in the cache
    archive_sha = _sha((folder / "Enhancers_vs_negative.tgz").read_bytes())
    assert (tmp_path / "cache" / "Enhancers_vs_negative.tgz.sha256").read_text() == \
        f"{archive_sha}  Enhancers_vs_negative.tgz\n"
    # again, over an existing directory: replaced whole, from the (recorded) cache
    (folder / "Enhancers_vs_negative.tgz").unlink()
    (dest / "stale").write_text("old")
    fetch(f"{base}/Enhancers_vs_negative.tgz", dest, None, member="Mouse/", cache_dir=tmp_path / "cache")
    assert _listing(dest) == ["negative_samples", "positive_samples"]


def test_zip_member_under_the_archives_top_level_folder(served, tmp_path: Path) -> None:
    """The entries name the member relative to the archive root; an archive whose entries all
    sit in one top-level folder finds it there too."""
    base, folder = served
    entry = {"url": f"{base}/Enhancers_vs_negative.zip", "member": "Dog/negative_samples",
             "sha256": _sha((folder / "Enhancers_vs_negative.zip").read_bytes()), "mirror_path": "x"}
    got = fetch_source(entry, tmp_path / "d" / "negative_samples", cache_dir=tmp_path / "c")
    assert got.read_bytes() == _samples("Dog", "negative")
    got = fetch_source({**entry, "member": "Enhancers_vs_negative/Dog/"}, tmp_path / "d" / "Dog", cache_dir=tmp_path / "c")
    assert _listing(got) == ["negative_samples", "positive_samples"]


def test_wrong_archive_checksum_fails_and_leaves_nothing(served, tmp_path: Path) -> None:
    base, folder = served
    url = f"{base}/Enhancers_vs_negative.tgz"
    actual = _sha((folder / "Enhancers_vs_negative.tgz").read_bytes())
    out = tmp_path / "out"
    with pytest.raises(FetchError) as err:
        fetch(url, out / "positive_samples", "0" * 64, member="Human/positive_samples", name="enhancer_human_positive")
    message = str(err.value)
    assert "\n" not in message
    assert all(s in message for s in ("enhancer_human_positive", url, "0" * 64, actual))
    assert _listing(out) == []  # no member, no cached archive, no temporary file


def test_missing_member_lists_members_that_exist(served, tmp_path: Path) -> None:
    base, _ = served
    url = f"{base}/Enhancers_vs_negative.tgz"
    with pytest.raises(FetchError) as err:
        fetch(url, tmp_path / "o" / "positive_samples", None, member="samples/Human/positive_samples",
              cache_dir=tmp_path / "c", name="enhancer_human_positive")
    message = str(err.value)
    assert "\n" not in message
    assert "enhancer_human_positive" in message and "Enhancers_vs_negative.tgz" in message and url in message
    assert "'samples/Human/positive_samples'" in message
    assert "'Human', 'Mouse', 'peaks_fasta_files'" in message  # its top-level entries
    with pytest.raises(FetchError) as err:
        fetch(url, tmp_path / "o" / "positive_samples", None, member="positive_samples", cache_dir=tmp_path / "c")
    # the paths that end in the member's name: a one-step fix
    assert "'Dog/positive_samples', 'Human/positive_samples', 'Mouse/positive_samples'" in str(err.value)
    assert not (tmp_path / "o").exists() or _listing(tmp_path / "o") == []


@pytest.mark.parametrize("fmt", ["tgz", "zip"])
def test_path_traversal_in_an_archive_is_refused(tmp_path: Path, http_serve, fmt: str) -> None:
    folder = tmp_path / "served"
    folder.mkdir()
    files = {"Human/positive_samples": b"ACGT\n", "Human/../../evil.txt": b"pwned\n"}
    data = _tgz(folder / "a.tgz", files) if fmt == "tgz" else _zip(folder / "a.zip", files)
    base = http_serve(folder)
    out = tmp_path / "out"
    with pytest.raises(FetchError, match=r"evil\.txt.*outside.*refusing"):
        fetch(f"{base}/a.{fmt}", out / "Human", _sha(data), member="Human/", cache_dir=tmp_path / "cache")
    assert _listing(out) == [] and not list(tmp_path.rglob("evil.txt"))
    # a member path that leaves the archive is refused before anything is downloaded
    with pytest.raises(ValueError, match=r"without '\.\.'"):
        fetch(f"{base}/a.{fmt}", out / "x", None, member="../etc/passwd")
    with pytest.raises(ValueError, match=r"without '\.\.'"):
        fetch(f"{base}/a.{fmt}", out / "x", None, member="/etc/passwd")


def test_links_inside_a_directory_member_are_refused(tmp_path: Path, http_serve) -> None:
    folder = tmp_path / "served"
    folder.mkdir()
    link = tarfile.TarInfo("Human/escape")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    data = _tgz(folder / "a.tgz", {"Human/positive_samples": b"ACGT\n"}, extra=[link])
    base = http_serve(folder)
    with pytest.raises(FetchError, match=r"'Human/escape'.*link"):
        fetch(f"{base}/a.tgz", tmp_path / "out" / "Human", _sha(data), member="Human/", cache_dir=tmp_path / "c")
    assert _listing(tmp_path / "out") == []


def test_a_local_archive_is_read_where_it_is_even_with_a_mirror(tmp_path: Path) -> None:
    data = _tgz(tmp_path / "local.tgz", _enhancer_files())
    got = fetch((tmp_path / "local.tgz").as_uri(), tmp_path / "o" / "positive_samples", _sha(data),
                mirror="http://127.0.0.1:9", member="Dog/positive_samples")
    assert got.read_bytes() == _samples("Dog", "positive")
    assert _listing(tmp_path / "o") == ["positive_samples"]  # nothing cached for a local archive


# -- OSF ---------------------------------------------------------------------------------


class _OSF(OsfHandler):
    """api.osf.io/v2 and osf.io/download stand-in for one node (paper_standins.OsfNode: the API's
    JSON:API layout, osfclient's test fixtures): `files` at the root of osfstorage, listed 2
    items a page, `folder_files` in its folder "extra" (listed second)."""

    files: dict[str, bytes] = {}
    folder_files: dict[str, bytes] = {}
    bad_hash: set[str] = set()

    @classmethod
    def layout(cls) -> None:
        names = list(cls.files)
        files = {names[0]: cls.files[names[0]], **{f"extra/{n}": d for n, d in cls.folder_files.items()},
                 **{n: cls.files[n] for n in names[1:]}}
        cls.nodes = (OsfNode("4htpy", files, per_page=2, bad_hash=cls.bad_hash),)


def _serve(handler: type[BaseHTTPRequestHandler]):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def osf_api(monkeypatch):
    class Handler(_OSF):
        files = {"lncRNAs.train16K.fa": b">l1\nACGU\n", "README.txt": b"read me\n",
                 "mRNAs.TEST500.fa": b">m9\nAUG\n", "mRNAs.train16K.fa": b">m1\nAUGGCC\n>m2\nAUGAAA\n",
                 "lncRNAs.TEST500.fa": b">l9\nCCC\n"}
        folder_files = {"mRNAs.TRAIN.fa": b">m1\nAUGGCCAAA\n"}
        bad_hash = {"lncRNAs.TEST500.fa"}

    Handler.layout()
    server, thread, base = _serve(Handler)
    monkeypatch.setenv("GULMFIT_OSF_API", f"{base}/v2")
    yield Handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_osf_file_is_found_through_the_paginated_listing(osf_api, tmp_path: Path) -> None:
    data = osf_api.files["mRNAs.train16K.fa"]  # on the listing's third page
    entry = {"url": "https://osf.io/4htpy/files/osfstorage/mRNAs.train16K.fa", "sha256": _sha(data),
             "mirror_path": "osf_4htpy/mRNAs.train16K.fa", "osf": {"node": "4htpy", "path": "mRNAs.train16K.fa"}}
    got = fetch_source(entry, tmp_path / "o" / source_file_name(entry))
    assert got.name == "mRNAs.train16K.fa" and got.read_bytes() == data
    assert _listing(tmp_path / "o") == ["mRNAs.train16K.fa"]
    # sha256 null: checked against the sha256 OSF reports, then recorded
    got = fetch_source({**entry, "sha256": None}, tmp_path / "n" / "mRNAs.train16K.fa")
    assert (tmp_path / "n" / "mRNAs.train16K.fa.sha256").read_text() == f"{_sha(data)}  mRNAs.train16K.fa\n"
    # a bare name is also found in a folder; a path with its folder too
    for path in ("mRNAs.TRAIN.fa", "extra/mRNAs.TRAIN.fa"):
        got = fetch("https://osf.io/4htpy/", tmp_path / "f" / "mRNAs.TRAIN.fa", None, osf={"node": "4htpy", "path": path})
        assert got.read_bytes() == osf_api.folder_files["mRNAs.TRAIN.fa"]


def test_osf_wrong_checksum_fails_and_leaves_nothing(osf_api, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"checksum mismatch.*/download/.*expected sha256 0{64}"):
        fetch("https://osf.io/4htpy/", tmp_path / "o" / "a.fa", "0" * 64, osf={"node": "4htpy", "path": "mRNAs.TEST500.fa"})
    # the sha256 OSF itself reports is checked when the source has none
    with pytest.raises(FetchError, match=r"expected sha256 f{64}"):
        fetch("https://osf.io/4htpy/", tmp_path / "o" / "b.fa", None, osf={"node": "4htpy", "path": "lncRNAs.TEST500.fa"})
    assert _listing(tmp_path / "o") == []


def test_osf_missing_path_names_node_path_and_files(osf_api, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as err:
        fetch("https://osf.io/4htpy/", tmp_path / "o" / "x.fa", None, osf={"node": "4htpy", "path": "mRNAs.TRAIN16K.fa"},
              name="lnc_mrna_train")
    message = str(err.value)
    assert "\n" not in message
    assert "lnc_mrna_train" in message and "OSF node 4htpy" in message and "'mRNAs.TRAIN16K.fa'" in message
    assert "'mRNAs.train16K.fa'" in message and "'extra/mRNAs.TRAIN.fa'" in message
    assert not (tmp_path / "o").exists() or _listing(tmp_path / "o") == []


# -- NCBI Datasets -----------------------------------------------------------------------


_report = ncbi_report  # one NCBI Datasets v2 assembly report


REPORTS = {
    # a species with a RefSeq reference genome and a newer, complete non-reference one
    "Escherichia albertii": [
        _report("GCF_000512125.1", "Escherichia albertii KF1", "ASM51212v1", "Contig", "reference genome", "2014-01-29"),
        _report("GCF_019599999.1", "Escherichia albertii", "ASM1959999v1", "Complete Genome", None, "2021-08-01"),
        _report("GCA_019599999.1", "Escherichia albertii", "ASM1959999v1", "Complete Genome", None, "2021-08-01"),
    ],
    # a strain without a reference genome: several RefSeq assemblies, one GenBank-only, a child taxon
    "Bacillus sp. MYb78": [
        _report("GCF_002999911.1", "Bacillus sp. MYb78", "ASM299991v1", "Contig", None, "2020-03-01"),
        _report("GCF_002999922.2", "Bacillus sp. MYb78", "MYb78 v2", "Scaffold", None, "2018-05-01"),
        _report("GCA_002999933.1", "Bacillus sp. MYb78", "ASM299993v1", "Complete Genome", None, "2022-01-01"),
        _report("GCF_002999944.1", "Bacillus sp. MYb78 subclone X", "ASM299994v1", "Complete Genome", None, "2023-01-01"),
        _report("GCF_002999955.1", "Bacillus sp. MYb78", "ASM299995v1", "Contig", None, "2019-07-01"),
    ],
    "Vibrio sp. C7": [],
}


class _Datasets(DatasetsHandler):
    """api.ncbi.nlm.nih.gov/datasets/v2 and ftp.ncbi.nlm.nih.gov/genomes/all stand-in
    (paper_standins.DatasetsHandler) answering from REPORTS, at most 2 reports a page."""

    reports = REPORTS
    max_page_size = 2


@pytest.fixture
def ncbi(monkeypatch):
    class Handler(_Datasets):
        genomes = {}
        calls = []

    for reports in REPORTS.values():
        for r in reports:
            acc, asm = r["accession"], r["assembly_info"]["assembly_name"]
            path = urllib.parse.urlsplit(ncbi_ftp_url(acc, asm)).path.replace("/genomes/all", "/genomes/all", 1)
            Handler.genomes[path] = gzip.compress(f">{acc} {r['organism']['organism_name']}\nACGTACGT\n".encode(), mtime=0)
    server, thread, base = _serve(Handler)
    monkeypatch.setenv("GULMFIT_NCBI_DATASETS_API", f"{base}/datasets/v2")
    monkeypatch.setenv("GULMFIT_NCBI_FTP", f"{base}/genomes/all")
    yield Handler
    server.shutdown()
    server.server_close()
    thread.join()


def test_ftp_url_of_an_assembly() -> None:
    assert ncbi_ftp_url("GCF_000001515.7", "Pan_tro 3.0") == (
        "https://ftp.ncbi.nlm.nih.gov/genomes/all/GCF/000/001/515/GCF_000001515.7_Pan_tro_3.0/"
        "GCF_000001515.7_Pan_tro_3.0_genomic.fna.gz")


def test_pick_assembly_prefers_reference_then_level_then_release() -> None:
    reports = REPORTS["Escherichia albertii"] + REPORTS["Bacillus sp. MYb78"]
    assert pick_assembly(reports, None)["accession"] == "GCF_000512125.1"  # the reference, though a contig
    no_ref = REPORTS["Bacillus sp. MYb78"]
    assert pick_assembly(no_ref, "Bacillus sp. MYb78")["accession"] == "GCF_002999922.2"  # exact name, then scaffold
    assert pick_assembly(no_ref[2:3], "Bacillus sp. MYb78") is None  # GenBank only


def test_ncbi_reference_genome_is_preferred_and_recorded(ncbi, tmp_path: Path) -> None:
    dest = tmp_path / "ens_escherichia_albertii_fna" / "genomic.fna.gz"
    got = fetch_source({"ncbi_genome": {"taxon": "Escherichia albertii"}, "sha256": None, "mirror_path": "x"}, dest,
                       name="ens_escherichia_albertii_fna")
    assert gzip.decompress(got.read_bytes()).startswith(b">GCF_000512125.1 ")
    resolved = json.loads(dest.with_name("genomic.fna.gz.resolved.json").read_text())
    assert resolved["accession"] == "GCF_000512125.1" and resolved["assembly_name"] == "ASM51212v1"
    assert resolved["refseq_category"] == "reference genome" and "reference genome" in resolved["reason"]
    assert resolved["url"].endswith("/GCF/000/512/125/GCF_000512125.1_ASM51212v1/GCF_000512125.1_ASM51212v1_genomic.fna.gz")
    assert resolved["sha256"] == _sha(got.read_bytes())
    assert sorted(p.name for p in dest.parent.iterdir()) == [
        "genomic.fna.gz", "genomic.fna.gz.resolved.json", "genomic.fna.gz.sha256"]
    first = urllib.parse.urlsplit(ncbi.calls[0])
    assert first.path == "/datasets/v2/genome/taxon/Escherichia%20albertii/dataset_report"
    assert {"filters.reference_only": ["true"], "filters.assembly_source": ["refseq"]}.items() <= \
        urllib.parse.parse_qs(first.query).items()


def test_ncbi_without_reference_takes_the_best_refseq_assembly_of_that_organism(ncbi, tmp_path: Path) -> None:
    dest = tmp_path / "o" / "genomic.fna.gz"
    fetch("https://www.ncbi.nlm.nih.gov/datasets/genome/?taxon=Bacillus%20sp.%20MYb78", dest, None,
          ncbi_genome={"taxon": "Bacillus sp. MYb78"})
    resolved = json.loads((tmp_path / "o" / "genomic.fna.gz.resolved.json").read_text())
    # the scaffold of 2018, not the later contig, not GenBank's complete genome, not the child taxon
    assert (resolved["accession"], resolved["assembly_name"]) == ("GCF_002999922.2", "MYb78 v2")
    assert "no RefSeq reference genome" in resolved["reason"]
    assert "GCF_002999922.2_MYb78_v2_genomic.fna.gz" in resolved["url"]  # the space as the FTP spells it
    assert any("page_token=" in c for c in ncbi.calls)  # followed the pages
    assert any("tax_exact_match=true" in c for c in ncbi.calls)


def test_ncbi_no_result_names_the_taxon_and_leaves_nothing(ncbi, tmp_path: Path) -> None:
    out = tmp_path / "o"
    for taxon, why in (("Vibrio sp. C7", "no RefSeq reference genome and no RefSeq assembly"),
                       ("Vibrio sp. Q9", "HTTP 400")):
        with pytest.raises(FetchError) as err:
            fetch("", out / "genomic.fna.gz", None, ncbi_genome={"taxon": taxon}, name="ens_vibrio")
        message = str(err.value)
        assert "\n" not in message and repr(taxon) in message and why in message and "ens_vibrio" in message
    assert not out.exists() or _listing(out) == []


def test_ncbi_pinned_accession(ncbi, tmp_path: Path) -> None:
    got = fetch("", tmp_path / "a" / "g.fna.gz", None, ncbi_genome={"accession": "GCF_019599999.1"})
    assert gzip.decompress(got.read_bytes()).startswith(b">GCF_019599999.1 ")
    ncbi.calls.clear()
    data = got.read_bytes()
    got = fetch("", tmp_path / "b" / "g.fna.gz", _sha(data),
                ncbi_genome={"accession": "GCF_019599999.1", "assembly_name": "ASM1959999v1"})
    assert got.read_bytes() == data and not any("dataset_report" in c for c in ncbi.calls)
    assert json.loads((tmp_path / "b" / "g.fna.gz.resolved.json").read_text())["accession"] == "GCF_019599999.1"


# -- mirrors -----------------------------------------------------------------------------


def test_mirror_holds_archives_and_the_final_files_of_resolved_sources(tmp_path: Path, http_serve,
                                                                        monkeypatch) -> None:
    """Offline: a member's archive comes from mirror/mirror_path (verified, extracted as from
    upstream); OSF and NCBI sources' final files from there, nothing resolved."""
    monkeypatch.delenv("GULMFIT_OSF_API", raising=False)
    monkeypatch.delenv("GULMFIT_NCBI_DATASETS_API", raising=False)
    mirror = tmp_path / "mirror"
    files = {"osf_4htpy/mRNAs.TEST500.fa": b">m\nAUG\n", "ncbi/by_taxon/Vibrio_sp._C7_genomic.fna.gz": b"\x1f\x8bxx"}
    for rel, data in files.items():
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / rel).write_bytes(data)
    (mirror / "enhancer_cnn").mkdir()
    archive = _tgz(mirror / "enhancer_cnn" / "Enhancers_vs_negative.tgz", _enhancer_files())
    remote = "https://example.org/Enhancers_vs_negative.tgz"
    entries = {
        "member": {"url": remote, "member": "Human/positive_samples", "sha256": _sha(archive),
                   "mirror_path": "enhancer_cnn/Enhancers_vs_negative.tgz"},
        "osf": {"osf": {"node": "4htpy", "path": "mRNAs.TEST500.fa"}, "sha256": _sha(files["osf_4htpy/mRNAs.TEST500.fa"]),
                "mirror_path": "osf_4htpy/mRNAs.TEST500.fa"},
        "ncbi": {"ncbi_genome": {"taxon": "Vibrio sp. C7"}, "sha256": None,
                 "mirror_path": "ncbi/by_taxon/Vibrio_sp._C7_genomic.fna.gz"},
    }
    expected = {"member": _samples("Human", "positive"), **{k: files[entries[k]["mirror_path"]] for k in ("osf", "ncbi")}}
    for i, base in enumerate((http_serve(mirror), str(mirror), mirror.as_uri())):
        out = tmp_path / f"out{i}"
        for kind, entry in entries.items():
            got = fetch_source(entry, out / kind / "f", mirror=base)
            assert got.read_bytes() == expected[kind], (base, kind)
        # an HTTP mirror's archive is cached once for its members; a local one is read where it is
        assert (out / "member" / "_archives").exists() == (i == 0)
    # a directory member, from an HTTP mirror too: the archive is there
    entry = {**entries["member"], "member": "Human/"}
    got = fetch_source(entry, tmp_path / "d" / "Human", mirror=http_serve(mirror))
    assert _listing(got) == ["negative_samples", "positive_samples"]
    # the mirror's copy is verified like any download
    bad = {**entries["member"], "sha256": "0" * 64}
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_source(bad, tmp_path / "e" / "f", mirror=http_serve(mirror))
    assert not (tmp_path / "e" / "f").exists()


def test_an_api_set_by_its_variable_is_asked_even_with_a_mirror(osf_api, tmp_path: Path) -> None:
    """GULMFIT_OSF_API (a proxy, a stand-in) says where that API is: asked despite the mirror."""
    entry = {"osf": {"node": "4htpy", "path": "mRNAs.train16K.fa"}, "sha256": None,
             "mirror_path": "osf_4htpy/mRNAs.train16K.fa"}
    got = fetch_source(entry, tmp_path / "o" / "f", mirror=str(tmp_path / "empty_mirror"))
    assert got.read_bytes() == osf_api.files["mRNAs.train16K.fa"]


# -- the command line and the workflow ---------------------------------------------------


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genomic_ulmfit", "fetch", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})}, timeout=120)


def test_cli_fetch_takes_the_entry_as_json(served, tmp_path: Path) -> None:
    base, folder = served
    entry = {"name": "enhancer_dog_positive", "url": f"{base}/Enhancers_vs_negative.tgz",
             "member": "Dog/positive_samples", "sha256": None, "mirror_path": "enhancer_cnn/Dog/positive_samples"}
    out = tmp_path / "downloads" / "enhancer_dog_positive" / "positive_samples"
    res = _cli("--source", json.dumps(entry), "--out", str(out), "--mirror", "",
               "--cache-dir", str(tmp_path / "downloads" / "_archives"))
    assert res.returncode == 0, res.stderr
    assert out.read_bytes() == _samples("Dog", "positive")
    res = _cli("--source", json.dumps({**entry, "member": "Cat/positive_samples"}), "--out", str(tmp_path / "x" / "p"),
               "--cache-dir", str(tmp_path / "downloads" / "_archives"))
    assert res.returncode == 2
    errors = [line for line in (res.stdout + res.stderr).splitlines() if "error:" in line or "Traceback" in line]
    assert len(errors) == 1 and "enhancer_dog_positive" in errors[0] and "'Cat/positive_samples'" in errors[0]
    assert "'Dog', 'Human', 'Mouse'" in errors[0]
    assert not (tmp_path / "x").exists() or _listing(tmp_path / "x") == []


def test_load_sources_checks_the_kinds(tmp_path: Path) -> None:
    def load(text: str) -> dict:
        path = tmp_path / "s.yaml"
        path.write_text(text)
        return load_sources(path)

    got = load("a: {osf: {node: 4htpy, path: x.fa}, sha256: null, mirror_path: x.fa}\n"
               "b: {ncbi_genome: {taxon: Bacillus sp. MYb78}, sha256: null, mirror_path: b.fna.gz}\n")
    assert got["a"]["url"] == "https://osf.io/4htpy/files/osfstorage/x.fa"
    assert got["b"]["url"].startswith("https://www.ncbi.nlm.nih.gov/datasets/genome/?taxon=Bacillus%20sp.%20MYb78")
    for text, match in (
        ("a: {member: x, sha256: null, mirror_path: x}\n", r"source 'a' lacks \['url'\]"),
        ("a: {url: u, member: ../x, sha256: null, mirror_path: x}\n", r"source 'a': member '\.\./x'"),
        ("a: {url: u, member: x, osf: {node: n, path: p}, sha256: null, mirror_path: x}\n", r"one kind.*member.*osf"),
        ("a: {osf: {node: n}, sha256: null, mirror_path: x}\n", r"osf must be \{node"),
        ("a: {ncbi_genome: {taxon: X, strain: y}, sha256: null, mirror_path: x}\n", r"unknown keys \['strain'\]"),
        ("a: {ncbi_genome: {accession: GCF_1}, sha256: null, mirror_path: x}\n", r"not of the form"),
        ("a: {ncbi_genome: {taxon: X}, mirror_path: x}\n", r"lacks \['sha256'\]"),
    ):
        with pytest.raises(ConfigError, match=match):
            load(text)


def test_paper_sources_kinds_and_file_names() -> None:
    sources = load_sources(["resources/sources.yaml", "resources/paper_sources.yaml"], base=REPO)
    enh = {n: s for n, s in sources.items() if n.startswith("enhancer_")}
    assert len(enh) == 8 and {s["url"] for s in enh.values()} == {
        "https://www.cs.huji.ac.il/~tommy//enhancer_CNN/Enhancers_vs_negative.tgz"}
    assert enh["enhancer_opossum_negative"]["member"] == "Opossum/negative_samples"
    lnc = {n: s for n, s in sources.items() if n.startswith("lnc_")}
    assert len(lnc) == 8 and all(s["osf"]["node"] == "4htpy" for s in lnc.values())
    assert lnc["lnc_lncrna_train_full"]["osf"]["path"] == "lncRNAs.TRAIN.fa"
    ens = {n: s for n, s in sources.items() if "ncbi_genome" in s}
    assert len(ens) == 44 and all(n.startswith("ens_") and n.endswith("_fna") for n in ens)
    assert ens["ens_bacillus_sp_myb78_fna"]["ncbi_genome"] == {"taxon": "Bacillus sp. MYb78"}
    assert ens["ens_pseudomonas_sp_22_e_5_fna"]["ncbi_genome"] == {"taxon": "Pseudomonas sp. 22 E 5"}
    assert all(s["sha256"] is None and s["description"] for s in ens.values())
    assert source_file_name(sources["metagenomicdc_shotgun_reads"]) == "16S-reads.fa"
    assert source_file_name(ens["ens_escherichia_sp_kte172_fna"]) == "genomic.fna.gz"
    # the already pinned ensemble genomes stay as they were
    assert sources["efergusonii_fna"]["url"].endswith("GCF_000026225.1_ASM2622v1_genomic.fna.gz")


def test_paper_config_still_plans(tmp_path: Path) -> None:
    """A dry run of config/paper.yaml: every download planned, the enhancer and lncRNA ones included."""
    res = snakemake(tmp_path, "-n", "--cores", "1", configfile=REPO / "config" / "paper.yaml")
    jobs = planned_jobs(res)
    assert jobs.get("download", 0) >= 20, jobs
    out = res.stdout + res.stderr
    assert "resources/downloads/enhancer_human_positive/" in out and "resources/downloads/lnc_mrna_train_full/" in out


def test_workflow_downloads_file_and_directory_members(tmp_path: Path) -> None:
    """The download rules for real, from a local archive: a file member and a directory member
    (member ending in '/', planned as a directory output)."""
    data = _tgz(tmp_path / "local.tgz", _enhancer_files())
    extra = tmp_path / "extra_sources.yaml"
    extra.write_text(yaml.safe_dump({
        "enh_dir": {"url": (tmp_path / "local.tgz").as_uri(), "member": "Human/", "sha256": _sha(data),
                    "mirror_path": "enhancer_cnn/Human", "description": "directory member"},
        "enh_file": {"url": (tmp_path / "local.tgz").as_uri(), "member": "Mouse/negative_samples", "sha256": None,
                     "mirror_path": "enhancer_cnn/Mouse/negative_samples", "description": "file member"},
    }))
    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    cfg["sources"] = (cfg["sources"] if isinstance(cfg["sources"], list) else [cfg["sources"]]) + [str(extra)]
    configfile = write_config(tmp_path / "c.yaml", cfg)
    work = tmp_path / "work"
    work.mkdir()
    targets = ["resources/downloads/enh_dir/Human", "resources/downloads/enh_file/negative_samples"]
    res = snakemake(work, "-n", "--cores", "1", *targets, configfile=configfile)
    assert planned_jobs(res) == {"download": 1, "download_directory": 1}
    snakemake(work, "--cores", "1", *targets, configfile=configfile)
    assert _listing(work / "resources/downloads/enh_dir/Human") == [
        ".snakemake_timestamp", "negative_samples", "positive_samples"]  # Snakemake's mark of a directory output
    assert (work / targets[1]).read_bytes() == _samples("Mouse", "negative")
