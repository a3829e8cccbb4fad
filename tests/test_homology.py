from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from Bio.Seq import reverse_complement as bio_rc

from genomic_ulmfit.datasets.ecoli import build_ecoli_promoter_set
from genomic_ulmfit.homology import (
    blast_all_vs_all,
    blast_between,
    homology_aware_split,
    homology_graph,
    leakage_report,
    stratified_split,
)

GBFF = "ncbi/genomes/all/GCF/000/005/845/GCF_000005845.2_ASM584v2/GCF_000005845.2_ASM584v2_genomic.gbff.gz"


def _random_seq(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), size=n))


# --------------------------------------------------------------------------- synthetic


def test_blast_finds_shared_segments_on_both_strands(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shared20, shared12 = _random_seq(rng, 20), _random_seq(rng, 12)
    base = [_random_seq(rng, 150) for _ in range(6)]
    seqs = {
        "a": base[0][:60] + shared20 + base[0][80:],
        "b": base[1][:30] + bio_rc(shared20) + base[1][50:],  # same segment, other strand
        "c": base[2][:90] + shared12 + base[2][102:],
        "d": base[3][:10] + shared12 + base[3][22:],  # only 12 bp shared with c: below word size
        "e": base[4],
        "f": base[5],
    }
    df = pd.DataFrame({"id": list(seqs), "sequence": list(seqs.values())})
    pairs = blast_all_vs_all(df, workdir=tmp_path / "blast")
    assert pairs == [("a", "b")]
    assert (tmp_path / "blast" / "hits.tsv").is_file()
    assert blast_between(df[df.id == "b"], df[df.id != "b"]) == [("b", "a")]


def test_blast_rejects_duplicate_ids() -> None:
    df = pd.DataFrame({"id": ["x", "x"], "sequence": ["ACGT", "ACGT"]})
    with pytest.raises(ValueError, match="'x'"):
        blast_all_vs_all(df)


def _toy(n_per_class: int = 40) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    ids = [f"s{i:03d}" for i in range(2 * n_per_class)]
    labels = ["pos"] * n_per_class + ["neg"] * n_per_class
    rng = np.random.default_rng(1)
    pairs = sorted({tuple(sorted(rng.choice(ids, size=2, replace=False))) for _ in range(60)})
    df = pd.DataFrame({"id": ids, "sequence": ["ACGT"] * len(ids), "label": labels})
    return df, pairs


def test_split_is_balanced_and_leak_free() -> None:
    df, pairs = _toy()
    out = homology_aware_split(df, pairs, n_test=10, n_valid=6, seed=5)
    counts = out.groupby(["split", "label"]).size()
    assert counts["test"].to_dict() == {"neg": 5, "pos": 5}
    assert counts["valid"].to_dict() == {"neg": 3, "pos": 3}
    report = leakage_report(out, pairs)
    assert all(v["n_with_hit"] == 0 for v in report.values())
    stats = out.attrs["homology_split"]
    assert stats["removed_from_train"] == len(df) - len(out)
    # The dropped rows are exactly the training rows linked to a held-out row.
    held = set(out.loc[out.split != "train", "id"])
    linked = {b if a in held else a for a, b in pairs if (a in held) != (b in held)}
    assert linked == set(df.id) - set(out.id)


def test_split_is_reproducible_across_hash_seeds() -> None:
    # networkx samples from a set; string hashing differs per process unless handled.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from test_homology import _toy; from genomic_ulmfit.homology import homology_aware_split;"
        "df, p = _toy(); out = homology_aware_split(df, p, 10, 6, 5);"
        "print(','.join(out.id + ':' + out.split))"
    )
    runs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)],
                                env=env, capture_output=True, text=True, check=True)
        runs.add(result.stdout)
    assert len(runs) == 1


def test_split_fails_with_too_few_independent() -> None:
    df, _ = _toy(5)
    # A clique among the 'pos' rows: only one of them can be held out.
    pos = df.loc[df.label == "pos", "id"].tolist()
    clique = [(a, b) for i, a in enumerate(pos) for b in pos[i + 1 :]]
    with pytest.raises(ValueError, match=r"only 1 mutually non-homologous 'pos'"):
        homology_aware_split(df, clique, n_test=2, n_valid=2, seed=0)


def test_graph_rejects_unknown_ids() -> None:
    with pytest.raises(ValueError, match="'zz'"):
        homology_graph(["a", "b"], [("a", "zz")])
    assert homology_graph(["a", "b"], [("a", "a")]).number_of_edges() == 0


def test_stratified_split() -> None:
    df = pd.DataFrame({"id": [f"i{i}" for i in range(1000)], "sequence": "A",
                       "label": ["x"] * 700 + ["y"] * 300})
    out = stratified_split(df, seed=3)
    sizes = out["split"].value_counts()
    assert abs(sizes["test"] - 100) <= 1 and abs(sizes["valid"] - 90) <= 1
    share_y = out.groupby("split")["label"].apply(lambda s: (s == "y").mean())
    assert np.allclose(share_y, 0.3, atol=0.02)
    pd.testing.assert_frame_equal(out, stratified_split(df, seed=3))
    assert list(out["id"]) == list(df["id"])
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_split(df, (0.5, 0.2, 0.2), seed=3)


# --------------------------------------------------------------------------- real E. coli set


@pytest.fixture(scope="module")
def real_split(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame, list, float]:
    df = build_ecoli_promoter_set(shared_data / GBFF, seed=11)
    started = time.monotonic()
    pairs = blast_all_vs_all(df, threads=min(4, os.cpu_count() or 1))
    seconds = time.monotonic() - started
    return df, homology_aware_split(df, pairs, n_test=830, n_valid=750, seed=11), pairs, seconds


def test_real_split_sizes(real_split) -> None:
    df, out, pairs, seconds = real_split
    counts = out.groupby(["split", "label"]).size()
    assert counts["test"].to_dict() == {"non_promoter": 415, "promoter": 415}
    assert counts["valid"].to_dict() == {"non_promoter": 375, "promoter": 375}
    stats = out.attrs["homology_split"]
    assert stats["mis_size"] >= 830 + 750
    assert (out["split"] == "train").sum() == len(df) - 830 - 750 - stats["removed_from_train"]
    print(json.dumps({**stats, "blast_seconds": round(seconds, 1)}))  # shown with -s
    assert seconds < 60


def test_real_heldout_has_no_hit_in_train(real_split, tmp_path: Path) -> None:
    _, out, _, _ = real_split
    held, train = out[out["split"] != "train"], out[out["split"] == "train"]
    assert blast_between(held, train, threads=min(4, os.cpu_count() or 1)) == []
    # And none among the held-out sequences themselves.
    assert blast_all_vs_all(held) == []


def test_real_heldout_shares_no_15mer_with_train(real_split) -> None:
    # Independent of BLAST: no exact 15-mer (either strand) of a held-out window occurs in training.
    _, out, _, _ = real_split

    def kmers(seq: str) -> set[str]:
        return {x[i : i + 15] for x in (seq, bio_rc(seq)) for i in range(len(x) - 14)}

    train = set().union(*(kmers(s) for s in out.loc[out["split"] == "train", "sequence"]))
    held = out[out["split"] != "train"]
    assert [i for i, s in zip(held["id"], held["sequence"]) if kmers(s) & train] == []
