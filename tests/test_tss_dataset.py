"""TSS-window promoter sets on a real eukaryotic genome slice (A. thaliana, TAIR10 GFF3),
checked against the genome read independently with pyfaidx."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyfaidx
import pytest

from genomic_ulmfit.data import read_dataset
from genomic_ulmfit.datasets.genomes import match_names, prepare_genome, read_name_map
from genomic_ulmfit.datasets.tss import (
    build_tss_dataset, read_gff_tss, read_tss, read_tss_bed, tss_dataset_main, window_interval,
)

SEED = 11


@pytest.fixture(scope="module")
def organisms(shared_data: Path) -> Path:
    return shared_data / "model_organisms"


@pytest.fixture(scope="module")
def genome(organisms: Path, tmp_path_factory):
    return prepare_genome(organisms / "A.thaliana.fa.gz", tmp_path_factory.mktemp("genome") / "athaliana.fa")


@pytest.fixture(scope="module")
def tss(organisms: Path) -> pd.DataFrame:
    return read_gff_tss(organisms / "A.thaliana.gff.gz", "mRNA")


@pytest.fixture(scope="module")
def shuffled(genome, tss) -> pd.DataFrame:
    return build_tss_dataset(genome, tss, SEED, negatives="shuffle")


@pytest.fixture(scope="module")
def between(genome, tss) -> pd.DataFrame:
    return build_tss_dataset(genome, tss, SEED, upstream=200, downstream=50, negatives="between_tss")


@pytest.fixture(scope="module")
def faidx(genome) -> pyfaidx.Fasta:
    return pyfaidx.Fasta(str(genome.fasta))


def _promoter_mask(tss: pd.DataFrame, sizes: dict[str, int], up: int, down: int) -> dict[str, np.ndarray]:
    mask = {c: np.zeros(n, dtype=bool) for c, n in sizes.items()}
    for t in tss.itertuples():
        start, end = window_interval(t.tss, t.strand, up, down)
        mask[t.chrom][max(start, 0):max(end, 0)] = True
    return mask


@pytest.mark.parametrize("which,up,down", [("shuffled", 500, 500), ("between", 200, 50)])
def test_negatives_overlap_no_promoter_nor_each_other(which, up, down, request, tss, genome) -> None:
    df = request.getfixturevalue(which)
    mask = _promoter_mask(tss, genome.sizes, up, down)
    neg = df[df["label"] == "non_promoter"]
    assert len(neg) == (df["label"] == "promoter").sum() > 300
    for r in neg.itertuples():
        assert not mask[r.chrom][r.start:r.end].any(), r.id
        mask[r.chrom][r.start:r.end] = True  # negatives must not overlap each other either


@pytest.mark.parametrize("which", ["shuffled", "between"])
def test_windows_inside_chromosomes_and_match_genome(which, request, faidx) -> None:
    df = request.getfixturevalue(which)
    sizes = {name: len(rec) for name, rec in faidx.records.items()}
    assert ((df["start"] >= 0) & (df["end"] <= df["chrom"].map(sizes))).all()
    assert df["sequence"].str.fullmatch("[ACGT]+").all() and df["sequence"].is_unique
    for r in df.itertuples():
        piece = faidx[r.chrom][r.start:r.end]
        expected = piece.reverse.complement.seq if r.strand == "-" else piece.seq
        assert r.sequence == expected.upper(), r.id
    assert set(df["strand"]) == {"+", "-"}


def test_minus_strand_tss_sits_at_index_upstream(shuffled, organisms, faidx) -> None:
    """The TSS base of a '-' mRNA (its GFF end) is at index 500 of the window, complemented."""
    ends = set()
    with gzip.open(organisms / "A.thaliana.gff.gz", "rt") as fh:
        for line in fh:
            f = line.split("\t")
            if len(f) == 9 and f[2] == "mRNA" and f[6] == "-":
                ends.add((f[0], int(f[4])))
    minus = shuffled[(shuffled["label"] == "promoter") & (shuffled["strand"] == "-")]
    assert len(minus) > 100
    for r in minus.itertuples():
        tss_1based = r.end - 500  # the window is [tss-499, tss+501) on '-'
        assert (r.chrom, tss_1based) in ends, r.id
        base = faidx[r.chrom][tss_1based - 1:tss_1based].complement.seq.upper()
        assert r.sequence[500] == base


def test_dropped_windows_are_counted(shuffled) -> None:
    stats = shuffled.attrs["build_stats"]
    assert stats["dropped"]["positive_off_chromosome"] >= 1  # TSS near a slice end
    assert stats["dropped"]["positive_non_acgt"] >= 1  # the slice has N runs
    assert stats["positives"] == (shuffled["label"] == "promoter").sum()


def test_same_seed_same_dataset_other_seed_other(genome, tss, shuffled, between) -> None:
    pd.testing.assert_frame_equal(shuffled, build_tss_dataset(genome, tss, SEED, negatives="shuffle"))
    pd.testing.assert_frame_equal(between, build_tss_dataset(genome, tss, SEED, upstream=200, downstream=50,
                                                             negatives="between_tss"))
    other = build_tss_dataset(genome, tss, SEED + 1, negatives="shuffle")
    pos = shuffled["label"] == "promoter"
    pd.testing.assert_frame_equal(shuffled[pos], other[other["label"] == "promoter"])
    assert set(shuffled.loc[~pos, "start"]) != set(other.loc[other["label"] == "non_promoter", "start"])


def test_sga_with_refseq_names_and_name_map(genome, tss, shuffled, tmp_path) -> None:
    """EPDnew-style SGA (RefSeq names, 1-based) + a name table give the same promoters as the GFF."""
    refseq = {f"Chr{i}": f"NC_00307{i - 1}.1" for i in range(1, 6)} | {"ChrC": "NC_000932.1", "ChrM": "NC_037304.1"}
    sga = tmp_path / "At_EPDnew.sga"
    sga.write_text("".join(f"{refseq[t.chrom]}\tTSS\t{t.tss + 1}\t{t.strand}\t1\t{t.name}\n" for t in tss.itertuples()))
    table = tmp_path / "names.tsv"
    table.write_text("# RefSeq UCSC-style\n" + "".join(f"{v}\t{k}\n" for k, v in refseq.items()))
    from_sga = build_tss_dataset(genome, read_tss(sga), SEED, name_map=read_name_map(table))
    pd.testing.assert_frame_equal(from_sga, shuffled)


def test_name_mismatch_lists_both_sides(genome, tss) -> None:
    renamed = tss.assign(chrom="NC_" + tss["chrom"])
    with pytest.raises(ValueError) as err:
        build_tss_dataset(genome, renamed, SEED, source="epd.sga")
    msg = str(err.value)
    assert "epd.sga" in msg and "NC_Chr1" in msg and "'Chr1'" in msg and "name map" in msg


def test_assembly_report_maps_refseq_to_ucsc(genome, tmp_path) -> None:
    report = tmp_path / "GCF_x_assembly_report.txt"
    report.write_text(
        "# Assembly name:  test\n"
        "# Sequence-Name\tSequence-Role\tAssigned-Molecule\tAssigned-Molecule-Location/Type\t"
        "GenBank-Accn\tRelationship\tRefSeq-Accn\tAssembly-Unit\tSequence-Length\tUCSC-style-name\n"
        "1\tassembled-molecule\t1\tChromosome\tCP002684.1\t=\tNC_003070.9\tPrimary Assembly\t30427671\tChr1\n"
        "Pltd\tassembled-molecule\tPltd\tChloroplast\tAP000423.1\t=\tNC_000932.1\tnon-nuclear\t154478\tna\n")
    names = read_name_map(report)
    assert names == {"NC_003070.9": "Chr1"}
    assert match_names(["NC_003070.9", "Chr2"], genome, names) == {"NC_003070.9": "Chr1", "Chr2": "Chr2"}


def test_epdnew_bed_tss_is_the_thick_5prime_end(tmp_path) -> None:
    bed = tmp_path / "Hs_EPDnew.bed"
    bed.write_text("chr1\t166808537\t166808597\tPOGK_2\t900\t+\t166808586\t166808597\n"
                   "chr1\t166845483\t166845543\tTADA1_1\t900\t-\t166845483\t166845494\n"
                   "chr2\t100\t101\tone_base\t0\t-\n")
    df = read_tss_bed(bed)
    assert df["tss"].tolist() == [166808586, 166845493, 100]
    assert df["strand"].tolist() == ["+", "-", "-"]


@pytest.mark.parametrize("name,text,expected", [
    ("bad.sga", "NC_000001.11\tTSS\t959256\t-\t1\tNOC2L_1\nNC_000001.11\tTSS\tabc\t+\t1\tX_1\n",
     r"bad\.sga: line 2: .*expected at least 5 tab-separated fields"),
    ("strand.sga", "NC_000001.11\tTSS\t959256\t0\t1\tX_1\n", r"strand\.sga: line 1: strand '0'; expected '\+' or '-'"),
    ("bad.bed", "chr1\t10\t20\tx\t0\t+\nchr1\t30\n", r"bad\.bed: line 2: 2 tab-separated field\(s\); expected BED6"),
    ("order.bed", "chr1\t30\t20\tx\t0\t+\n", r"order\.bed: line 1: start 30, end 20; expected 0 <= start < end"),
    ("bad.gff", "##gff-version 3\nI\tWB\tgene\t10\n", r"bad\.gff: line 2: .*expected 9 tab-separated fields"),
])
def test_malformed_line_names_file_line_and_expectation(tmp_path, name, text, expected) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=expected):
        read_tss(path)


def test_cli_split_fractions_stratified_and_atomic(organisms, genome, tmp_path) -> None:
    out = tmp_path / "out" / "athal.tsv"
    argv = ["--genome", str(genome.fasta), "--annotation", str(organisms / "A.thaliana.gff.gz"),
            "--feature-type", "mRNA", "--negatives", "between_tss", "--seed", "4", "--out", str(out),
            "--log-level", "WARNING"]
    tss_dataset_main(argv)
    df = read_dataset(out)
    assert list(df.columns) == ["id", "sequence", "label", "split", "chrom", "start", "end", "strand", "origin"]
    for label, part in df.groupby("label"):
        shares = part["split"].value_counts(normalize=True)
        assert shares["train"] == pytest.approx(0.81, abs=0.01), label
        assert shares["valid"] == pytest.approx(0.09, abs=0.01), label
        assert shares["test"] == pytest.approx(0.10, abs=0.01), label
    summary = json.loads((out.parent / "athal.summary.json").read_text())
    assert summary["build"]["dropped"]["positive_non_acgt"] >= 1
    assert summary["negatives"]["sampler"] == "between_tss" and summary["split"]["method"] == "stratified"
    assert sum(sum(c.values()) for c in summary["counts"].values()) == len(df)
    tss_dataset_main(argv)
    pd.testing.assert_frame_equal(read_dataset(out), df)
    assert sorted(p.name for p in out.parent.iterdir()) == ["athal.summary.json", "athal.tsv"]
    bad = tmp_path / "bad.gff"
    bad.write_text("Chr1\tTAIR10\tmRNA\t100\n")
    with pytest.raises(ValueError, match="bad.gff: line 1"):
        tss_dataset_main([*argv[:2], "--annotation", str(bad), "--out", str(tmp_path / "x" / "x.tsv")])
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
