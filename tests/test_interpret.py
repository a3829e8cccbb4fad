"""Interpretation and genome scanning on a tiny classifier trained (seconds, CPU) to find
a planted motif: perturbation importance, sliding-window scans and their browser
tracks, agreement with annotation, variant effects, JASPAR motifs, embedding maps."""
import gzip
import json
import subprocess
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch

from genomic_ulmfit.cli import main as cli
from genomic_ulmfit.datasets.genomes import Genome
from genomic_ulmfit.fasta import reverse_complement
from genomic_ulmfit.interpret import (kmer_embedding_map, perturbation_importance, promoter_element,
                                      window_starts)
from genomic_ulmfit.kmers import KmerTokenizer, encode_bases
from genomic_ulmfit.models import get_preset
from genomic_ulmfit.motifs import (dinucleotide_shuffle, motif_enrichment, read_jaspar, segment_hits,
                                   top_segments)
from genomic_ulmfit.scan import (INFO_ID, WindowClassifier, annotation_agreement, genbank_cds_starts,
                                 reverse_complement_codes, scan_main, score_variants, tokens_2d,
                                 window_tokens, write_annotated_vcf)
from genomic_ulmfit.train import OneCycle, predict, train_classifier
from test_training import MOTIF, motif_dataset

JASPAR = "jaspar/jaspar2024_core.transfac.gz"
GBFF = ("ncbi/genomes/all/GCF/000/005/845/GCF_000005845.2_ASM584v2/"
        "GCF_000005845.2_ASM584v2_genomic.gbff.gz")
WINDOW = 90  # motif_dataset's sequence length


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny naive classifier that finds MOTIF in 90 bp sequences (~8 s). Stride 1, so
    it reads the motif wherever it lies (with stride 3 it learns it in one frame only)."""
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("clf") / "model.pth"
    df = motif_dataset(n=800)
    train_classifier(df, KmerTokenizer(3, 1), get_preset("tiny"), [OneCycle(5, 2e-2)], path, seed=0)
    return path, df


def random_dna(n, rng):
    return "".join(rng.choice(list("ACGT"), n))


def write_fasta(path, records):
    path.write_text("".join(f">{name}\n" + "\n".join(s[i:i + 60] for i in range(0, len(s), 60)) + "\n"
                            for name, s in records))
    return Genome(path)


# -- tokens and batching -------------------------------------------------------------------------

def test_window_tokens_are_the_tokenizers_on_both_strands():
    rng = np.random.default_rng(1)
    seq = random_dna(400, rng)
    seq = seq[:50] + "N" + seq[51:]
    tok = KmerTokenizer(5, 2)
    codes = encode_bases(seq)
    offsets = np.array([0, 1, 7, 48, 120, 255, 310])
    got = window_tokens(codes, offsets, 90, 5, 2)
    assert [list(r) for r in got] == [list(tok.encode(seq[o:o + 90])) for o in offsets]
    rc = reverse_complement_codes(codes)
    assert "".join("ACGTN"[c] for c in rc) == reverse_complement(seq)
    windows = np.stack([codes[o:o + 90] for o in offsets])
    assert (tokens_2d(windows, 5, 2) == got).all()


def test_batched_inference_equals_the_evaluation_path(model):
    path, df = model
    clf = WindowClassifier(path, "cpu", batch_size=7)
    test = df[df.split == "test"]
    ours = clf.sequence_probabilities(test["sequence"].tolist())
    theirs = predict(path, df, "test")["prob_promoter"].to_numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    big = WindowClassifier(path, "cpu", batch_size=1000).sequence_probabilities(test["sequence"].tolist())
    np.testing.assert_allclose(ours, big, atol=1e-5)
    assert ((ours > 0.5) == (test["label"] == "promoter")).mean() > 0.95


# -- perturbation importance ---------------------------------------------------------------------

def test_importance_is_highest_on_the_planted_motif(model):
    path, df = model
    clf = WindowClassifier(path, "cpu")
    pos = df[(df.split == "test") & (df.label == "promoter")].head(30)
    windows, per_base = perturbation_importance(clf, pos["id"].tolist(), pos["sequence"].tolist(),
                                                window=8, step=4, draws=4, seed=0)
    assert set(windows["id"]) == set(pos["id"])
    on_motif, inside, outside = 0, [], []
    for seq, imp in zip(pos["sequence"], per_base):
        m = seq.index(MOTIF)
        span = np.zeros(len(seq), bool)
        span[m:m + len(MOTIF)] = True
        on_motif += span[int(np.argmax(imp))]
        inside.append(imp[span].mean())
        outside.append(imp[~span].mean())
    assert on_motif >= 0.9 * len(pos), on_motif
    assert np.mean(inside) > 0.2 and np.mean(inside) > 10 * abs(np.mean(outside))


def test_window_starts_cover_every_base():
    assert list(window_starts(90, 10, 5)[-2:]) == [75, 80]
    assert list(window_starts(91, 10, 5)[-2:]) == [80, 81]
    with pytest.raises(ValueError, match="does not fit"):
        window_starts(5, 10, 5)


def test_importance_command_writes_tables_and_figures(model, tmp_path):
    path, df = model
    ds = tmp_path / "ds.tsv"
    df.to_csv(ds, sep="\t", index=False)
    out = {k: tmp_path / f"{k}" for k in ("w.tsv", "b.tsv", "p.tsv", "ex.png", "sum.png")}
    cli(["importance", "--model", str(path), "--dataset", str(ds), "--max-sequences", "12",
         "--window", "8", "--step", "4", "--draws", "2", "--anchor", "40", "--device", "cpu",
         "--windows-out", str(out["w.tsv"]), "--bases-out", str(out["b.tsv"]),
         "--profile-out", str(out["p.tsv"]), "--examples-png", str(out["ex.png"]),
         "--summary-png", str(out["sum.png"])])
    profile = pd.read_csv(out["p.tsv"], sep="\t")
    assert profile["relative_position"].tolist() == list(range(-40, 50))
    assert (profile["n"] == 12).all()
    assert out["ex.png"].stat().st_size > 10_000 and out["sum.png"].stat().st_size > 10_000


# -- scanning and browser tracks -----------------------------------------------------------------

@pytest.fixture(scope="module")
def planted_genome(tmp_path_factory):
    """chrA: MOTIF at 1500 on '+'; chrB: MOTIF's reverse complement at 599 ('-' strand)."""
    rng = np.random.default_rng(7)
    a, b = random_dna(3000, rng), random_dna(1500, rng)
    a = a[:1500] + MOTIF + a[1500 + len(MOTIF):]
    b = b[:599] + reverse_complement(MOTIF) + b[599 + len(MOTIF):]
    d = tmp_path_factory.mktemp("genome")
    return write_fasta(d / "g.fa", [("chrB", b), ("chrA", a)]), d


@pytest.fixture(scope="module")
def scan(model, planted_genome):
    genome, d = planted_genome
    summary = scan_main(model[0], genome.fasta, d / "scan", WINDOW, 3, 0.9, device="cpu")
    return d / "scan", summary


def _track(path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("track ")
    return [line.split("\t") for line in lines[1:]]


def test_scan_calls_the_planted_promoter_on_its_strand_only(scan):
    prefix, summary = scan
    called = _track(prefix.with_suffix(".called.bed"))
    assert summary["windows"] == 2 * ((3000 - 90) // 3 + 1 + (1500 - 90) // 3 + 1)
    planted = {("chrA", "+"): 1500, ("chrB", "-"): 599}
    over = {}
    for chrom, start, end, name, score, strand in called:
        at = planted.get((chrom, strand))
        if at is not None and int(start) <= at and at + len(MOTIF) <= int(end):
            over[(chrom, strand)] = (int(start), int(end), int(score))
        assert 900 <= int(score) <= 1000 and name.startswith("p=")
    assert set(over) == set(planted)  # a call over each planted motif, on its strand
    for start, end, score in over.values():
        assert end - start <= 2 * WINDOW and score >= 990
    # the toy model's false positives in random sequence stay rare
    elsewhere = sum(int(e) - int(s) for c, s, e, _, _, st in called if (c, st) not in over
                    or (int(s), int(e)) != over[(c, st)][:2])
    assert elsewhere < 0.05 * 2 * 4500


def test_bedgraph_and_bed_are_valid_tracks(scan, planted_genome):
    prefix, _ = scan
    genome, _ = planted_genome
    for name in ("scan.bedgraph", "scan.plus.bedgraph", "scan.minus.bedgraph", "scan.called.bed"):
        path = prefix.parent / name
        rows = _track(path)
        assert rows, name
        keys = [(r[0], int(r[1])) for r in rows]
        assert keys == sorted(keys), f"{name} is not sorted"
        for r in rows:
            assert 0 <= int(r[1]) < int(r[2]) <= genome.sizes[r[0]], r
        if name.endswith("bedgraph"):
            for (c1, _, e1, _), (c2, s2, _, _) in zip(rows, rows[1:]):
                assert c1 != c2 or int(e1) <= int(s2), f"{name}: overlapping intervals"
            assert all(0 <= float(r[3]) <= 1 for r in rows)
        # bedtools reads it (track line included) and finds every interval
        res = subprocess.run(["bedtools", "merge", "-i", str(path), "-d", "-1"], capture_output=True,
                             text=True)
        assert res.returncode == 0, res.stderr
    plus = _track(prefix.parent / "scan.plus.bedgraph")
    peak = max(plus, key=lambda r: float(r[3]))
    assert peak[0] == "chrA" and 1500 - WINDOW <= int(peak[1]) <= 1500 + WINDOW


def test_every_bedgraph_has_a_bigwig_with_the_same_intervals_and_values(scan, planted_genome):
    """What IGV / UCSC read at genome scale: read back with pyBigWig, each BigWig holds its
    bedGraph's intervals and values, and every chromosome of the genome index."""
    import pyBigWig
    prefix, _ = scan
    genome, _ = planted_genome
    for name in ("scan", "scan.plus", "scan.minus"):
        rows = _track(prefix.parent / f"{name}.bedgraph")
        bw = pyBigWig.open(str(prefix.parent / f"{name}.bw"))
        try:
            assert bw.isBigWig() and bw.chroms() == dict(genome.sizes)
            got = [(c, s, e, v) for c in sorted(genome.sizes) for s, e, v in (bw.intervals(c) or ())]
        finally:
            bw.close()
        assert [(c, s, e) for c, s, e, _ in got] == [(r[0], int(r[1]), int(r[2])) for r in rows], name
        np.testing.assert_allclose([v for *_, v in got], [float(r[3]) for r in rows], atol=1e-6)


def test_scan_of_a_region_and_region_errors(model, planted_genome, tmp_path):
    genome, _ = planted_genome
    s = scan_main(model[0], genome.fasta, tmp_path / "r", WINDOW, 10, 0.9, regions=["chrA:1001-2000"],
                  device="cpu")
    windows = pd.read_csv(tmp_path / "r.windows.tsv.gz", sep="\t")
    assert windows["start"].min() == 1000 and windows["end"].max() <= 2000
    assert s["windows"] == 2 * ((1000 - 90) // 10 + 1)
    with pytest.raises(ValueError, match="outside chrA"):
        scan_main(model[0], genome.fasta, tmp_path / "x", WINDOW, 10, 0.9, regions=["chrA:1-5000"])
    with pytest.raises(ValueError, match="'chrZ' is not in the genome"):
        scan_main(model[0], genome.fasta, tmp_path / "x", WINDOW, 10, 0.9, regions=["chrZ"])


def test_agreement_beats_random_placement(tmp_path):
    sizes = tmp_path / "g.sizes"
    sizes.write_text("chr1\t200000\n")
    scanned = tmp_path / "scanned.bed"
    scanned.write_text("chr1\t0\t200000\n")
    starts = pd.DataFrame({"chrom": "chr1", "start": [10_000, 50_000, 90_000, 150_000],
                           "end": [10_001, 50_001, 90_001, 150_001], "name": list("abcd"),
                           "score": 0, "strand": ["+", "+", "-", "+"]})
    called = tmp_path / "called.bed"
    called.write_text("track name=x\nchr1\t9850\t10000\tp\t950\t+\n"   # 1 bp short of a's start: hit
                      "chr1\t49000\t49150\tp\t950\t+\n"                  # 850 bp away: miss
                      "chr1\t89950\t90100\tp\t950\t+\n")                 # over d's start, wrong strand
    r = annotation_agreement(called, starts, sizes, scanned, distance=100, n_shuffles=20, seed=3)
    assert r["annotated_starts"] == 4 and r["called_regions"] == 3 and r["called_bp"] == 450
    assert r["observed_fraction"] == 0.25
    assert r["random_fraction_mean"] < 0.05 and r["ratio"] > 5
    again = annotation_agreement(called, starts, sizes, scanned, distance=100, n_shuffles=20, seed=3)
    assert again["random_fractions"] == r["random_fractions"]  # seeded
    any_strand = annotation_agreement(called, starts, sizes, scanned, 100, False, 5, 3)
    assert any_strand["observed_fraction"] == 0.5


def test_genbank_cds_starts_are_start_codons(shared_data):
    starts = genbank_cds_starts(shared_data / GBFF)
    assert 4000 < len(starts) < 4500
    first = starts.iloc[0]
    assert (first["name"], first["start"], first["strand"]) == ("b0001", 189, "+")  # thrL, 190..255
    genome_seq = "".join(line.strip() for line in gzip.open(
        shared_data / GBFF.replace(".gbff.gz", ".fna.gz"), "rt") if not line.startswith(">"))
    codons = Counter(genome_seq[s:s + 3] if strand == "+" else reverse_complement(genome_seq[s - 2:s + 1])
                     for s, strand in zip(starts["start"], starts["strand"]))
    assert codons["ATG"] / len(starts) > 0.85 and codons["GTG"] + codons["TTG"] > 0


# -- variants --------------------------------------------------------------------------------------

VCF_HEADER = "##fileformat=VCFv4.2\n##contig=<ID=chrA,length=3000>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def test_variant_effects(model, planted_genome, tmp_path):
    genome, _ = planted_genome
    a = genome.fetch("chrA", 0, 3000)
    m = 1500  # MOTIF at chrA:1501-1516 (1-based)
    assert a[m:m + 8] == "TATAATGC"
    # the whole motif replaced (an MNV): half a motif may still read as a promoter
    lines = [f"chrA\t{m + 1}\tin_motif\t{MOTIF}\tGCGCCGATAGCTCAGT\t.\tPASS\tDP=10",
             f"chrA\t400\tfar\t{a[399]}\t{'A' if a[399] != 'A' else 'T'},{'G' if a[399] != 'G' else 'C'}\t.\t.\t.",
             f"chrA\t{m}\tdel\t{a[m - 1:m + 11]}\t{a[m - 1]}\t.\t.\t.",  # 11 motif bases
             f"chrA\t{m + 40}\tins\t{a[m + 39]}\t{a[m + 39]}GGGGGGGG\t.\t.\t.",  # beside it
             "chrA\t20\tedge\tA\t<DEL>\t.\t.\t."]
    vcf = tmp_path / "v.vcf"
    vcf.write_text(VCF_HEADER + "\n".join(lines).replace("chrA\t20\tedge\tA", f"chrA\t20\tedge\t{a[19]}") + "\n")
    clf = WindowClassifier(model[0], "cpu")
    header, records, scores = score_variants(vcf, genome, clf, WINDOW)
    s = scores.set_index("id")
    # the motif reads on '+' only, so the strand mean of an intact motif is about 0.5
    assert s.loc["in_motif", "p_ref_plus"] > 0.9 and s.loc["in_motif", "p_alt_plus"] < 0.3
    assert s.loc["in_motif", "delta"] < -0.3
    assert (s.loc["far", "delta"].abs() < 0.1).all() and len(s.loc["far"]) == 2
    assert s.loc["del", "kind"] == "indel" and s.loc["del", "delta"] < -0.3
    # an insertion 24 bp after the motif keeps it inside the alternate window
    assert s.loc["ins", "kind"] == "indel" and s.loc["ins", "p_alt_plus"] > 0.9
    assert np.isnan(s.loc["edge", "delta"]) and "symbolic" in s.loc["edge", "note"]
    # both strands are scored and averaged
    assert s.loc["in_motif", "p_ref"] == pytest.approx(
        (s.loc["in_motif", "p_ref_plus"] + s.loc["in_motif", "p_ref_minus"]) / 2)
    out = tmp_path / "out.vcf"
    write_annotated_vcf(header, records, scores, out, "promoter", WINDOW)
    text = out.read_text().splitlines()
    info_line = [i for i, line in enumerate(text) if line.startswith(f"##INFO=<ID={INFO_ID},Number=A,Type=Float")]
    chrom_line = [i for i, line in enumerate(text) if line.startswith("#CHROM")]
    assert len(info_line) == 1 and info_line[0] < chrom_line[0]
    body = [line.split("\t") for line in text if not line.startswith("#")]
    assert len(body) == 5 and body[0][7].startswith("DP=10;" + INFO_ID + "=-")
    far_info = dict(kv.split("=") for kv in body[1][7].split(";"))
    assert len(far_info[INFO_ID].split(",")) == 2  # one value per ALT (Number=A)
    assert body[4][7] == f"{INFO_ID}=."


def test_vcf_ref_mismatch_names_the_line(model, planted_genome, tmp_path):
    genome, _ = planted_genome
    a = genome.fetch("chrA", 0, 3000)
    wrong = "A" if a[99] != "A" else "C"
    vcf = tmp_path / "bad.vcf"
    vcf.write_text(VCF_HEADER + f"chrA\t50\t.\t{a[49]}\tT\t.\t.\t.\nchrA\t100\t.\t{wrong}\tG\t.\t.\t.\n")
    with pytest.raises(ValueError, match=r"bad.vcf: line 5: REF . does not match the genome at chrA:100"):
        score_variants(vcf, genome, WindowClassifier(model[0], "cpu"), WINDOW)
    ds = tmp_path / "ds.tsv"
    model[1].to_csv(ds, sep="\t", index=False)
    with pytest.raises(SystemExit, match="2"):  # the command: a clear message, exit 2, no traceback
        cli(["variants", "--model", str(model[0]), "--genome", str(genome.fasta), "--vcf", str(vcf),
             "--out", str(tmp_path / "v.tsv"), "--vcf-out", str(tmp_path / "v.vcf"), "--dataset", str(ds)])
    assert not (tmp_path / "v.vcf").exists()


# -- motifs ------------------------------------------------------------------------------------------

def test_dinucleotide_shuffle_keeps_dinucleotides():
    rng = np.random.default_rng(0)
    for _ in range(50):
        s = random_dna(int(rng.integers(3, 60)), rng)
        t = dinucleotide_shuffle(s, rng)
        assert Counter(zip(s, s[1:])) == Counter(zip(t, t[1:])) and (s[0], s[-1]) == (t[0], t[-1])
    long = random_dna(200, rng)
    assert dinucleotide_shuffle(long, rng) != long


def test_jaspar_real_file(shared_data):
    motifs = read_jaspar(shared_data / JASPAR)
    assert len(motifs) == 2346
    by_id = {m.matrix_id: m for m in motifs}
    tbp = by_id["MA0108.3"]
    assert (tbp.name, tbp.tax_group, tbp.length) == ("TBP", "vertebrates", 7)
    assert "".join("ACGT"[i] for i in tbp.pssm.argmax(1)) == "TATAAAA"
    assert {m.tax_group for m in read_jaspar(shared_data / JASPAR, ["insects"])} == {"insects"}
    # a scan hit is the best placement on either strand, reverse complement included
    hits = segment_hits([tbp], ["GGGGTATAAAAGGG", reverse_complement("GGGGTATAAAAGGG"), "GGGGCGCGCGCGGG"])
    assert hits.tolist() == [[True, True, False]]


def test_enrichment_finds_a_planted_motif_and_nothing_in_noise(shared_data):
    motifs = read_jaspar(shared_data / JASPAR, ["vertebrates"])
    rng = np.random.default_rng(0)
    planted = []
    for _ in range(60):
        s = random_dna(30, rng)
        planted.append(s[:10] + "TATAAAAG" + s[18:])
    table = motif_enrichment(motifs, planted, shuffles=5, seed=0)
    assert "TBP" in table.head(5)["name"].tolist()
    assert table.loc[table["name"] == "TBP", "q_value"].iloc[0] < 1e-6
    assert (table["q_value"] >= table["p_value"] - 1e-12).all()
    noise = motif_enrichment(motifs, [random_dna(30, rng) for _ in range(60)], shuffles=5, seed=0)
    assert (noise["q_value"] > 0.05).all()


def test_top_segments_are_the_highest_drops():
    windows = pd.DataFrame({"id": ["a"] * 4 + ["b"] * 2, "window_start": [0, 10, 20, 30, 0, 10],
                            "window_end": [10, 20, 30, 40, 10, 20], "drop": [0.1, 0.5, 0.45, 0.2, -0.1, -0.2]})
    segs = top_segments(windows, {"a": "A" * 40, "b": "C" * 40}, per_sequence=2, flank=5)
    assert list(zip(segs["id"], segs["start"], segs["end"])) == [("a", 5, 25), ("a", 15, 35)]


# -- embedding map -----------------------------------------------------------------------------------

def test_promoter_elements_of_kmers():
    assert promoter_element("TATA") == "-10 box (TATAAT)"
    assert promoter_element("TGAC") == "-35 box (TTGACA)"
    assert promoter_element("GGGG") == "other"
    assert promoter_element("CTATAATG") == "-10 box (TATAAT)"  # k > 6: holds the element


def test_embedding_map(model, tmp_path):
    out = kmer_embedding_map(model[0], tmp_path / "e.tsv", tmp_path / "e.png", seed=0)
    assert len(out) == 64 and out["kmer"].iloc[0] == "AAA" and out["gc"].iloc[-1] == 0.0
    assert set(out.loc[out["element"] == "-10 box (TATAAT)", "kmer"]) == {"TAT", "ATA", "TAA", "AAT"}
    assert np.isfinite(out[["x", "y"]].to_numpy()).all() and out[["x", "y"]].std().min() > 0
    assert (tmp_path / "e.png").stat().st_size > 10_000
    again = kmer_embedding_map(model[0], tmp_path / "f.tsv", tmp_path / "f.png", seed=0)
    np.testing.assert_allclose(out[["x", "y"]], again[["x", "y"]])
