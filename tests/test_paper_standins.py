"""The stand-ins of config/paper.yaml's sources (tests/paper_standins.py): every source the
config uses is provided (the real shared data where it is there, else a stand-in in its
upstream format), served on 127.0.0.1, and fetched with genomic_ulmfit.sources exactly as
the workflow's download rule does: plain files from the mirror, archive members from the
archive in the mirror (verified, extracted), OSF and NCBI sources through the redirected APIs
even with a mirror. And the project's own builders read the stand-ins."""

from __future__ import annotations

import gzip
import json
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml

from genomic_ulmfit.sources import FETCH_KEYS, fetch_source, ncbi_ftp_url, sha256_of, source_file_name, source_kind
from paper_standins import PaperStandIns, build_paper_mirror, paper_sources_and_uses, serve_paper_standins
from workflow_run import REPO

PAPER = REPO / "config" / "paper.yaml"
KINDS = ("url", "member", "osf", "ncbi_genome")


@pytest.fixture(scope="module")
def paper(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """(stand-ins, the server, the sources files' entries, config_source_uses(paper.yaml))."""
    sources, uses = paper_sources_and_uses(PAPER)
    started = time.monotonic()
    standins = build_paper_mirror(shared_data, tmp_path_factory.mktemp("paper_standins"), sources, uses)
    standins.seconds = time.monotonic() - started
    with serve_paper_standins(standins) as served:
        yield standins, served, sources, uses


def _entry(sources: dict, name: str) -> dict:
    return {k: v for k, v in sources[name].items() if k in FETCH_KEYS}


def test_every_used_source_has_a_standin(paper) -> None:
    standins, _, sources, uses = paper
    assert set(standins.provided) == set(uses)
    assert standins.seconds < 20, f"building the stand-ins took {standins.seconds:.1f} s"
    mirror = standins.mirror_files()
    for name, how in standins.provided.items():
        kind = source_kind(sources[name])
        path = standins.mirror / sources[name]["mirror_path"]
        if kind in ("osf", "ncbi_genome"):  # served by the API stand-ins only
            assert how in ("osf", "ncbi") and not path.exists(), name
            continue
        assert path.is_file(), name
        assert how == {"member": "archive"}.get(kind, how) and (how == "shared") == path.is_symlink(), (name, how)
        if how == "archive":
            assert path.name == Path(sources[name]["url"]).name  # the archive itself, as upstream names it
    made = {p: s for p, s in mirror.items() if not (standins.mirror / p).is_symlink()}
    assert max(made.values()) < 500_000 and sum(made.values()) < 2_000_000, sorted(made.items(), key=lambda x: -x[1])[:5]
    # the stand-ins are deterministic, and the manifest reads back
    again = PaperStandIns.load(standins.root)
    assert again.expected == standins.expected and again.ncbi_reports == standins.ncbi_reports


@pytest.mark.parametrize("kind", KINDS)
def test_every_source_fetches_from_the_standins(paper, kind: str, tmp_path: Path, monkeypatch) -> None:
    """fetch_source with the served mirror and the API variables set, for every source of
    one kind; all failures reported at once."""
    standins, served, sources, uses = paper
    for key, value in served.env.items():
        monkeypatch.setenv(key, value)
    names = [n for n in standins.provided if source_kind(sources[n]) == kind]
    assert names, kind
    cache = tmp_path / "_archives"
    failures = []
    for name in names:
        entry = _entry(sources, name)
        dest = tmp_path / name / source_file_name(entry)
        first = len(served.requests)
        try:
            got = fetch_source(entry, dest, mirror=served.mirror, name=name, cache_dir=cache, timeout=10)
            asked = served.requests[first:]
            want = standins.expected[name]
            assert got == dest and dest.read_bytes() == standins.expected_file(name).read_bytes(), \
                f"{dest} differs from {want['file']}"
            if kind == "url":
                assert asked == [f"/mirror/{sources[name]['mirror_path']}"], asked
                if entry.get("sha256"):
                    assert sha256_of(dest) == entry["sha256"]
            elif kind == "member":
                archive = f"/mirror/{sources[name]['mirror_path']}"
                assert set(asked) <= {archive}, asked  # the archive, once for all its members
                assert (cache / Path(archive).name).is_file()
            elif kind == "osf":
                assert not any(a.startswith("/mirror/") for a in asked), asked
                assert any(a.startswith(f"/osf/v2/nodes/{entry['osf']['node']}/files/osfstorage/") for a in asked)
                assert any(a.startswith("/osf/download/") for a in asked)
            else:
                assert not any(a.startswith("/mirror/") for a in asked), asked
                assert any("/dataset_report" in a for a in asked) and any(a.startswith("/genomes/all/") for a in asked)
                resolved = json.loads(dest.with_name(dest.name + ".resolved.json").read_text())
                assert (resolved["accession"], resolved["assembly_name"]) == (want["accession"], want["assembly_name"])
        except Exception as err:  # noqa: BLE001 - collected, reported together
            failures.append(f"{name}: {type(err).__name__}: {' '.join(str(err).split())[:300]}")
    assert not failures, f"{len(failures)} of {len(names)} {kind} sources failed:\n" + "\n".join(failures)
    if kind == "member":
        archives = {Path(sources[n]["mirror_path"]).name for n in names}
        assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".sha256")) == sorted(archives)


def test_ncbi_standins_follow_the_resolvers_layout(paper) -> None:
    standins, _, sources, _ = paper
    ncbi = {n: e for n, e in standins.expected.items() if standins.provided[n] == "ncbi"}
    assert len(ncbi) == 44
    for want in ncbi.values():
        assert ncbi_ftp_url(want["accession"], want["assembly_name"]).endswith("/genomes/all/" + want["ftp_path"])
        assert want["ftp_path"] in standins.ncbi_files
    reasons = {json.dumps(sorted({r["assembly_info"].get("refseq_category") or "none" for r in reports}))
               for reports in standins.ncbi_reports.values()}
    assert len(reasons) >= 3  # reference, representative and no reference genome among the taxa
    name, want = next(iter(ncbi.items()))
    with gzip.open(standins.expected_file(name), "rt") as fh:
        assert fh.readline().startswith(">NZ_")


def test_the_server_serves_files_only(paper) -> None:
    _, served, _, _ = paper
    for path in ("/mirror/../MANIFEST.tsv", "/mirror/enhancer_cnn", "/mirror/", "/nothing", "/genomes/all/GCF/x"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(served.base + path, timeout=5)
        assert err.value.code == 404, path


# -- the project's builders read the stand-ins -----------------------------------------------


def _member(standins: PaperStandIns, name: str, out: Path) -> Path:
    """A member's expected bytes, as a file named like the member."""
    path = out / name / Path(standins.expected[name]["member"]).name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(standins.expected_file(name).read_bytes())
    return path


def test_builders_read_the_standins(paper, tmp_path: Path) -> None:
    import pybedtools

    from genomic_ulmfit.datasets.fasta_sets import build_fasta_classes, read_labelled_table
    from genomic_ulmfit.datasets.genomes import open_genome, read_name_map
    from genomic_ulmfit.datasets.tss import build_tss_dataset, read_sga
    from genomic_ulmfit.deepsea.data import convert_bundle

    standins, _, sources, _ = paper
    cfg = yaml.safe_load(PAPER.read_text())
    file = standins.expected_file

    # human long promoters: EPDnew SGA + GRCh38 stand-in + its assembly report, the paper's params
    params = cfg["tasks"]["human_promoters_long"]["params"]
    genome = open_genome(file("human_grch38_fna"), cache_dir=tmp_path)
    names = read_name_map(file("human_grch38_report"))
    assert names["NC_000001.11"] == "chr1" and "NT_187361.1" in names and set(genome.sizes) >= set(names)
    assert [n for n in genome.sizes if not n.startswith("NC_")]  # what records: "^NC_" drops
    try:
        df = build_tss_dataset(genome, read_sga(file("epdnew_hs006_sga")), params["seed"], params["upstream"],
                               params["downstream"], params["negatives"], params["negatives_per_positive"],
                               name_map=names, source="epdnew_hs006_sga")
    finally:
        pybedtools.cleanup()
    counts = df["label"].value_counts().to_dict()
    assert counts["promoter"] >= 150 and counts["non_promoter"] >= counts["promoter"], counts
    assert set(df["sequence"].str.len()) == {1000}

    # short promoters, enhancers (lines), lncRNA with its named test splits
    short = build_fasta_classes({"promoter": [file("cnn_human_non_tata")],
                                 "non_promoter": [file("cnn_human_nonprom_big")]})
    assert set(short["sequence"].str.len()) == {251} and short["label"].value_counts().min() >= 200
    enh = build_fasta_classes({"enhancer": [_member(standins, "enhancer_human_positive", tmp_path)],
                               "negative": [_member(standins, "enhancer_human_negative", tmp_path)]}, fmt="lines")
    assert set(enh["sequence"].str.len()) == {500} and enh["label"].value_counts().to_dict() == \
        {"enhancer": 150, "negative": 150}
    lnc = cfg["tasks"]["lncrna"]
    files = {role: [file(src)] for role, src in lnc["inputs"].items()}
    classes = {label: [f for role in roles for f in files[role]] for label, roles in lnc["params"]["classes"].items()}
    tests = {split: {label: [f for role in roles for f in files[role]] for label, roles in per.items()}
             for split, per in lnc["params"]["tests"].items()}
    df = build_fasta_classes(classes, tests)
    assert df.groupby(["split", "label"]).size().to_dict() == {
        ("", "lncRNA"): 150, ("", "mRNA"): 150, ("test", "lncRNA"): 50, ("test", "mRNA"): 50,
        ("test_challenge", "lncRNA"): 50, ("test_challenge", "mRNA"): 50}

    # Grinder reads with the paper's header regex: the label is the taxonomy after description
    regex = cfg["tasks"]["metagenomics_amplicon"]["params"]["header_regex"]
    for name, lengths in (("metagenomicdc_amplicon_reads", (400, 450)), ("metagenomicdc_shotgun_reads", (250, 250))):
        reads = read_labelled_table(_member(standins, name, tmp_path), "fasta", regex)
        assert len(reads) == 300 and reads["label"].nunique() == 10, name
        assert reads["label"].str.split().str.len().min() >= 2  # the full taxonomy, as Grinder copies it
        assert reads["sequence"].str.len().between(*lengths).all(), name

    # the archives: the members the entries name, and the extra ones of the real archives
    enh_archive = standins.root / standins.expected["enhancer_human_positive"]["archive"]
    with tarfile.open(enh_archive) as tar:
        tops = {m.name.split("/")[0] for m in tar.getmembers()}
        names_in = {m.name for m in tar.getmembers()}
    assert tops == {"Enhancers_vs_negative"} and any("peaks" in n for n in names_in)
    zip_path = standins.root / standins.expected["metagenomicdc_shotgun_reads"]["archive"]
    assert sorted(zipfile.ZipFile(zip_path).namelist()) == ["16S-reads.fa", "__MACOSX/._16S-reads.fa"]

    # the DeepSEA bundle converts
    meta = convert_bundle(file("deepsea_bundle"), tmp_path / "deepsea", chunk_size=64)
    assert {s: meta["splits"][s]["n"] for s in ("train", "valid", "test")} == {"train": 300, "valid": 60, "test": 100}
