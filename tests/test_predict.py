"""`genomic-ulmfit predict`: a trained classifier applied to unlabelled sequences in FASTA,
TSV or one-per-line files. A tiny classifier learns a planted motif (seconds on CPU); the
command must find the motif in new sequences of other lengths, agree with `evaluate`'s
probabilities, keep input order through batching by length (a score independent of the rest of the file), use the reverse strand when
asked, and never give a number to a sequence it cannot read."""
import gzip

import numpy as np
import pandas as pd
import pytest
import torch

from genomic_ulmfit.cli import main as cli
from genomic_ulmfit.fasta import reverse_complement
from genomic_ulmfit.kmers import KmerTokenizer
from genomic_ulmfit.models import get_preset
from genomic_ulmfit.predict import InputSequence, SequenceClassifier, predict_table, read_sequences
from genomic_ulmfit.train import OneCycle, predict, train_classifier
from test_training import MOTIF, motif_dataset
from workflow_run import REPO, planned_jobs, snakemake, write_config


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("clf") / "model.pth"
    df = motif_dataset(n=800)
    train_classifier(df, KmerTokenizer(3, 1), get_preset("tiny"), [OneCycle(5, 2e-2)], path, seed=0)
    return path, df


def _new_sequences(n: int, seed: int = 11) -> list[tuple[str, str, bool]]:
    """(id, sequence, has motif): lengths 60..200, so batches mix lengths."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(rng.integers(60, 200))
        seq = list(rng.choice(list("ACGT"), length))
        planted = bool(i % 2)
        if planted:
            p = int(rng.integers(0, length - len(MOTIF)))
            seq[p:p + len(MOTIF)] = MOTIF
        out.append((f"new{i}", "".join(seq), planted))
    return out


def test_predict_finds_the_motif_in_new_sequences_from_every_input_format(model, tmp_path):
    seqs = _new_sequences(120)
    fa = tmp_path / "new.fa.gz"
    with gzip.open(fa, "wt") as fh:
        fh.writelines(f">{i} some description\n{s[:50]}\n{s[50:]}\n" for i, s, _ in seqs)
    tsv = tmp_path / "new.tsv"
    pd.DataFrame({"id": [i for i, _, _ in seqs], "sequence": [s for _, s, _ in seqs]}).to_csv(tsv, sep="\t", index=False)
    lines = tmp_path / "new.txt"
    lines.write_text("".join(f"{s}\n" for _, s, _ in seqs))

    tables = {}
    for name, path in [("fa", fa), ("tsv", tsv), ("txt", lines)]:
        cli(["predict", "--model", str(model[0]), "--input", str(path), "--out", str(tmp_path / f"{name}.out.tsv"),
             "--device", "cpu", "--batch-size", "16"])
        tables[name] = pd.read_csv(tmp_path / f"{name}.out.tsv", sep="\t")
    fa_table = tables["fa"]
    assert list(fa_table.columns) == ["id", "length", "prob_non_promoter", "prob_promoter", "prediction"]
    assert fa_table["id"].tolist() == [i for i, _, _ in seqs]  # input order, not batch order
    assert fa_table["length"].tolist() == [len(s) for _, s, _ in seqs]
    truth = np.array(["promoter" if m else "non_promoter" for _, _, m in seqs])
    accuracy = (fa_table["prediction"].to_numpy() == truth).mean()
    assert accuracy >= 0.9, accuracy  # chance is 0.5
    np.testing.assert_allclose(fa_table[["prob_non_promoter", "prob_promoter"]].sum(axis=1), 1.0, atol=1e-5)
    for other in ("tsv", "txt"):
        np.testing.assert_allclose(tables[other]["prob_promoter"], fa_table["prob_promoter"], atol=1e-6)
    assert tables["txt"]["id"].tolist()[:2] == ["line1", "line2"]
    assert pd.read_csv(tmp_path / "fa.out.skipped.tsv", sep="\t").empty


def test_predict_agrees_with_evaluate_and_with_one_sequence_per_batch(model):
    path, df = model
    test = df[df["split"] == "test"]
    expected = predict(path, df, "test", torch.device("cpu"))
    clf = SequenceClassifier(path, "cpu", batch_size=7)
    table, _ = predict_table(clf, _as_inputs([(r.id, r.sequence, None) for r in test.itertuples()]))
    np.testing.assert_allclose(table["prob_promoter"], expected["prob_promoter"], atol=1e-5)
    single = SequenceClassifier(path, "cpu", batch_size=1)
    mixed = _as_inputs(_new_sequences(30))
    np.testing.assert_allclose(predict_table(single, mixed)[0]["prob_promoter"],
                               predict_table(clf, mixed)[0]["prob_promoter"], atol=1e-5)


def _as_inputs(rows):
    return [InputSequence(i, s, "memory") for i, s, _ in rows]


def test_both_strands_finds_a_motif_on_the_reverse_strand(model):
    clf = SequenceClassifier(model[0], "cpu")
    rng = np.random.default_rng(5)
    rows = []
    for i in range(40):
        seq = list(rng.choice(list("ACGT"), 120))
        seq[50:50 + len(MOTIF)] = reverse_complement(MOTIF)
        rows.append((f"rc{i}", "".join(seq), True))
    seqs = _as_inputs(rows)
    forward, _ = predict_table(clf, seqs, strands="forward")
    both, _ = predict_table(clf, seqs, strands="both", combine="max")
    mean, _ = predict_table(clf, seqs, strands="both", combine="mean")
    assert (both["prediction"] == "promoter").mean() >= 0.9 > (forward["prediction"] == "promoter").mean()
    assert (both["prob_promoter"] >= forward["prob_promoter"] - 1e-6).all()
    assert (mean["prob_promoter"] <= both["prob_promoter"] + 1e-6).all()


def test_unreadable_sequences_are_listed_by_id_never_scored(model, tmp_path, capsys):
    good = _new_sequences(4)
    fa = tmp_path / "mixed.fa"
    fa.write_text("".join(f">{i}\n{s}\n" for i, s, _ in good) + ">tiny\nAC\n>protein\nMKVLAAGIVQQ*\n")
    out = tmp_path / "p.tsv"
    cli(["predict", "--model", str(model[0]), "--input", str(fa), "--out", str(out), "--device", "cpu"])
    table = pd.read_csv(out, sep="\t")
    skipped = pd.read_csv(tmp_path / "p.skipped.tsv", sep="\t")
    assert table["id"].tolist() == [i for i, _, _ in good]
    assert skipped["id"].tolist() == ["tiny", "protein"]
    assert "fewer than k=3" in skipped["reason"][0] and "'tiny'" in skipped["reason"][0]
    assert "protein" in skipped["reason"][1]

    with pytest.raises(SystemExit) as err:
        cli(["predict", "--model", str(model[0]), "--input", str(fa), "--out", str(tmp_path / "q.tsv"),
             "--on-invalid", "fail", "--device", "cpu"])
    assert err.value.code == 2
    message = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(message) == 1 and str(fa) in message[0] and "'tiny'" in message[0]
    assert not (tmp_path / "q.tsv").exists()


def test_duplicate_ids_and_empty_files_are_refused_naming_the_file(tmp_path, model):
    dup = tmp_path / "dup.fa"
    dup.write_text(">a\nACGTACGTAC\n>a\nACGTACGTAA\n")
    with pytest.raises(ValueError, match=r"dup.fa: sequence id 'a' appears twice"):
        predict_table(SequenceClassifier(model[0]), read_sequences(dup))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match=r"empty.txt: the file is empty"):
        read_sequences(empty)


def test_workflow_predict_scores_a_users_fasta_with_a_finished_runs_classifier(e2e, tmp_path):
    """config `predict:` on top of a finished run of config/test.yaml: only the user's file is
    fetched and scored; the scores are evaluate's for the same sequences, and they beat chance."""
    workdir, _, cfg, _ = e2e
    data = pd.read_csv(workdir / "results" / "datasets" / "ecoli_promoters.tsv", sep="\t")
    test = data[data["split"] == "test"]
    fa = tmp_path / "my_sequences.fa"
    fa.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in test.itertuples()) + ">too_short\nAC\n")
    mine = tmp_path / "my_sources.yaml"
    mine.write_text(f"my_sequences:\n  url: {fa.as_uri()}\n  sha256: null\n  mirror_path: my_sequences.fa\n")
    run = dict(cfg, sources=[str(REPO / "resources" / "sources.yaml"), str(mine)],
               predict={"experiment": "genome_pretraining_finetuning", "seed": 0, "inputs": ["my_sequences"]})
    configfile = write_config(tmp_path / "predict.yaml", run)
    assert planned_jobs(snakemake(workdir, "-n", "--cores", "2", configfile=configfile)) == \
        {"all": 1, "download": 1, "predict": 1}
    snakemake(workdir, "--cores", "2", "--resources", "gpu=1", configfile=configfile)

    out = next((workdir / "results" / "predict").rglob("my_sequences.tsv"))
    assert "genome_pretraining_finetuning" not in str(out)  # the run's path: task/init/k/tag/n/seed
    assert out.parent.name == "seed0" and "finetuned-ecoli_genome" in str(out)
    table = pd.read_csv(out, sep="\t")
    assert table["id"].tolist() == test["id"].tolist()
    evaluated = pd.read_csv(workdir / "results" / "evaluation" / out.parent.relative_to(
        workdir / "results" / "predict") / "test.predictions.csv")
    merged = table.merge(evaluated, on="id", suffixes=("", "_evaluate"))
    assert len(merged) == len(table)
    np.testing.assert_allclose(merged["prob_promoter"], merged["prob_promoter_evaluate"], atol=1e-4)
    truth = test.set_index("id").loc[table["id"], "label"].to_numpy()
    assert (table["prediction"].to_numpy() == truth).mean() > 0.65  # balanced: chance is 0.5
    skipped = pd.read_csv(out.with_name("my_sequences.skipped.tsv"), sep="\t")
    assert skipped["id"].tolist() == ["too_short"]


def test_a_classifier_of_another_k_is_refused(model, tmp_path, capsys):
    fa = tmp_path / "x.fa"
    fa.write_text(">a\nACGTACGTACGTACGTACGT\n")
    with pytest.raises(SystemExit) as err:
        cli(["predict", "--model", str(model[0]), "--k", "5", "--stride", "2", "--input", str(fa),
             "--out", str(tmp_path / "x.tsv"), "--device", "cpu"])
    assert err.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "k=3, stride=1" in line and "k=5, stride=2" in line and not (tmp_path / "x.tsv").exists()
