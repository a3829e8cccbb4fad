"""DeepSEA multi-task classification on a generated bundle (CPU, seconds): exact, chunked,
atomic conversion of both .mat layouts; clear errors on malformed files; the capstone and
ULMFiT multi-label models learn planted motif -> target rules; weighted metrics equal
scikit-learn's; targets absent from an evaluation set are skipped and reported."""
import json
import math
import tarfile

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm

from deepsea_bundle import MOTIFS, make_bundle, write_hdf5_mat, write_mat5, planted
from genomic_ulmfit.checkpoint import CheckpointError, load_checkpoint
from genomic_ulmfit.deepsea.data import (DeepSeaArrays, DeepSeaFormatError, convert_bundle,
                                         pack_labels, unpack_labels)
from genomic_ulmfit.deepsea.models import (CapstoneNet, KmerIds, UlmfitMultiLabel, capstone_preset,
                                           init_output_bias, n_parameters)
from genomic_ulmfit.deepsea.train import (DeepSeaTraining, evaluate_deepsea, model_spec,
                                          train_deepsea, warmup_schedule)
from genomic_ulmfit.kmers import KmerTokenizer, encode_bases
from genomic_ulmfit.metrics import multilabel_metrics
from genomic_ulmfit.models import get_preset

CPU = torch.device("cpu")
T = len(MOTIFS)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    # target 5 is never planted in test (and its motif is too long to occur by chance)
    return make_bundle(tmp_path_factory.mktemp("bundle"), test_never=(5,))


@pytest.fixture(scope="module")
def arrays(bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("conv") / "arrays"
    convert_bundle(bundle["bundle"], out, chunk_size=64)
    return out


def expected_codes(seqs):
    return np.stack([encode_bases(s) for s in seqs])


def test_conversion_round_trips_exactly(bundle, arrays):
    data = DeepSeaArrays.open(arrays)
    assert (data.n_targets, data.seq_len) == (T, 120)
    for split in ("train", "valid", "test"):
        onehot, labels, seqs = bundle[split]
        x = data.x(split)
        assert x.dtype == np.uint8 and isinstance(x, np.memmap)
        np.testing.assert_array_equal(x, expected_codes(seqs))  # AGCT channels -> ACGT codes, N -> 4
        assert data.y_packed(split).shape == (len(seqs), 1)     # 6 targets in one byte
        np.testing.assert_array_equal(data.y(split), labels)
        assert data.meta["splits"][split]["positives"] == labels.sum(0).tolist()
    assert (data.x("train") == 4).any()  # the planted Ns survive
    # nothing but the output is left beside it (the extracted .mat files are gone)
    assert sorted(p.name for p in arrays.parent.iterdir()) == ["arrays"]


def test_conversion_streams_in_chunks(bundle, arrays, tmp_path):
    meta = DeepSeaArrays.open(arrays).meta["splits"]
    # train.mat (HDF5): 900 samples read as 15 slices of 64; MATLAB 5: x then y, 3 slices each
    assert meta["train"]["chunk_reads"] == math.ceil(900 / 64)
    assert meta["valid"]["chunk_reads"] == 2 * math.ceil(150 / 64)
    # caps keep a prefix; a directory of .mat files works as the bundle
    out = convert_bundle(bundle["bundle"].parent / "deepsea_train", tmp_path / "capped",
                         {"train": 100, "test": 30}, chunk_size=1000)
    assert [out["splits"][s]["n"] for s in ("train", "valid", "test")] == [100, 150, 30]
    capped = DeepSeaArrays.open(tmp_path / "capped")
    np.testing.assert_array_equal(capped.x("train"), expected_codes(bundle["train"][2][:100]))
    np.testing.assert_array_equal(capped.y("test"), bundle["test"][1][:30])


def test_packbits_round_trip_for_919_targets():
    y = (np.random.default_rng(0).random((50, 919)) < 0.03).astype(np.uint8)
    packed = pack_labels(y, "y")
    assert packed.shape == (50, 115)
    np.testing.assert_array_equal(unpack_labels(packed, 919), y)


def test_malformed_files_fail_clearly_and_leave_nothing(tmp_path):
    x, y, _ = planted(20, 120)
    d = tmp_path / "deepsea_train"
    d.mkdir()
    write_hdf5_mat(d / "train.mat", "train", x, y)
    write_mat5(d / "valid.mat", "valid", x, y)
    # test.mat in the wrong layout: one-hot (N, L, 4)
    write_mat5(d / "test.mat", "test", x.transpose(0, 2, 1), y)
    with pytest.raises(DeepSeaFormatError, match=r"test\.mat: 'testxdata' has shape \(20, 120, 4\).*expected \(N, 4, L\)"):
        convert_bundle(d, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deepsea_train"]  # no partial output
    # train.mat (HDF5) holding the MATLAB 5 layout, i.e. not transposed
    import h5py
    with h5py.File(d / "train.mat", "w") as f:
        f["trainxdata"], f["traindata"] = x, y
    with pytest.raises(DeepSeaFormatError, match=r"train\.mat: 'trainxdata' has shape \(20, 4, 120\) and 'traindata' \(20, 6\); expected \(L, 4, N\) and \(T, N\)"):
        convert_bundle(d, tmp_path / "out")
    # a variable missing; values that are not one-hot
    write_mat5(d / "valid.mat", "valid", x, y)
    import scipy.io
    scipy.io.savemat(d / "valid.mat", {"validxdata": x}, format="5")
    write_hdf5_mat(d / "train.mat", "train", x, y)
    with pytest.raises(DeepSeaFormatError, match=r"valid\.mat: MATLAB file has no variable\(s\) \['validdata'\]"):
        convert_bundle(d, tmp_path / "out")
    bad = x.copy()
    bad[3, :, 7] = 1
    write_mat5(d / "valid.mat", "valid", bad, y)
    with pytest.raises(DeepSeaFormatError, match=r"'validxdata' samples 0\.\.19: sample 3, position 7 has 4 bases set"):
        convert_bundle(d, tmp_path / "out")
    (d / "valid.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(DeepSeaFormatError, match=r"valid\.mat: neither HDF5"):
        convert_bundle(d, tmp_path / "out")
    # a tar without test.mat
    with tarfile.open(tmp_path / "b.tar.gz", "w:gz") as tar:
        tar.add(d / "train.mat", arcname="deepsea_train/train.mat")
    with pytest.raises(DeepSeaFormatError, match=r"expected one member named valid\.mat"):
        convert_bundle(tmp_path / "b.tar.gz", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_kmer_ids_match_the_tokenizer():
    seq = "ACGTNACGTTGCAAGGCTTANGGCATTAC"
    codes = torch.from_numpy(encode_bases(seq).copy())[None]
    for k, s in ((5, 2), (3, 3), (3, 1), (1, 1)):
        np.testing.assert_array_equal(KmerIds(k, s)(codes)[0].numpy(), KmerTokenizer(k, s).encode(seq))


def test_capstone_sizes_are_the_seeds():
    model = CapstoneNet(capstone_preset("capstone"), 1000, 919)
    # Table 1: embedding 256 (ours 5 x 64 with N), ResNet 4710k, fully connected 33240k
    assert round(n_parameters(model.resnet) / 1e3) in range(4700, 4720)
    assert round(n_parameters(model.head) / 1e3) in range(33230, 33250)
    assert model.length == 125
    assert model(torch.zeros(2, 1000, dtype=torch.uint8)).shape == (2, 919)


def test_output_bias_starts_at_the_training_prior():
    model = CapstoneNet(capstone_preset("tiny"), 120, 3)
    init_output_bias(model, [0.5, 0.1, 0.0])
    b = model.output_layer().bias.detach()
    assert b[0] == pytest.approx(0.0) and b[1] == pytest.approx(math.log(0.1 / 0.9), rel=1e-5)
    assert torch.isfinite(b).all()  # a target never positive is clipped, not -inf
    u = UlmfitMultiLabel(get_preset("tiny"), KmerTokenizer(3, 3), 3)
    init_output_bias(u, [0.5, 0.1, 0.2])  # fastai's head has no bias of its own: one is added
    assert u.output_layer().bias[1].item() == pytest.approx(math.log(0.1 / 0.9), rel=1e-5)


def test_warmup_is_linear_then_flat():
    sched = warmup_schedule(1e-3, 100, 400)
    assert sched(0.0) == pytest.approx(1e-5)
    assert sched(0.125) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert sched(0.25) == pytest.approx(1e-3) and sched(0.9) == pytest.approx(1e-3)


FAST = DeepSeaTraining(epochs=7, lr=3e-3, batch_size=32, accumulate=2, warmup_batches=10)


def test_capstone_learns_planted_rules(arrays, tmp_path):
    torch.set_num_threads(1)
    spec = model_spec("capstone", capstone_preset("tiny").to_dict())
    out = tmp_path / "capstone.pth"
    summary = train_deepsea(arrays, spec, FAST, out, seed=0, device=CPU,
                            history_csv=tmp_path / "h.csv", schedule_csv=tmp_path / "s.csv")
    m = evaluate_deepsea(out, arrays, "test", tmp_path / "m.json", tmp_path / "t.csv", CPU)
    print("capstone tiny:", {k: round(m[k], 4) for k in ("roc_auc", "pr_auc", "accuracy")})
    assert m["roc_auc"] > 0.85 and m["pr_auc"] > 0.7
    assert summary["valid_roc_auc_w"] > 0.8
    # target 5 has no positive in test: skipped, reported, and blank in the per-target CSV
    assert m["skipped_no_positive"] == 1 and m["skipped_targets"]["no_positive"] == ["target_5"]
    assert m["n_targets_evaluated"] == T - 1
    per_target = pd.read_csv(tmp_path / "t.csv")
    assert not per_target.loc[5, "evaluated"] and math.isnan(per_target.loc[5, "roc_auc"])
    assert json.loads((tmp_path / "m.json").read_text())["roc_auc"] == m["roc_auc"]
    # warmup then a flat lr, recorded per batch; 900 // 32 = 28 batches an epoch
    sched = pd.read_csv(tmp_path / "s.csv")
    assert len(sched) == 7 * 28
    assert sched["lr"].iloc[0] == pytest.approx(3e-4) and sched["lr"].iloc[10:].max() == pytest.approx(3e-3)
    meta, _ = load_checkpoint(out, "deepsea")
    assert meta["spec"]["model"] == "capstone" and len(meta["train_prior"]) == T


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from genomic_ulmfit.corpus import Corpus, build_corpus
    from genomic_ulmfit.train import OneCycle, pretrain_lm
    d = tmp_path_factory.mktemp("lm")
    rng = np.random.default_rng(1)
    genome = "".join(rng.choice(list("ACGT"), 40_000))
    (d / "g.fa").write_text(">g\n" + "\n".join(genome[i:i + 80] for i in range(0, len(genome), 80)) + "\n")
    build_corpus([d / "g.fa"], d / "corpus", KmerTokenizer(3, 3), region_bp=10_000)
    pretrain_lm(Corpus.open(d / "corpus"), ULMFIT, OneCycle(1, 1e-2), d / "lm.pth", device=CPU)
    return d / "lm.pth"


from dataclasses import replace  # noqa: E402

ULMFIT = replace(get_preset("tiny"), clas_drop_mult=0.1)


def test_ulmfit_multilabel_learns_from_the_lm_encoder(arrays, tiny_lm, tmp_path):
    torch.set_num_threads(1)
    _, lm_state = load_checkpoint(tiny_lm, "language_model")
    spec = model_spec("ulmfit", ulmfit=ULMFIT.to_dict(), k=3, stride=3)
    # the encoder is the LM's: check the copy on an untrained model first
    from genomic_ulmfit.train import transfer_encoder
    model = UlmfitMultiLabel(ULMFIT, KmerTokenizer(3, 3), T)
    transfer_encoder(lm_state, model.clas)
    assert torch.equal(model.clas[0].module.encoder.weight, lm_state["0.encoder.weight"])
    out = tmp_path / "ulmfit.pth"
    training = replace(FAST, epochs=8, lr=2e-2, accumulate=1)
    summary = train_deepsea(arrays, spec, training, out, seed=0, device=CPU, encoder_from=tiny_lm)
    assert summary["encoder_from"] == str(tiny_lm)
    m = evaluate_deepsea(out, arrays, "test", tmp_path / "m.json", tmp_path / "t.csv", CPU)
    print("ulmfit tiny:", {k: round(m[k], 4) for k in ("roc_auc", "pr_auc", "accuracy")})
    assert m["roc_auc"] > 0.8
    # an LM of another tokenization does not fit
    with pytest.raises(CheckpointError, match="k=3, stride=3, the DeepSEA model with k=3, stride=1"):
        train_deepsea(arrays, {**spec, "stride": 1}, training, tmp_path / "x.pth", device=CPU,
                      encoder_from=tiny_lm)


def test_weighted_metrics_equal_scikit_learn():
    rng = np.random.default_rng(3)
    y = (rng.random((400, 5)) < [0.05, 0.2, 0.5, 0.0, 1.0]).astype(np.uint8)
    probs = np.clip(y * 0.3 + rng.random((400, 5)) * 0.7, 0, 1)
    weights = np.array([0.04, 0.25, 0.45, 0.01, 0.9])
    summary, table = multilabel_metrics(y, probs, weights)
    ok = [0, 1, 2]  # target 3 has no positive, target 4 no negative
    roc = [skm.roc_auc_score(y[:, j], probs[:, j]) for j in ok]
    pr = [skm.average_precision_score(y[:, j], probs[:, j]) for j in ok]
    assert summary["roc_auc"] == pytest.approx(np.average(roc, weights=weights[ok]))
    assert summary["pr_auc"] == pytest.approx(np.average(pr, weights=weights[ok]))
    assert summary["roc_auc_macro"] == pytest.approx(np.mean(roc))
    assert summary["accuracy"] == pytest.approx(((probs >= 0.5) == y).mean())
    assert (summary["skipped_no_positive"], summary["skipped_no_negative"]) == (1, 1)
    assert summary["skipped_targets"] == {"no_positive": ["target_3"], "no_negative": ["target_4"]}
    assert table["evaluated"].tolist() == [True, True, True, False, False]
    assert all(isinstance(v, (int, float)) and math.isfinite(v)
               for v in summary.values() if isinstance(v, (int, float)))


def test_conversion_runs_in_the_data_env(bundle, tmp_path):
    """deepsea-convert with only the data env's packages (h5py, scipy; no torch). (deepsea-train
    is not checked against the train env: genomic_ulmfit.train imports corpus -> fasta -> Bio
    and data -> networkx, which the train env lacks, for every training rule alike.)"""
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parents[1]

    def guarded(env, *args):
        return subprocess.run([sys.executable, str(repo / "tests" / "env_guard.py"),
                               str(repo / "envs" / f"{env}.yaml"), "--", *map(str, args)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)

    res = guarded("data", "deepsea-convert", "--bundle", bundle["bundle"], "--out", tmp_path / "a",
                  "--max-train", 200, "--chunk-size", 50)
    assert res.returncode == 0, res.stderr
    assert DeepSeaArrays.open(tmp_path / "a").meta["splits"]["train"]["n"] == 200
    res = guarded("data", "deepsea-convert", "--bundle", tmp_path / "missing.tar.gz", "--out", tmp_path / "b")
    assert res.returncode == 2 and "DeepSEA bundle not found" in res.stderr and "Traceback" not in res.stderr
