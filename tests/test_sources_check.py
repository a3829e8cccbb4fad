"""`genomic-ulmfit sources --check`: every source a config uses downloaded (here: from files
of ../shared/data served over 127.0.0.1), one line per source, the unknown checksums
(sha256: null) recorded in the lock file beside the sources file, which load_sources then
reads so that a changed file is refused."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genomic_ulmfit.config import ConfigError, load_sources
from genomic_ulmfit.sources import FetchError, check_sources, fetch_source, lock_path, read_lock, write_lock

REPO = Path(__file__).resolve().parents[1]
FILES = {  # name -> path in ../shared/data (and in the served copy)
    "prom": "cnnpromoterdata/Ecoli_prom.fa",
    "non_prom": "cnnpromoterdata/Ecoli_non_prom.fa",
    "taxonomy": "metagenomicdc/taxonomy.txt",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genomic_ulmfit", "sources", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=120)


def _lines(stdout: str) -> dict[str, list[str]]:
    """name -> [sha256, size, status] of the table `sources --check` prints."""
    return {parts[0]: parts[1:] for parts in (line.split() for line in stdout.splitlines()) if len(parts) >= 4}


@pytest.fixture
def setup(shared_data: Path, tmp_path: Path, http_serve):
    """A served copy of three shared files, a sources file (prom with its real sha256,
    non_prom and taxonomy with sha256: null, one more that the config does not use) and a
    config using the three; sources relative to the repo folder, as the workflow has it."""
    served = tmp_path / "served"
    for rel in FILES.values():
        (served / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / rel, served / rel)
    base = http_serve(served)
    repo = tmp_path / "repo"
    (repo / "res").mkdir(parents=True)
    sources = {name: {"url": f"{base}/{rel}", "sha256": None, "mirror_path": rel, "description": name}
               for name, rel in FILES.items()}
    sources["prom"]["sha256"] = _sha(served / FILES["prom"])
    sources["unused"] = {"url": f"{base}/no/such/file.fa", "sha256": None, "mirror_path": "no/such/file.fa"}
    sources_file = repo / "res" / "my_sources.yaml"
    sources_file.write_text(yaml.safe_dump(sources, sort_keys=False))
    config = {"sources": ["res/my_sources.yaml"], "mirror": None,
              "tasks": {"pair": {"builder": "fasta_classes", "inputs": {"pos": "prom", "neg": "non_prom"}}},
              "corpora": {"tax": {"genomes": ["taxonomy"]}}, "experiments": {}}
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config))
    return {"served": served, "base": base, "repo": repo, "sources_file": sources_file, "config": config,
            "config_file": config_file}


def test_check_records_the_nulls_and_later_fetches_verify_them(setup) -> None:
    served, repo, sources_file = setup["served"], setup["repo"], setup["sources_file"]
    lock = repo / "res" / "my_sources.lock.yaml"
    assert lock_path(sources_file) == lock
    res = _cli("--check", "--config", str(setup["config_file"]), "--repo", str(repo))
    assert res.returncode == 0, res.stderr
    table = _lines(res.stdout)
    assert set(table) == {"prom", "non_prom", "taxonomy"}  # what the config uses, not "unused"
    for name, rel in FILES.items():
        f = served / rel
        assert table[name][:2] == [_sha(f), str(f.stat().st_size)], name
    assert table["prom"][2] == "ok" and table["non_prom"][2] == table["taxonomy"][2] == "recorded"
    # the lock: the two nulls, sha256 and size; nothing for the source with a sha256
    got = yaml.safe_load(lock.read_text())
    assert got == {name: {"sha256": _sha(served / FILES[name]), "size": (served / FILES[name]).stat().st_size}
                   for name in ("non_prom", "taxonomy")}
    assert sorted(p.name for p in lock.parent.iterdir()) == ["my_sources.lock.yaml", "my_sources.yaml"]
    # load_sources fills the nulls from it (the sources file is unchanged)
    sources = load_sources(["res/my_sources.yaml"], base=repo)
    assert {n: s["sha256"] for n, s in sources.items()} == {
        "prom": _sha(served / FILES["prom"]), "non_prom": got["non_prom"]["sha256"],
        "taxonomy": got["taxonomy"]["sha256"], "unused": None}
    assert load_sources(sources_file, lock=False)["non_prom"]["sha256"] is None
    # a second check verifies against the lock, here from a directory mirror
    res = _cli("--check", "--config", str(setup["config_file"]), "--repo", str(repo), "--mirror", str(served))
    assert res.returncode == 0, res.stderr
    assert {n: row[2] for n, row in _lines(res.stdout).items()} == {"prom": "ok", "non_prom": "ok", "taxonomy": "ok"}
    # the served file changes: the download is refused, naming the url and both checksums
    changed = served / FILES["non_prom"]
    changed.write_text(changed.read_text() + ">extra\nACGT\n")
    entry = sources["non_prom"]
    dest = setup["served"].parent / "downloads" / "non_prom" / "Ecoli_non_prom.fa"
    with pytest.raises(FetchError) as err:
        fetch_source(entry, dest, name="non_prom")
    message = str(err.value)
    assert entry["url"] in message and got["non_prom"]["sha256"] in message and _sha(changed) in message
    assert "'non_prom'" in message
    assert list(dest.parent.iterdir()) == []
    # and the check reports it, leaving the lock as it was
    before = lock.read_text()
    res = _cli("--check", "--config", str(setup["config_file"]), "--repo", str(repo))
    assert res.returncode == 1
    table = _lines(res.stdout)
    assert table["non_prom"] == [_sha(changed), str(changed.stat().st_size), "MISMATCH"]
    assert table["prom"][2] == table["taxonomy"][2] == "ok"
    failures = [line for line in res.stderr.splitlines() if line.startswith(("MISMATCH", "FAILED"))]
    assert len(failures) == 1 and "'non_prom'" in failures[0] and entry["url"] in failures[0]
    assert got["non_prom"]["sha256"] in failures[0] and _sha(changed) in failures[0]
    assert lock.read_text() == before


def test_a_wrong_sha256_in_the_sources_file_is_a_mismatch(setup, capsys) -> None:
    sources_file = setup["sources_file"]
    entries = yaml.safe_load(sources_file.read_text())
    right = entries["prom"]["sha256"]
    entries["prom"]["sha256"] = "0" * 64
    sources_file.write_text(yaml.safe_dump(entries, sort_keys=False))
    failed = check_sources(setup["config"], repo=setup["repo"], only=["prom", "non_prom"])
    assert failed == 1
    out, err = capsys.readouterr()
    table = _lines(out)
    assert set(table) == {"prom", "non_prom"}
    assert table["prom"][0] == right and table["prom"][2] == "MISMATCH"
    assert table["non_prom"][2] == "recorded"
    line = next(line for line in err.splitlines() if line.startswith("MISMATCH"))
    assert "'prom'" in line and entries["prom"]["url"] in line and "0" * 64 in line and right in line
    # the lock holds the null that was checked only, not the mismatched source
    assert set(read_lock(lock_path(sources_file))) == {"non_prom"}


def test_a_failed_download_is_reported_on_one_line(setup, capsys) -> None:
    failed = check_sources(setup["config"], repo=setup["repo"], only=["unused", "taxonomy"])
    assert failed == 1
    out, err = capsys.readouterr()
    assert _lines(out)["unused"][2] == "FAILED" and _lines(out)["taxonomy"][2] == "recorded"
    lines = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert len(lines) == 1 and "'unused'" in lines[0] and "/no/such/file.fa" in lines[0]
    assert "expected sha256 null" in lines[0] and "unset" not in lines[0]
    assert set(read_lock(lock_path(setup["sources_file"]))) == {"taxonomy"}


def test_unknown_sources_in_the_config_or_only_are_errors(setup) -> None:
    config = {**setup["config"], "corpora": {"tax": {"genomes": ["nope"]}}}
    with pytest.raises(ValueError, match=r"corpora.tax.genomes: unknown source 'nope'"):
        check_sources(config, repo=setup["repo"])
    with pytest.raises(ValueError, match=r"--only: unknown source\(s\) \['nope'\]"):
        check_sources(setup["config"], repo=setup["repo"], only=["nope"])
    res = _cli("--config", str(setup["config_file"]), "--repo", str(setup["repo"]))  # a listing, no download
    assert res.returncode == 0, res.stderr
    assert [line.split()[0] for line in res.stdout.splitlines()] == ["prom", "non_prom", "taxonomy"]


def test_lock_errors_name_the_files(tmp_path: Path) -> None:
    sources_file = tmp_path / "s.yaml"
    sources_file.write_text(f"a: {{url: http://x/a, sha256: {'a' * 64}, mirror_path: a}}\n"
                            "b: {url: http://x/b, sha256: null, mirror_path: b}\n")
    lock = tmp_path / "s.lock.yaml"
    lock.write_text(f"c: {{sha256: {'c' * 64}, size: 1}}\n")
    with pytest.raises(ConfigError, match=rf"lock file {lock}: \['c'\] are not sources of {sources_file}"):
        load_sources(sources_file)
    lock.write_text(f"a: {{sha256: {'d' * 64}, size: 1}}\n")
    with pytest.raises(ConfigError) as err:
        load_sources(sources_file)
    assert all(s in str(err.value) for s in (str(sources_file), str(lock), "a" * 64, "d" * 64, "'a'"))
    lock.write_text("b: {sha256: not-hex}\n")
    with pytest.raises(ConfigError, match=rf"lock file {lock}: source 'b' needs sha256"):
        load_sources(sources_file)
    lock.write_text(f"a: {{sha256: {'a' * 64}, size: 1}}\nb: {{sha256: {'b' * 64}, size: 2}}\n")
    got = load_sources(sources_file)  # agreeing with the sources file is fine
    assert got["a"]["sha256"] == "a" * 64 and got["b"]["sha256"] == "b" * 64
    assert load_sources(sources_file, lock=False)["b"]["sha256"] is None


def test_write_lock_merges_atomically(tmp_path: Path) -> None:
    lock = tmp_path / "s.lock.yaml"
    write_lock(lock, {"b": {"sha256": "b" * 64, "size": 2, "accession": "GCF_000000001.1",
                            "assembly_name": "ASM1v1"}}, ["a", "b", "c"])
    write_lock(lock, {"c": {"sha256": "c" * 64, "size": 3}}, ["a", "b", "c"])
    write_lock(lock, {"a": {"sha256": "a" * 64, "size": 1}, "b": {"sha256": "b" * 64, "size": 2}}, ["a", "b", "c"])
    got = yaml.safe_load(lock.read_text())
    assert list(got) == ["a", "b", "c"]  # the sources file's order
    assert got["b"] == {"sha256": "b" * 64, "size": 2, "accession": "GCF_000000001.1", "assembly_name": "ASM1v1"}
    assert lock.read_text().startswith("# ") and "s.yaml" in lock.read_text().splitlines()[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.lock.yaml"]  # no temporary file left


def test_ncbi_genome_lock_has_the_resolved_assembly(tmp_path: Path, http_serve, monkeypatch, capsys) -> None:
    """An ncbi_genome source by taxon: the lock records what it resolved to."""
    served = tmp_path / "served"
    taxon = "Vibrio sp. C7"
    report = served / "datasets" / "v2" / "genome" / "taxon" / taxon / "dataset_report"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps({"reports": [{
        "accession": "GCF_000000001.1", "organism": {"organism_name": taxon},
        "assembly_info": {"assembly_name": "ASM1v1", "refseq_category": "reference genome",
                          "assembly_level": "Complete Genome", "release_date": "2020-01-01"}}]}))
    genome = served / "genomes/all/GCF/000/000/001/GCF_000000001.1_ASM1v1/GCF_000000001.1_ASM1v1_genomic.fna.gz"
    genome.parent.mkdir(parents=True)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(b">NZ_1 Vibrio sp. C7 chromosome\nACGTACGTTTGA\n")
    genome.write_bytes(buf.getvalue())
    base = http_serve(served)
    monkeypatch.setenv("GULMFIT_NCBI_DATASETS_API", f"{base}/datasets/v2")
    monkeypatch.setenv("GULMFIT_NCBI_FTP", f"{base}/genomes/all")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"vibrio": {
        "ncbi_genome": {"taxon": taxon}, "sha256": None, "mirror_path": "ncbi/vibrio.fna.gz"}}))
    config = {"sources": "s.yaml", "corpora": {"ens": {"genomes": ["vibrio"]}}}
    assert check_sources(config, repo=tmp_path) == 0
    assert _lines(capsys.readouterr().out)["vibrio"] == [_sha(genome), str(genome.stat().st_size), "recorded"]
    assert read_lock(tmp_path / "s.lock.yaml") == {"vibrio": {
        "sha256": _sha(genome), "size": genome.stat().st_size, "accession": "GCF_000000001.1",
        "assembly_name": "ASM1v1"}}
    assert load_sources(tmp_path / "s.yaml")["vibrio"]["sha256"] == _sha(genome)


def test_an_archive_member_is_checked_by_its_archive(tmp_path: Path, http_serve, capsys) -> None:
    """A member's sha256 is its archive's, recorded from the download; a mirror holds the
    archive as upstream does, so the copy there is checked against the lock too."""
    import shutil
    import tarfile

    served = tmp_path / "served"
    (served / "bundle" / "Dog").mkdir(parents=True)
    (served / "bundle" / "Dog" / "positive_samples").write_text("ACGT\n")
    archive = served / "bundle.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(served / "bundle", arcname="bundle")
    base = http_serve(served)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"dog_pos": {
        "url": f"{base}/bundle.tgz", "member": "Dog/positive_samples", "sha256": None,
        "mirror_path": "enh/bundle.tgz"}}))
    config = {"sources": "s.yaml", "corpora": {"c": {"genomes": ["dog_pos"]}}}
    assert check_sources(config, repo=tmp_path) == 0
    assert _lines(capsys.readouterr().out)["dog_pos"] == [_sha(archive), str(archive.stat().st_size), "recorded"]
    assert read_lock(tmp_path / "s.lock.yaml")["dog_pos"]["sha256"] == _sha(archive)
    assert check_sources(config, repo=tmp_path) == 0  # verified against the lock now
    assert _lines(capsys.readouterr().out)["dog_pos"][2] == "ok"
    mirror = tmp_path / "mirror"
    (mirror / "enh").mkdir(parents=True)
    shutil.copy(archive, mirror / "enh" / "bundle.tgz")
    for where in (str(mirror), http_serve(mirror)):  # a directory and an HTTP mirror
        assert check_sources(config, repo=tmp_path, mirror=where) == 0
        assert _lines(capsys.readouterr().out)["dog_pos"][2] == "ok"
    with tarfile.open(mirror / "enh" / "bundle.tgz", "w:gz") as tar:  # the mirror's copy changed
        tar.add(served / "bundle" / "Dog", arcname="Dog")
    assert check_sources(config, repo=tmp_path, mirror=str(mirror)) == 1
    assert _lines(capsys.readouterr().out)["dog_pos"][2] == "MISMATCH"
