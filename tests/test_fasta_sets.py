"""FASTA-class sets (CNNPromoterData, E. coli), your own labelled table / BED regions,
and the leakage audit, on real data."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyfaidx
import pytest

from genomic_ulmfit.data import read_dataset
from genomic_ulmfit.datasets.common import assign_splits
from genomic_ulmfit.datasets.fasta_sets import (
    build_fasta_classes, fasta_classes_main, labelled_table_main, read_labelled_table,
)
from genomic_ulmfit.datasets.genomes import prepare_genome
from genomic_ulmfit.datasets.leakage import dataset_leakage, leakage_table
from genomic_ulmfit.datasets.regions import bed_regions_main, build_bed_regions, read_regions
from genomic_ulmfit.fasta import read_fasta, write_fasta


@pytest.fixture(scope="module")
def cnn(shared_data: Path) -> dict[str, list[Path]]:
    d = shared_data / "cnnpromoterdata"
    return {"promoter": [d / "Ecoli_prom.fa"], "non_promoter": [d / "Ecoli_non_prom.fa"]}


@pytest.fixture(scope="module")
def cnn_df(cnn) -> pd.DataFrame:
    return build_fasta_classes(cnn)


def _cli(main, tmp: Path, *argv: str) -> tuple[pd.DataFrame, dict]:
    out = tmp / "set.tsv"
    main([*argv, "--out", str(out), "--log-level", "WARNING"])
    return read_dataset(out), json.loads((tmp / "set.summary.json").read_text())


def test_cnn_classes_split_81_9_10_stratified(cnn, tmp_path) -> None:
    df, summary = _cli(fasta_classes_main, tmp_path, "--class", f"promoter={cnn['promoter'][0]}",
                       "--class", f"non_promoter={cnn['non_promoter'][0]}", "--seed", "2")
    assert summary["counts"]["train"] == {"non_promoter": 2430, "promoter": 679}
    assert summary["counts"]["valid"] == {"non_promoter": 270, "promoter": 76}
    assert summary["counts"]["test"] == {"non_promoter": 300, "promoter": 84}
    assert df["id"].is_unique and (df["sequence"].str.len() == 81).all()
    assert df.loc[df["label"] == "promoter", "record"].str.startswith("ECK").all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.summary.json", "set.tsv"]


def test_same_seed_same_split_other_seed_other(cnn_df) -> None:
    a, _ = assign_splits(cnn_df, 5)
    pd.testing.assert_frame_equal(a, assign_splits(cnn_df, 5)[0])
    b, _ = assign_splits(cnn_df, 6)
    assert (a["split"] != b["split"]).any() and a.groupby(["split", "label"]).size().equals(
        b.groupby(["split", "label"]).size())


def test_named_test_splits_from_separate_files(cnn, tmp_path) -> None:
    """Separate test inputs keep their split names; the rest goes to train/valid only."""
    files = {}
    for label, (path,) in cnn.items():
        records = list(read_fasta(path))
        for name, part in (("train", records[200:]), ("test", records[:100]), ("challenge", records[100:200])):
            files[label, name] = tmp_path / f"{label}_{name}.fa"
            write_fasta(part, files[label, name])
    argv = [a for label in cnn for a in (
        "--class", f"{label}={files[label, 'train']}",
        "--test", f"test:{label}={files[label, 'test']}",
        "--test", f"test_challenge:{label}={files[label, 'challenge']}")]
    df, summary = _cli(fasta_classes_main, tmp_path, *argv)
    assert summary["counts"]["test"] == {"non_promoter": 100, "promoter": 100}
    assert summary["counts"]["test_challenge"] == {"non_promoter": 100, "promoter": 100}
    rest = df[df["split"].isin(["train", "valid"])]
    assert len(rest) == 3839 - 400
    assert (rest["split"] == "valid").mean() == pytest.approx(0.1, abs=0.005)
    assert list(summary["counts"]) == ["train", "valid", "test", "test_challenge"]
    # homology-aware: training sequences with a hit to a given test sequence leave training
    given = df.assign(split=df["split"].where(df["split"].str.startswith("test"), ""))
    homol, info = assign_splits(given, 0, homology=True, threads=2)
    assert info["removed_near_given_test"] > 0 and (homol["split"] == "test_challenge").sum() == 200
    assert all(s["n_with_hit"] == 0 for s in dataset_leakage(homol, threads=2)["splits"].values())


def test_homology_split_leaves_no_leak_while_stratified_does(cnn_df) -> None:
    strat, _ = assign_splits(cnn_df, 0)
    homol, info = assign_splits(cnn_df, 0, homology=True, threads=2)
    assert info["method"] == "homology" and info["removed_from_train"] > 0
    leak_strat = dataset_leakage(strat, threads=2)["splits"]
    leak_homol = dataset_leakage(homol, threads=2)["splits"]
    assert leak_strat["test"]["n_with_hit"] > 0  # CNNPromoterData holds homologous sequences
    assert leak_homol["test"]["n_with_hit"] == 0 and leak_homol["valid"]["n_with_hit"] == 0
    strict = dataset_leakage(strat, min_identity=100.0, threads=2)["splits"]["test"]["n_with_hit"]
    assert 0 < strict <= leak_strat["test"]["n_with_hit"]


def test_leakage_table_lists_every_task(tmp_path) -> None:
    for task, hits in (("a", 0), ("b", 3)):
        (tmp_path / f"{task}.json").write_text(json.dumps({"min_length": 15, "min_identity": 0.0, "splits": {
            "test": {"n": 10, "n_with_hit": hits, "share": hits / 10}}}))
    table = leakage_table({t: tmp_path / f"{t}.json" for t in "ab"}, tmp_path / "leakage.csv")
    assert pd.read_csv(tmp_path / "leakage.csv").equals(table)
    assert table["share"].tolist() == [0.0, 0.3]


def test_malformed_fasta_names_file_record_and_line(tmp_path, cnn) -> None:
    bad = tmp_path / "prom.fa"
    bad.write_text(">ok\nACGT\n>broken\nACGT\nAC1T\n")
    with pytest.raises(ValueError, match=r"prom\.fa: record #2 'broken': character '1'; expected nucleotides"
                                         r".*starts on line 3"):
        build_fasta_classes({"promoter": [bad], "non_promoter": cnn["non_promoter"]})


def _write_lines(path: Path, seqs: list[str]) -> Path:
    """A Cohn et al. 2018-shaped samples file: one sequence per line, no headers."""
    path.write_text("".join(f"{s}\n" for s in seqs))
    return path


def test_lines_format_ids_and_blank_lines(cnn, tmp_path) -> None:
    seqs = [seq for _, seq in read_fasta(cnn["promoter"][0])]
    pos = tmp_path / "positive_samples"
    pos.write_text(f"{seqs[0]}\n\n{seqs[1].lower()}\n  \n{seqs[2]}\r\n")  # blank lines, CRLF, lowercase
    neg = _write_lines(tmp_path / "negative_samples", seqs[3:60])
    df = build_fasta_classes({"enhancer": [pos], "negative": [neg]}, fmt="lines")
    enh = df[df["label"] == "enhancer"]
    assert enh["record"].tolist() == ["positive_samples:1", "positive_samples:3", "positive_samples:5"]
    assert enh["id"].tolist()[0] == "enhancer:positive_samples:1" and enh["sequence"].tolist() == seqs[:3]
    assert (df["label"] == "negative").sum() == 57 and df["id"].is_unique
    out, summary = _cli(fasta_classes_main, tmp_path, "--class", f"enhancer={pos}", "--class",
                        f"negative={neg}", "--format", "lines")
    assert len(out) == 60 and summary["format"] == "lines"


def test_auto_format_reads_fasta_and_lines_alike(cnn, tmp_path) -> None:
    records = list(read_fasta(cnn["promoter"][0]))[:50]
    fasta = tmp_path / "prom.fa"
    fasta.write_text("\n" + "".join(f">{n}\n{s}\n" for n, s in records))  # leading blank line
    lines = _write_lines(tmp_path / "prom.txt", [s for _, s in records])
    neg = _write_lines(tmp_path / "neg.txt", [s for _, s in read_fasta(cnn["non_promoter"][0])][:50])
    by_fasta = build_fasta_classes({"promoter": [fasta], "non_promoter": [neg]})
    by_lines = build_fasta_classes({"promoter": [lines], "non_promoter": [neg]})
    assert by_fasta["sequence"].tolist() == by_lines["sequence"].tolist()
    assert by_fasta["record"].tolist()[:2] == [n for n, _ in records[:2]]
    assert by_lines["record"].tolist()[:2] == ["prom.txt:1", "prom.txt:2"]
    with pytest.raises(ValueError, match=r"prom\.fa: line 2: FASTA header '>.*'; expected one sequence per line"):
        build_fasta_classes({"promoter": [fasta]}, fmt="lines")  # a FASTA file read as lines


def test_lines_format_bad_line_names_file_line_and_expectation(tmp_path) -> None:
    bad = _write_lines(tmp_path / "positive_samples", ["ACGTACGT", "", "ACGT-ACGT"])
    with pytest.raises(ValueError, match=r"positive_samples: line 3: character '-'; expected nucleotides"):
        build_fasta_classes({"enhancer": [bad]}, fmt="lines")
    empty = tmp_path / "negative_samples"
    empty.write_text("\n  \n")
    with pytest.raises(ValueError, match=r"negative_samples: no sequence found .*expected one sequence per line"):
        build_fasta_classes({"negative": [empty]})
    with pytest.raises(ValueError, match=r"format 'tsv'; expected one of auto, fasta, lines"):
        build_fasta_classes({"enhancer": [bad]}, fmt="tsv")


def test_labelled_table_tsv_and_fasta(cnn_df, tmp_path) -> None:
    rows = cnn_df.iloc[::10][["sequence", "label"]].reset_index(drop=True)
    rows["split"] = ["test" if i % 10 == 0 else "" for i in range(len(rows))]
    tsv = tmp_path / "mine.tsv"
    rows.to_csv(tsv, sep="\t", index=False)
    df, summary = _cli(labelled_table_main, tmp_path, "--table", str(tsv), "--seed", "1")
    assert (df.loc[rows.index[rows["split"] == "test"], "split"] == "test").all()
    assert set(df["split"]) == {"train", "valid", "test"} and summary["split"]["n_given_split"] == 39
    fasta = tmp_path / "mine.fa"
    write_fasta(((f"s{i} {r.label}", r.sequence) for i, r in rows.iterrows()), fasta)
    table = read_labelled_table(fasta)
    assert table["label"].tolist() == rows["label"].tolist() and table["id"].tolist()[:2] == ["s0", "s1"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("sequence\tlabel\nACGT\tx\nACGT\t\n")
    with pytest.raises(ValueError, match=r"bad\.tsv: line 3: empty label"):
        read_labelled_table(bad)
    bad.write_text("seq\tlabel\nACGT\tx\n")
    with pytest.raises(ValueError, match=r"bad\.tsv: missing column\(s\) \['sequence'\]"):
        read_labelled_table(bad)


def test_bed_regions_strand_aware(shared_data, tmp_path) -> None:
    genome = prepare_genome(shared_data / "model_organisms" / "C.elegans.fa.gz", tmp_path / "ce.fa")
    bed = tmp_path / "regions.bed"
    lines = [f"{c}\t{s}\t{s + 300}\t{'enhancer' if i % 2 else 'background'}\t0\t{'-' if i % 3 else '+'}\n"
             for i, (c, s) in enumerate([(c, 5000 + 7919 * j) for c in ("I", "II", "X") for j in range(12)])]
    bed.write_text("track name=mine\n" + "".join(lines) + "I\t140000\t150800\tenhancer\t0\t.\n")
    df = build_bed_regions(genome, read_regions(bed))
    fa = pyfaidx.Fasta(str(genome.fasta))
    for r in df.itertuples():
        piece = fa[r.chrom][r.start:r.end]
        assert r.sequence == (piece.reverse.complement.seq if r.strand == "-" else piece.seq).upper()
    assert set(df["strand"]) == {"+", "-"} and len(df) == 36
    assert df.attrs["build_stats"]["dropped"] == {"off_chromosome": 1}  # the last line runs off chromosome I
    out, summary = _cli(bed_regions_main, tmp_path, "--genome", str(genome.fasta), "--regions", str(bed))
    assert set(out["label"]) == {"enhancer", "background"} and summary["build"]["regions"] == 37
    with pytest.raises(ValueError, match=r"not in the genome .*\['chrI'\].*the genome has \['I'"):
        bad = tmp_path / "chr.bed"
        bad.write_text("chrI\t10\t20\tx\n")
        build_bed_regions(genome, read_regions(bad), source=str(bad))


def test_builders_run_in_the_data_env(shared_data, cnn, tmp_path) -> None:
    """The builder and leakage commands need nothing outside envs/data.yaml (no torch)."""
    from test_envs import guarded
    organisms = shared_data / "model_organisms"
    steps = [
        ("genome", "--fasta", organisms / "D.melanogaster.fa.gz", "--out", tmp_path / "dm.fa"),
        ("tss-dataset", "--genome", tmp_path / "dm.fa", "--annotation", organisms / "D.melanogaster.gff.gz",
         "--out", tmp_path / "dm.tsv"),
        ("fasta-classes", "--class", f"promoter={cnn['promoter'][0]}", "--class",
         f"non_promoter={cnn['non_promoter'][0]}", "--out", tmp_path / "cnn.tsv"),
        ("leakage", "--dataset", tmp_path / "dm.tsv", "--out", tmp_path / "dm.leakage.json"),
        ("leakage-table", f"dm={tmp_path / 'dm.leakage.json'}", "--out", tmp_path / "leakage.csv"),
    ]
    for step in steps:
        res = guarded("data", *step, cwd=tmp_path)
        assert res.returncode == 0, (step[0], res.stderr[-2000:])
    assert pd.read_csv(tmp_path / "leakage.csv")["task"].tolist() == ["dm", "dm"]


def test_split_options_of_the_metagenomics_notebooks() -> None:
    """acgt_only drops reads with other letters, stratify=False splits over all reads at
    random (the amplicon notebook), max_per_class caps each class (and given split) first."""
    import numpy as np

    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(400)]
    seqs[:20] = [s[:10] + "N" + s[11:] for s in seqs[:20]]
    labels = ["rare"] * 12 + ["common"] * 388
    df = pd.DataFrame({"id": [f"r{i}" for i in range(400)], "sequence": seqs, "label": labels})
    out, info = assign_splits(df, 0, (0.8, 0.1, 0.1), acgt_only=True)
    assert len(out) == 380 and info["n_dropped_non_acgt"] == 20 and not out["sequence"].str.contains("N").any()
    assert info["method"] == "stratified"
    strat = out.groupby("split")["label"].value_counts().unstack(fill_value=0)
    assert (strat.loc[["train", "valid", "test"], "common"] > 0).all()
    plain, info = assign_splits(df, 0, (0.8, 0.1, 0.1), stratify=False)
    assert info["method"] == "random" and plain["split"].value_counts().to_dict() == {"train": 320, "test": 40, "valid": 40}
    capped, info = assign_splits(df.assign(split=[""] * 390 + ["test"] * 10), 0, (0.8, 0.1, 0.1), max_per_class=50)
    assert capped.loc[capped["split"] != "test", "label"].value_counts().to_dict() == {"common": 50, "rare": 12}
    assert (capped["split"] == "test").sum() == 10 and info["n_before_cap"] == 400
    again, _ = assign_splits(df.assign(split=[""] * 390 + ["test"] * 10), 0, (0.8, 0.1, 0.1), max_per_class=50)
    assert again.equals(capped)  # seeded
