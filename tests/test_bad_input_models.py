"""Bad input around models: a mistyped model setting, a checkpoint of another tokenization,
a corrupted checkpoint, an interrupted write, a failed rerun after Snakemake removed the
outputs. Each is refused with one line naming the key or file, and no trained model is lost."""
import copy
import json
import os
import struct
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from genomic_ulmfit.checkpoint import (CheckpointError, load_checkpoint, previous_path,
                                       save_checkpoint)
from genomic_ulmfit.cli import main
from genomic_ulmfit.config import ConfigError, load_config, load_sources, validate_config
from genomic_ulmfit.corpus import build_corpus
from genomic_ulmfit.kmers import KmerTokenizer
from genomic_ulmfit.models import classifier, get_preset
from genomic_ulmfit.train import History
from workflow_run import REPO, SNAKEMAKE

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
TINY_SETTINGS = json.dumps({"preset": "tiny", "cycles": [{"epochs": 1, "lr": 0.01}]})


def random_genome(n: int, seed: int = 0) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), n))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corpus")
    genome = random_genome(40_000)
    (d / "g.fa").write_text(">g\n" + "\n".join(genome[i:i + 80] for i in range(0, len(genome), 80)) + "\n")
    build_corpus([d / "g.fa"], d / "k3s3", KmerTokenizer(3, 3), region_bp=10_000, min_doc_tokens=16)
    return d / "k3s3"


def pretrain(corpus: Path, out_dir: Path, settings: str = TINY_SETTINGS) -> None:
    """`genomic-ulmfit pretrain` as the pretrain_lm rule runs it."""
    main(["pretrain", "--corpus", str(corpus), "--out", str(out_dir / "lm.pth"), "--settings", settings,
          "--device", "cpu", "--history", str(out_dir / "history.csv"),
          "--schedule", str(out_dir / "schedule.csv"), "--summary", str(out_dir / "summary.json")])


@pytest.fixture(scope="module")
def lm(corpus, tmp_path_factory) -> Path:
    """A tiny k3s3 language model trained by the CLI."""
    out = tmp_path_factory.mktemp("k3s3")
    pretrain(corpus, out)
    return out / "lm.pth"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    rng = np.random.default_rng(1)
    rows = [{"id": f"s{i}", "sequence": "".join(rng.choice(list("ACGT"), 60)),
             "label": "a" if i % 2 else "b", "split": ("train", "valid", "test")[i % 3]}
            for i in range(60)]
    path = tmp_path_factory.mktemp("data") / "task.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    return path


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return exit_.value.code, capsys.readouterr().err


# -- 1. a typo under model.overrides -----------------------------------------------------------

def test_model_override_typo_fails_the_dry_run(tmp_path):
    extra = tmp_path / "typo.yaml"
    extra.write_text(yaml.safe_dump({"model": {"overrides": {"n_hidden": 64}}}))
    res = subprocess.run([*SNAKEMAKE, "-n", "--directory", str(tmp_path / "work"), "--configfile",
                          str(REPO / "config" / "test.yaml"), str(extra)],
                         capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "model.overrides.n_hidden: not a model setting" in out and "(did you mean n_hid?)" in out


def test_model_settings_are_checked_against_their_dataclasses(tmp_path):
    (tmp_path / "small.yaml").write_text(yaml.safe_dump({
        "extends": "config/test.yaml",
        "model": {"preset": "tiny", "overrides": {"n_hidden": 64, "emb_sz": 12.5,
                                                  "lm_dropouts": {"embed": 0.1}}}}))
    cfg = load_config(tmp_path / "small.yaml", REPO)
    sources = load_sources(cfg["sources"], base=REPO)
    with pytest.raises(ConfigError) as err:
        validate_config(copy.deepcopy(cfg), SCHEMA, sources)
    msg = str(err.value)
    assert "model.overrides.n_hidden: not a model setting" in msg and "did you mean n_hid?" in msg
    assert "model.overrides.emb_sz: 12.5 is not an integer" in msg
    assert "model.overrides.lm_dropouts.embed: not a model lm_dropouts setting" in msg
    # the DeepSEA capstone's overrides, against its own dataclass
    cpu = yaml.safe_load((REPO / "config" / "deepsea_cpu.yaml").read_text())
    exp = next(name for name, e in cpu["deepsea"]["experiments"].items() if e["arch"] == "capstone")
    cpu["deepsea"]["experiments"][exp]["overrides"] = {"chanels": [8, 8, 16]}
    with pytest.raises(ConfigError, match=rf"deepsea\.experiments\.{exp}\.overrides\.chanels: not a "
                                          r"capstone model setting.*did you mean channels\?"):
        validate_config(cpu, SCHEMA, load_sources(cpu["sources"], base=REPO))


def test_a_failed_rerun_keeps_the_previous_model(corpus, tmp_path):
    out = tmp_path / "lm"
    pretrain(corpus, out)
    first = (out / "lm.pth").read_bytes()
    assert previous_path(out / "lm.pth").samefile(out / "lm.pth")  # a hard link: no extra space
    for name in ("lm.pth", "history.csv", "schedule.csv", "summary.json"):
        (out / name).unlink()  # what Snakemake does to a job's outputs before rerunning it
    with pytest.raises(SystemExit):  # the rerun fails (the typo reached the job)
        pretrain(corpus, out, json.dumps({"preset": "tiny", "model": {"n_hidden": 64}}))
    kept = out / "lm.previous.pth"
    assert kept.read_bytes() == first
    meta, state = load_checkpoint(kept, "language_model")
    assert meta["tokenizer"]["k"] == 3 and state


# -- 2. a checkpoint of another k or stride ----------------------------------------------------

def test_checkpoint_of_another_tokenization_is_refused(lm, dataset, tmp_path, capsys):
    wrong = ["--k", "4", "--stride", "2"]
    common = ["--dataset", str(dataset), "--settings", json.dumps({"preset": "tiny"}), "--device", "cpu"]
    code, err = run_cli(["classify", "--encoder", str(lm), "--out", str(tmp_path / "c.pth"),
                         *wrong, *common], capsys)
    assert code == 2 and str(lm) in err and "k=3, stride=3" in err and "k=4, stride=2" in err, err
    code, err = run_cli(["finetune", "--lm", str(lm), "--out", str(tmp_path / "f.pth"), *wrong, *common],
                        capsys)
    assert code == 2 and str(lm) in err and "k=3, stride=3" in err and "k=4, stride=2" in err, err
    clas = tmp_path / "model.pth"
    tok, cfg = KmerTokenizer(3, 3), get_preset("tiny")
    save_checkpoint(clas, classifier(cfg, tok.vocab_size, 2), "classifier", tok, cfg, classes=["a", "b"])
    code, err = run_cli(["evaluate", "--model", str(clas), "--dataset", str(dataset), *wrong,
                         "--predictions", str(tmp_path / "p.csv"), "--metrics", str(tmp_path / "m.json")],
                        capsys)
    assert code == 2 and str(clas) in err and "k=4, stride=2" in err, err
    code, err = run_cli(["embedding-map", "--model", str(lm), "--out", str(tmp_path / "e.tsv"),
                         "--png", str(tmp_path / "e.png"), *wrong], capsys)
    assert code == 2 and str(lm) in err and "k=4, stride=2" in err, err
    assert not any(tmp_path.glob("[cfpme].*"))


# -- 3. a corrupted checkpoint -----------------------------------------------------------------

def data_offset(path: Path) -> int:
    """Where the largest zip member's bytes start (past its local header)."""
    with zipfile.ZipFile(path) as zf:
        info = max(zf.infolist(), key=lambda i: i.file_size)
    with open(path, "rb") as fh:
        fh.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", fh.read(4))
    return info.header_offset + 30 + name_len + extra_len


def test_corrupted_checkpoint_is_refused(lm, dataset, tmp_path, capsys):
    bad = tmp_path / "lm.pth"
    blob = bytearray(lm.read_bytes())
    at = data_offset(lm) + 100
    blob[at:at + 40] = bytes(40)
    bad.write_bytes(blob)
    with pytest.raises(CheckpointError, match=rf"{bad}: corrupted checkpoint: member '.*' fails its CRC"):
        load_checkpoint(bad)
    code, err = run_cli(["classify", "--encoder", str(bad), "--dataset", str(dataset),
                         "--out", str(tmp_path / "c.pth"), "--settings", "{}", "--device", "cpu"], capsys)
    assert code == 2 and f"{bad}: corrupted checkpoint" in err, err


def test_pickles_are_still_refused(tmp_path):
    import torch
    for zipped in (True, False):  # torch's zip format, and the legacy one (no CRCs to check)
        path = tmp_path / f"evil{zipped}.pth"
        torch.save({"meta": {"format": "genomic-ulmfit-checkpoint"}, "obj": zipfile.ZipInfo("x")}, path,
                   _use_new_zipfile_serialization=zipped)
        with pytest.raises(CheckpointError, match="not a readable"):
            load_checkpoint(path)


# -- 4. outputs written in place ---------------------------------------------------------------

class Interrupt:
    """A value whose formatting is interrupted, as a SIGINT mid-write would be."""

    def __str__(self):
        raise KeyboardInterrupt


def test_an_interrupted_history_write_keeps_the_earlier_file(tmp_path):
    done = History()
    done.epochs = [{"stage": "pretrain", "epoch": e, "valid_loss": 1.0 / (e + 1)} for e in range(3)]
    csv = tmp_path / "history.csv"
    done.write(csv, None)
    before = csv.read_bytes()
    interrupted = History()
    interrupted.epochs = done.epochs * 2000 + [{"stage": Interrupt(), "epoch": 0, "valid_loss": 0.0}]
    with pytest.raises(KeyboardInterrupt):
        interrupted.write(csv, None)
    assert csv.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["history.csv"]  # no temporary left behind


def test_saving_the_same_weights_twice_gives_the_same_bytes(tmp_path):
    """The atomic save must not leak its temporary name into the archive (torch names the
    zip's folder after the file it writes), or reruns would differ byte for byte."""
    import torch
    from genomic_ulmfit.checkpoint import load_checkpoint, save_model
    net = torch.nn.Linear(3, 2)
    save_model(tmp_path / "a.pth", net, "classifier", x=1)
    save_model(tmp_path / "b.pth", net, "classifier", x=1)
    assert (tmp_path / "a.pth").read_bytes() == (tmp_path / "b.pth").read_bytes()
    assert {n.split("/")[0] for n in zipfile.ZipFile(tmp_path / "a.pth").namelist()} == {"archive"}
    assert load_checkpoint(tmp_path / "a.pth", "classifier")[0]["x"] == 1
