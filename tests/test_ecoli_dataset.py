from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from Bio.Seq import reverse_complement as bio_rc

from genomic_ulmfit.datasets.ecoli import build_ecoli_promoter_set, ecoli_dataset_main
from genomic_ulmfit.fasta import read_fasta

GENOME_DIR = "ncbi/genomes/all/GCF/000/005/845/GCF_000005845.2_ASM584v2"
SEED = 7


@pytest.fixture(scope="module")
def gbff(shared_data: Path) -> Path:
    return shared_data / GENOME_DIR / "GCF_000005845.2_ASM584v2_genomic.gbff.gz"


@pytest.fixture(scope="module")
def genome(shared_data: Path) -> dict[str, str]:
    # The FASTA is a separate download from the gbff: an independent check of coordinates.
    return dict(read_fasta(shared_data / GENOME_DIR / "GCF_000005845.2_ASM584v2_genomic.fna.gz"))


@pytest.fixture(scope="module")
def ecoli(gbff: Path) -> pd.DataFrame:
    return build_ecoli_promoter_set(gbff, seed=SEED)


def test_counts_and_shape(ecoli: pd.DataFrame) -> None:
    assert list(ecoli.columns) == ["id", "sequence", "label", "chrom", "start", "end", "strand"]
    counts = ecoli["label"].value_counts()
    assert set(counts.index) == {"promoter", "non_promoter"}
    assert 3500 <= counts["promoter"] <= 4600
    assert counts["non_promoter"] == counts["promoter"]
    assert ecoli["id"].is_unique and ecoli["sequence"].is_unique
    assert (ecoli["sequence"].str.len() == 150).all()
    assert ecoli["sequence"].str.fullmatch("[ACGT]+").all()
    assert ((ecoli["end"] - ecoli["start"]) == 150).all()
    assert set(ecoli["strand"]) == {"+", "-"}
    assert ecoli.loc[ecoli["label"] == "promoter", "id"].str.match(r"prom_b\d{4}").mean() > 0.95
    assert ecoli.loc[ecoli["label"] == "non_promoter", "id"].str.fullmatch(r"neg_\d{6}").all()


def test_start_codon_at_index_100(ecoli: pd.DataFrame) -> None:
    codons = ecoli.loc[ecoli["label"] == "promoter", "sequence"].str[100:103]
    assert codons.isin(["ATG", "GTG", "TTG"]).mean() >= 0.95
    assert (codons == "ATG").mean() > 0.8


def test_windows_match_genome_on_both_strands(ecoli: pd.DataFrame, genome: dict[str, str]) -> None:
    for strand in ("+", "-"):
        rows = ecoli[ecoli["strand"] == strand]
        assert len(rows) > 1000
        for row in rows.itertuples():
            piece = genome[row.chrom][row.start : row.end].upper()
            assert row.sequence == (piece if strand == "+" else bio_rc(piece)), row.id


def test_minus_strand_promoter_example(ecoli: pd.DataFrame, genome: dict[str, str]) -> None:
    row = ecoli[(ecoli["label"] == "promoter") & (ecoli["strand"] == "-")].iloc[0]
    chrom = genome[row.chrom]
    # On '-' the window runs from 50 bp inside the gene to 100 bp past its last base.
    assert row.sequence == bio_rc(chrom[row.start : row.end])
    assert bio_rc(chrom[row.end - 103 : row.end - 100]) == row.sequence[100:103]


def test_negatives_overlap_nothing(ecoli: pd.DataFrame) -> None:
    neg = ecoli[ecoli["label"] == "non_promoter"]
    intervals = ecoli.sort_values("start")[["start", "end", "label"]].to_numpy()
    starts, ends, labels = intervals[:, 0].astype(int), intervals[:, 1].astype(int), intervals[:, 2]
    # For each negative, the previous interval must end before it starts and the next start after.
    overlapping = (starts[1:] < ends[:-1]) & ((labels[1:] == "non_promoter") | (labels[:-1] == "non_promoter"))
    assert not overlapping.any()
    assert len(neg) > 0


def test_same_seed_same_frame(ecoli: pd.DataFrame, gbff: Path) -> None:
    again = build_ecoli_promoter_set(gbff, seed=SEED)
    pd.testing.assert_frame_equal(ecoli, again)
    other = build_ecoli_promoter_set(gbff, seed=SEED + 1)
    pos = ecoli["label"] == "promoter"
    pd.testing.assert_frame_equal(ecoli[pos], other[other["label"] == "promoter"])
    assert not np.array_equal(ecoli.loc[~pos, "start"].to_numpy(), other.loc[other["label"] == "non_promoter", "start"].to_numpy())


def test_build_stats(ecoli: pd.DataFrame) -> None:
    stats = ecoli.attrs["build_stats"]
    assert stats["positives"] == (ecoli["label"] == "promoter").sum()
    assert stats["cds_skipped"].get("pseudo", 0) > 0


def test_not_a_genbank_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.gbff.gz"
    bad.write_bytes(gzip.compress(b">chr\nACGT\n"))
    with pytest.raises(ValueError, match=r"x\.gbff\.gz"):
        build_ecoli_promoter_set(bad, seed=1)


def test_cli_writes_tsv_and_summary(gbff: Path, tmp_path: Path) -> None:
    out = tmp_path / "data" / "ecoli.tsv"
    ecoli_dataset_main(["--gbff", str(gbff), "--out", str(out), "--seed", "3", "--threads", "2",
                        "--log-level", "WARNING"])
    df = pd.read_csv(out, sep="\t")
    assert list(df.columns) == ["id", "sequence", "label", "split", "chrom", "start", "end", "strand"]
    summary = json.loads((tmp_path / "data" / "ecoli.summary.json").read_text())
    assert summary["counts"]["test"] == {"non_promoter": 415, "promoter": 415}
    assert summary["counts"]["valid"] == {"non_promoter": 375, "promoter": 375}
    assert all(v["n_with_hit"] == 0 for v in summary["leakage"].values())
    assert summary["homology"]["n_train"] == (df["split"] == "train").sum()
    assert sorted(p.name for p in out.parent.iterdir()) == ["ecoli.summary.json", "ecoli.tsv"]
