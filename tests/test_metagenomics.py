"""Metagenomic 16S reads (datasets.metagenomics): IUPAC primer matching, amplicon and
shotgun reads on MetagenomicDC's real 1000 16S sequences, seeded splits by genus."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from genomic_ulmfit.datasets.metagenomics import (
    FORWARD_PRIMER, REVERSE_PRIMER, ReadSettings, build_metagenomics_reads, find_amplicon,
    iupac_masks, metagenomics_amplicon_main, metagenomics_shotgun_main, primer_sites, read_16s,
    split_reads,
)
from genomic_ulmfit.fasta import reverse_complement

CLASSES = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "[AG]", "Y": "[CT]", "S": "[CG]", "W": "[AT]",
           "K": "[GT]", "M": "[AC]", "B": "[CGT]", "D": "[AGT]", "H": "[ACT]", "V": "[ACG]", "N": "[ACGT]"}


def primer_regex(primer: str) -> re.Pattern:
    """The independent check: a primer as a regular expression over plain ACGT."""
    return re.compile("".join(CLASSES[c] for c in primer))


FWD_RE = primer_regex(FORWARD_PRIMER)
REV_RC_RE = primer_regex(reverse_complement(REVERSE_PRIMER))


def template_of(seq: str, start: int, end: int, strand: str) -> str:
    piece = seq[start:end]
    return piece if strand == "+" else reverse_complement(piece)


@pytest.fixture(scope="module")
def mdc(shared_data):
    d = shared_data / "metagenomicdc"
    return d / "1000seq.fasta", d / "taxonomy.txt"


@pytest.fixture(scope="module")
def records(mdc):
    return read_16s(*mdc)


def test_iupac_primer_sites_and_mismatches():
    template = iupac_masks("TTCCTACGGGAGGCAGCAGTT" + "CCTACGTGAGGCAGCAG", "t")
    primer = iupac_masks("CCTACGGGAGGCAGCAG", "p")
    assert primer_sites(template, primer).tolist() == [2]
    assert primer_sites(template, primer, max_mismatches=1).tolist() == [2, 21]
    degenerate = iupac_masks("ACTYAAAKGAATTGACGG", "p")  # reverse primer's reverse complement
    assert primer_sites(iupac_masks("GGACTCAAAGGAATTGACGGAA", "t"), degenerate).tolist() == [2]
    with pytest.raises(ValueError, match="forward primer: 'J'"):
        find_amplicon("ACGT", "ACJT", REVERSE_PRIMER)


def test_amplicon_found_on_either_strand():
    rng = np.random.default_rng(0)
    pad = lambda n: "".join(rng.choice(list("ACGT"), n))  # noqa: E731
    inner = pad(300)
    seq = pad(50) + "CCTACGGGAGGCAGCAG" + inner + "ACTCAAATGAATTGACGG" + pad(40)
    plus = find_amplicon(seq, FORWARD_PRIMER, REVERSE_PRIMER)
    minus = find_amplicon(reverse_complement(seq), FORWARD_PRIMER, REVERSE_PRIMER)
    assert (plus.strand, plus.start, plus.end) == ("+", 67, 367)
    assert minus.strand == "-" and (minus.start, minus.end) == (plus.start, plus.end)
    assert find_amplicon(seq, FORWARD_PRIMER, REVERSE_PRIMER, trim_primers=False).end == 385
    assert find_amplicon(pad(400), FORWARD_PRIMER, REVERSE_PRIMER) is None


def test_real_16s_has_100_genera_of_10_sequences(records):
    assert len(records) == 1000
    assert records["label"].nunique() == 100
    assert set(records.groupby("label").size()) == {10}


def test_amplicon_reads_lie_between_primer_sites(records):
    settings = ReadSettings(reads_per_sequence=4, read_length=200, read_length_sd=30, error_rate=0.0)
    reads = build_metagenomics_reads(records, "amplicon", settings, seed=3)
    stats = reads.attrs["build_stats"]
    seqs = dict(zip(records["record"], records["sequence"]))
    # The amplicon of every read: a forward-primer site just before it and a reverse site just
    # after it, found again by a regular expression on the oriented template.
    for (rec, strand, a, b), _ in reads.groupby(["record", "amplicon_strand", "amplicon_start", "amplicon_end"]):
        t = seqs[rec] if strand == "+" else reverse_complement(seqs[rec])
        ta, tb = (a, b) if strand == "+" else (len(t) - b, len(t) - a)
        assert FWD_RE.fullmatch(t[ta - len(FORWARD_PRIMER):ta]), rec
        assert REV_RC_RE.fullmatch(t[tb:tb + len(REVERSE_PRIMER)]), rec
    assert ((reads["start"] >= reads["amplicon_start"]) & (reads["end"] <= reads["amplicon_end"])).all()
    at_end = (reads["start"] == reads["amplicon_start"]) | (reads["end"] == reads["amplicon_end"])
    assert at_end.all()  # reads start at a primer
    for row in reads.sample(300, random_state=0).itertuples():
        assert row.sequence == template_of(seqs[row.record], row.start, row.end, row.strand)
    # Sequences without an amplicon: counted, listed, and the same ones a regex search finds.
    def has_amplicon(seq: str) -> bool:
        for t in (seq, reverse_complement(seq)):
            f = [m.end() for m in FWD_RE.finditer(t)]
            if f and any(m.start() >= min(f) for m in REV_RC_RE.finditer(t)):
                return True
        return False
    missing = {r for r, s in seqs.items() if not has_amplicon(s)}
    assert {r["record"] for r in stats["no_amplicon_records"]} == missing
    assert stats["no_amplicon"] == len(missing) > 0
    # MetagenomicDC's own amplicon set covers 96 of the 100 genera, as here
    assert reads["label"].nunique() == 100 - len(stats["genera_without_reads"]) == 96


def test_shotgun_error_rate_and_coordinates(records):
    settings = ReadSettings(reads_per_sequence=6, read_length=150, read_length_sd=20, error_rate=0.02)
    reads = build_metagenomics_reads(records, "shotgun", settings, seed=1)
    seqs = dict(zip(records["record"], records["sequence"]))
    mismatches = bases = 0
    for row in reads.itertuples():
        t = template_of(seqs[row.record], row.start, row.end, row.strand)
        diff = sum(x != y for x, y in zip(row.sequence, t))
        assert diff == row.errors and len(t) == len(row.sequence)
        mismatches, bases = mismatches + diff, bases + len(t)
    assert mismatches / bases == pytest.approx(0.02, abs=0.002)
    assert reads["label"].nunique() == 100
    assert set(reads["strand"]) == {"+", "-"}
    assert reads["sequence"].str.fullmatch("[ACGT]+").all()


def test_paired_mates_share_a_split_and_split_by_sequence(records):
    settings = ReadSettings(reads_per_sequence=3, paired=True)
    reads = build_metagenomics_reads(records, "amplicon", settings, seed=0)
    assert set(reads.groupby("fragment")["mate"].apply(lambda m: tuple(sorted(m)))) == {(1, 2)}
    by_read, info = split_reads(reads, 0, (0.8, 0.1, 0.1), by="read")
    assert by_read.groupby("fragment")["split"].nunique().max() == 1
    assert info["split_by"] == "read"
    with pytest.raises(ValueError, match="cannot give every split of fractions"):
        split_reads(reads, 0, (0.81, 0.09, 0.1), by="sequence")
    by_seq, _ = split_reads(reads, 0, (0.6, 0.2, 0.2), by="sequence")
    assert by_seq.groupby("record")["split"].nunique().max() == 1
    # genus-stratified: a genus with 8 or more amplified sequences is in every split
    per_genus = by_seq.groupby("label").agg(n=("record", "nunique"), splits=("split", "nunique"))
    assert (per_genus.loc[per_genus["n"] >= 8, "splits"] == 3).all()


@pytest.mark.parametrize("main,name", [(metagenomics_shotgun_main, "shotgun"),
                                       (metagenomics_amplicon_main, "amplicon")])
def test_cli_same_seed_same_dataset(mdc, tmp_path, main, name):
    fasta, taxonomy = mdc
    args = ["--fasta", str(fasta), "--taxonomy", str(taxonomy), "--reads-per-sequence", "3"]
    outs = []
    for i, seed in enumerate((7, 7, 8)):
        out = tmp_path / f"{name}{i}.tsv"
        main([*args, "--seed", str(seed), "--out", str(out)])
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert outs[0].read_bytes() != outs[2].read_bytes()
    df = pd.read_csv(outs[0], sep="\t")
    assert list(df.columns[:4]) == ["id", "sequence", "label", "split"]
    assert set(df["split"]) == {"train", "valid", "test"} and df["id"].is_unique
    summary = json.loads((tmp_path / f"{name}0.summary.json").read_text())
    assert summary["builder"] == f"metagenomics_{name}" and summary["n"] == len(df)
    assert summary["reads"]["error_rate"] == 0.01
    if name == "amplicon":
        assert summary["build"]["no_amplicon"] > 0 and summary["primers"]["forward"] == FORWARD_PRIMER


def test_taxonomy_mismatch_names_the_record(mdc, tmp_path):
    fasta, taxonomy = mdc
    lines = taxonomy.read_text().splitlines()
    lines[5] = lines[5].rsplit(" ", 1)[0] + " Wronggenus"
    bad = tmp_path / "taxonomy.txt"
    bad.write_text("\n".join(lines) + "\n")
    rec = lines[5].split()[0].lstrip(">")
    with pytest.raises(ValueError, match=rf"line 6: record '{rec}' has taxonomy .*Wronggenus"):
        read_16s(fasta, bad)


def test_workflow_rule_builds_the_shotgun_task(shared_data_http, tmp_path):
    """The metagenomics_dataset rule, its inputs downloaded from the HTTP mirror."""
    import yaml
    from workflow_run import REPO, snakemake, write_config

    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    cfg["mirror"] = shared_data_http
    cfg["tasks"]["reads"] = {"builder": "metagenomics_shotgun",
                             "inputs": {"fasta": "metagenomicdc_16s", "taxonomy": "metagenomicdc_taxonomy"},
                             "params": {"reads_per_sequence": 2, "read_length": 120, "error_rate": 0.0,
                                        "paired": True, "split_by": "sequence", "seed": 5,
                                        "fractions": [0.6, 0.2, 0.2]}}
    configfile = write_config(tmp_path / "c.yaml", cfg)
    snakemake(tmp_path, "--cores", "1", "results/datasets/reads.tsv", configfile=configfile)
    df = pd.read_csv(tmp_path / "results" / "datasets" / "reads.tsv", sep="\t")
    summary = json.loads((tmp_path / "results" / "datasets" / "reads.summary.json").read_text())
    assert summary["reads"]["paired"] and summary["split"]["split_by"] == "sequence"
    assert set(df["mate"]) == {1, 2} and (df["errors"] == 0).all()
    assert df.groupby("record")["split"].nunique().max() == 1
