"""Bad labels, splits, devices and short records end in an error that names the file, split,
label or record (exit 2), or in valid output; never in a quietly different task.

The datasets are real E. coli sequences (CNNPromoterData, 81 bp), a few dozen per split, and
the classifier the tiny preset: every command here runs in seconds on a CPU.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from genomic_ulmfit.checkpoint import load_checkpoint
from genomic_ulmfit.cli import main
from genomic_ulmfit.data import class_names, read_dataset
from genomic_ulmfit.datasets import common, ecoli, leakage
from genomic_ulmfit.datasets.common import write_dataset
from genomic_ulmfit.datasets.fasta_sets import build_fasta_classes, fasta_classes_main
from genomic_ulmfit.errors import InputError
from genomic_ulmfit.io.atomic import atomic_path
from genomic_ulmfit.train import pick_device

SETTINGS = json.dumps({"preset": "tiny", "stages": [{"epochs": 1, "lr": 0.01}]})
PER_SPLIT = {"train": 24, "valid": 8, "test": 8}  # per class


@pytest.fixture(scope="module")
def cnn(shared_data: Path) -> dict[str, list[Path]]:
    d = shared_data / "cnnpromoterdata"
    return {"promoter": [d / "Ecoli_prom.fa"], "non_promoter": [d / "Ecoli_non_prom.fa"]}


@pytest.fixture(scope="module")
def ecoli_set(cnn) -> pd.DataFrame:
    """A small balanced train/valid/test set of real promoters and non-promoters."""
    df = build_fasta_classes(cnn)
    parts = []
    for label, rows in df.groupby("label", sort=True):
        start = 0
        for split, n in PER_SPLIT.items():
            parts.append(rows.iloc[start:start + n].assign(split=split))
            start += n
    return pd.concat(parts, ignore_index=True)[["id", "sequence", "label", "split"]]


def _tsv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, sep="\t", index=False)
    return path


def _cli_error(capsys, *argv: str) -> str:
    """The one-line error of a command that must fail with exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0], err
    return err[0]


def _classify(dataset: Path, out: Path, *extra: str) -> None:
    main(["classify", "--dataset", str(dataset), "--out", str(out), "--k", "3", "--stride", "3",
          "--settings", SETTINGS, "--device", "cpu", "--log-level", "WARNING", *extra])


def _evaluate_args(model: Path, dataset: Path, tmp: Path, *extra: str) -> list[str]:
    return ["evaluate", "--model", str(model), "--dataset", str(dataset), "--device", "cpu",
            "--predictions", str(tmp / "pred.csv"), "--metrics", str(tmp / "metrics.json"),
            "--log-level", "WARNING", *extra]


@pytest.fixture(scope="module")
def model(ecoli_set, tmp_path_factory) -> tuple[Path, Path]:
    """(classifier checkpoint, its dataset TSV)."""
    d = tmp_path_factory.mktemp("clf")
    dataset = _tsv(ecoli_set, d / "ecoli.tsv")
    _classify(dataset, d / "clf.pth")
    return d / "clf.pth", dataset


def _relabel(df: pd.DataFrame, split: str, label: str, n: int = 3) -> pd.DataFrame:
    """`df` with the first `n` rows of `split` relabelled `label`."""
    df = df.copy()
    rows = df.index[df["split"] == split][:n]
    df.loc[rows, "label"] = label
    return df


def _strict_json(path: Path) -> dict:
    """JSON as a strict parser reads it: a bare NaN or Infinity is an error."""
    def refuse(token: str):
        raise ValueError(f"{path}: {token} is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


# -- A: the train split fixes the task's classes ---------------------------------------------------

def test_label_only_in_test_is_refused_by_classify(ecoli_set, tmp_path, capsys) -> None:
    dataset = _tsv(_relabel(ecoli_set, "test", "enhancer"), tmp_path / "extra.tsv")
    err = _cli_error(capsys, "classify", "--dataset", dataset, "--out", tmp_path / "clf.pth",
                     "--k", "3", "--stride", "3", "--settings", SETTINGS, "--device", "cpu")
    assert str(dataset) in err and "'test'" in err and "'enhancer'" in err
    assert "['non_promoter', 'promoter']" in err
    assert not (tmp_path / "clf.pth").exists()


def test_label_only_in_test_is_refused_by_evaluate(model, ecoli_set, tmp_path, capsys) -> None:
    dataset = _tsv(_relabel(ecoli_set, "test", "enhancer"), tmp_path / "extra.tsv")
    err = _cli_error(capsys, *_evaluate_args(model[0], dataset, tmp_path))
    assert str(dataset) in err and "'test'" in err and "'enhancer'" in err
    assert "['non_promoter', 'promoter']" in err
    assert not (tmp_path / "metrics.json").exists()


def test_label_with_trailing_space_is_the_train_class(ecoli_set, tmp_path) -> None:
    df = _relabel(_relabel(ecoli_set, "test", "promoter ", n=8), "valid", " promoter\t", n=2)
    dataset = _tsv(df, tmp_path / "space.tsv")
    assert class_names(read_dataset(dataset)) == ["non_promoter", "promoter"]
    _classify(dataset, tmp_path / "clf.pth")
    assert load_checkpoint(tmp_path / "clf.pth", "classifier")[0]["classes"] == ["non_promoter", "promoter"]
    main(_evaluate_args(tmp_path / "clf.pth", dataset, tmp_path))
    metrics = _strict_json(tmp_path / "metrics.json")
    assert metrics["positive_class"] == "promoter" and "per_class" not in metrics  # still binary
    assert metrics["confusion"]["tp"] + metrics["confusion"]["fn"] == 8 + PER_SPLIT["test"]


def test_test_split_missing_a_class_writes_valid_json(model, ecoli_set, tmp_path) -> None:
    only_promoters = ecoli_set[(ecoli_set["split"] != "test") | (ecoli_set["label"] == "promoter")]
    dataset = _tsv(only_promoters, tmp_path / "onlypos.tsv")
    main(_evaluate_args(model[0], dataset, tmp_path))
    metrics = _strict_json(tmp_path / "metrics.json")
    assert metrics["absent_classes"] == ["non_promoter"]
    assert metrics["n"] == PER_SPLIT["test"]
    for undefined in ("specificity", "mcc", "roc_auc", "pr_auc"):
        assert metrics[undefined] is None, undefined
    assert isinstance(metrics["accuracy"], float)
    assert len(pd.read_csv(tmp_path / "pred.csv")) == PER_SPLIT["test"]


# -- B: missing splits, devices, short records ------------------------------------------------------

def test_evaluate_unknown_split_names_the_splits(model, tmp_path, capsys) -> None:
    err = _cli_error(capsys, *_evaluate_args(*model, tmp_path, "--split", "test_missing"))
    assert "'test_missing'" in err and "['test', 'train', 'valid']" in err and str(model[1]) in err


def test_classify_without_valid_split_names_file_and_splits(ecoli_set, tmp_path, capsys) -> None:
    dataset = _tsv(ecoli_set[ecoli_set["split"] != "valid"], tmp_path / "novalid.tsv")
    err = _cli_error(capsys, "classify", "--dataset", dataset, "--out", tmp_path / "clf.pth",
                     "--k", "3", "--stride", "3", "--settings", SETTINGS, "--device", "cpu")
    assert str(dataset) in err and "'valid'" in err and "['test', 'train']" in err


def test_unknown_device_names_the_allowed_ones(model, tmp_path, capsys) -> None:
    err = _cli_error(capsys, *_evaluate_args(*model, tmp_path, "--device", "gpu"))
    assert "'gpu'" in err and "auto, cpu, cuda, cuda:N or mps" in err
    with pytest.raises(InputError, match="cuda:99.*CUDA device"):
        pick_device("cuda:99")
    assert pick_device("cpu").type == "cpu"


def _short_record_inputs(cnn, tmp: Path) -> Path:
    """20 real promoters and two records no k-mer model can use (5 and 2 bases)."""
    records = Path(cnn["promoter"][0]).read_text().split(">")[1:21]
    path = tmp / "prom_with_short.fa"
    path.write_text("".join(">" + r for r in records) + ">tiny_1\nACGTA\n>tiny_2\nAC\n")
    return path


def test_fasta_classes_drops_and_counts_short_records(cnn, tmp_path) -> None:
    prom = _short_record_inputs(cnn, tmp_path)
    out = tmp_path / "set.tsv"
    fasta_classes_main(["--class", f"promoter ={prom}", "--class", f"non_promoter={cnn['non_promoter'][0]}",
                        "--max-per-class", "40", "--out", str(out), "--log-level", "WARNING"])
    df = read_dataset(out)
    summary = json.loads(out.with_name("set.summary.json").read_text())
    assert not df["id"].str.contains("tiny_").any()
    assert summary["build"]["too_short_sequences"] == 2
    assert summary["build"]["too_short_by_label"] == {"promoter": 2}
    assert summary["build"]["min_seq_length"] == 8
    assert sorted(set(df["label"])) == ["non_promoter", "promoter"]  # the space is not part of it
    assert df["sequence"].str.len().min() >= 8


def test_fasta_classes_short_records_error_when_asked(cnn, tmp_path) -> None:
    prom = _short_record_inputs(cnn, tmp_path)
    with pytest.raises(InputError, match=r"prom_with_short\.fa: record 'tiny_1' has 5 bases"):
        fasta_classes_main(["--class", f"promoter={prom}", "--class", f"non_promoter={cnn['non_promoter'][0]}",
                            "--short-records", "error", "--out", str(tmp_path / "x.tsv")])
    assert not (tmp_path / "x.tsv").exists()


def test_classify_refuses_a_too_short_sequence_naming_its_id(ecoli_set, tmp_path, capsys) -> None:
    df = ecoli_set.copy()
    df.loc[df.index[df["split"] == "train"][5], ["id", "sequence"]] = ["short_one", "AC"]
    dataset = _tsv(df, tmp_path / "short.tsv")
    err = _cli_error(capsys, "classify", "--dataset", dataset, "--out", tmp_path / "clf.pth",
                     "--k", "3", "--stride", "3", "--settings", SETTINGS, "--device", "cpu")
    assert str(dataset) in err and "short_one" in err and "k=3" in err


# -- C: one atomic writer ---------------------------------------------------------------------------

def test_dataset_writers_share_the_one_atomic_writer(ecoli_set, tmp_path) -> None:
    assert common.atomic_target is atomic_path
    assert not hasattr(leakage, "atomic_target") and not hasattr(ecoli, "atomic_target")
    out = tmp_path / "set.tsv"
    summary = write_dataset(ecoli_set, out, {"share": float("nan")}, list(ecoli_set.columns))
    assert _strict_json(summary)["share"] is None  # a NaN in a summary is null, not bare NaN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.summary.json", "set.tsv"]
