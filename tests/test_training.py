"""The ULMFiT schedule on tiny models (CPU, seconds): learning, transfer,
gradual unfreezing, discriminative learning rates, checkpoints."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

import genomic_ulmfit.train as train
from genomic_ulmfit.checkpoint import CheckpointError, load_checkpoint
from genomic_ulmfit.corpus import Corpus, build_corpus
from genomic_ulmfit.data import LabelledSequences, sorted_loader
from genomic_ulmfit.kmers import PAD_ID, KmerTokenizer
from genomic_ulmfit.models import ModelConfig, classifier, embedding_rows, encoder_of, get_preset, language_model
from genomic_ulmfit.settings import Stage
from genomic_ulmfit.train import OneCycle, finetune_lm, pretrain_lm, train_classifier

TINY = get_preset("tiny")
MOTIF = "TATAATGCGCTTGACA"


def planted_genome(n_words: int, seed: int = 0) -> str:
    """Random choices among 8 fixed 12-mers: next-codon entropy is ln(8) every
    4 tokens (k=3, s=3) and 0 otherwise, far below the prior ln(64)."""
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(list("ACGT"), 12)) for _ in range(8)]
    return "".join(words[i] for i in rng.integers(0, 8, n_words))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    genome = planted_genome(25_000)
    (d / "g.fa").write_text(">planted\n" + "\n".join(genome[i:i + 80] for i in range(0, len(genome), 80)) + "\n")
    build_corpus([d / "g.fa"], d / "corpus", KmerTokenizer(3, 3), region_bp=30_000)
    return Corpus.open(d / "corpus")


@pytest.fixture(scope="module")
def lm(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("lmout") / "lm.pth"
    summary = pretrain_lm(corpus, TINY, OneCycle(2, 2e-2), out, seed=0)
    return out, summary


def motif_dataset(n: int = 480, length: int = 90, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seq = list(rng.choice(list("ACGT"), length))
        label = "promoter" if i % 2 else "non_promoter"
        if label == "promoter":
            p = 3 * int(rng.integers(0, (length - len(MOTIF)) // 3))  # in frame with k=3, s=3
            seq[p:p + len(MOTIF)] = MOTIF
        split = "train" if i < 0.7 * n else ("valid" if i < 0.85 * n else "test")
        rows.append({"id": f"s{i}", "sequence": "".join(seq), "label": label, "split": split})
    return pd.DataFrame(rows)


def test_lm_learns_planted_pattern_well_below_stride_prior(lm):
    _, summary = lm
    prior = math.log(4**3)
    assert summary["stride_prior_loss"] == pytest.approx(prior)
    # entropy of the planted source is ln(8)/4 = 0.52 nats per token
    assert summary["valid_loss"] < 0.5 * prior, summary


def test_pretraining_is_reproducible(corpus, lm, tmp_path):
    path, _ = lm
    again = tmp_path / "again.pth"
    pretrain_lm(corpus, TINY, OneCycle(2, 2e-2), again, seed=0)
    a, b = load_checkpoint(path)[1], load_checkpoint(again)[1]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_holds_tokenizer_and_config(lm):
    meta, state = load_checkpoint(lm[0], "language_model")
    assert meta["tokenizer"]["k"] == 3 and meta["tokenizer"]["stride"] == 3
    assert meta["model"]["emb_sz"] == TINY.emb_sz
    # decoder tied to the embedding
    assert torch.equal(state["0.encoder.weight"], state["1.decoder.weight"])


def test_classifier_encoder_equals_the_lm(lm, tmp_path):
    df = motif_dataset()
    out = tmp_path / "clf.pth"
    train_classifier(df, KmerTokenizer(3, 3), TINY, [OneCycle(0, 1e-2)] * 4, out, encoder_from=lm[0])
    _, lm_state = load_checkpoint(lm[0])
    _, clf_state = load_checkpoint(out, "classifier")
    enc = {k[2:]: v for k, v in lm_state.items() if k.startswith("0.")}
    assert enc and all(torch.equal(v, clf_state[f"0.module.{k}"]) for k, v in enc.items())
    assert not any(k.startswith("1.decoder") for k in clf_state)  # the LM head is never transferred


def test_gradual_unfreezing_and_discriminative_lrs(lm, tmp_path, monkeypatch):
    seen = []
    original = train._fit

    def spy(learn, cycle, lr, history, stage):
        trainable = [any(p.requires_grad for p in group) for group in learn.opt.param_lists] \
            if learn.opt else None
        original(learn, cycle, lr, history, stage)
        frozen_after = [all(p.requires_grad for p in g) for g in learn.opt.param_lists]
        lrs = [h["lr"] for h in learn.opt.hypers]
        seen.append((stage, trainable, frozen_after, lrs))

    monkeypatch.setattr(train, "_fit", spy)
    train_classifier(motif_dataset(), KmerTokenizer(3, 3), TINY, [OneCycle(1, 1e-2)] * 4,
                     tmp_path / "clf.pth", encoder_from=lm[0])
    stages = [s[0] for s in seen]
    assert stages == ["head", "head+lstm3", "head+lstm2-3", "all"]
    # parameter groups: embedding, lstm1, lstm2, lstm3, head
    expected = [[False, False, False, False, True], [False, False, False, True, True],
                [False, False, True, True, True], [True, True, True, True, True]]
    assert [s[2] for s in seen] == expected
    for _, _, _, lrs in seen:
        ratios = [hi / lo for lo, hi in zip(lrs, lrs[1:])]
        assert ratios == pytest.approx([2.6] * 4)


def test_five_stage_protocol_trains_the_named_groups_at_their_lrs(lm, tmp_path, monkeypatch):
    """The paper's E. coli classifier protocol: head; -2; -3; all; all again at a lower lr,
    with the dropouts rescaled before the last stage (drop_mult)."""
    from genomic_ulmfit.models import encoder_of
    seen = []
    original = train._fit

    def spy(learn, cycle, lr, history, stage):
        original(learn, cycle, lr, history, stage)
        trainable = [all(p.requires_grad for p in g) for g in learn.opt.param_lists]
        lrs = [h["lr"] for h in learn.opt.hypers]
        peak = max(learn.recorder.hps["lr"])  # the top (head) group's, over the fit
        seen.append((stage, trainable, lrs, encoder_of(learn.model).rnns[0].weight_p, peak))

    monkeypatch.setattr(train, "_fit", spy)
    stages = [Stage(1, 2e-2, layers="head"), Stage(1, 1e-2, layers="-2"), Stage(1, 5e-3, layers="-3"),
              Stage(1, 1e-3, layers="all"), Stage(1, 1e-4, layers="all", drop_mult=0.2)]
    summary = train_classifier(motif_dataset(), KmerTokenizer(3, 3), TINY, stages, tmp_path / "clf.pth",
                               encoder_from=lm[0])
    assert [s[0] for s in seen] == ["head", "head+lstm3", "head+lstm2-3", "all", "all#2"]
    assert [s[1] for s in seen] == [[False] * 4 + [True], [False] * 3 + [True] * 2,
                                    [False] * 2 + [True] * 3, [True] * 5, [True] * 5]
    # each lower group lr / 2.6; the head's peak over the fit is the stage's lr
    for (_, _, lrs, _, peak), stage in zip(seen, stages):
        assert [hi / lo for lo, hi in zip(lrs, lrs[1:])] == pytest.approx([2.6] * 4)
        assert peak == pytest.approx(stage.lr, rel=0.05)
    base = TINY.clas_dropouts.weight_p
    assert [s[3] for s in seen] == pytest.approx([base * TINY.clas_drop_mult] * 4 + [base * 0.2])
    assert [s["layers"] for s in summary["stages"]] == ["head", "-2", "-3", "all", "all"]


def test_naive_stages_must_train_every_layer(tmp_path):
    with pytest.raises(ValueError, match="from scratch trains every layer"):
        train_classifier(motif_dataset(), KmerTokenizer(3, 3), TINY, [Stage(1, 1e-2, layers="head")],
                         tmp_path / "x.pth")
    assert not (tmp_path / "x.pth").exists()


def test_pretraining_runs_every_cycle_in_turn(corpus, tmp_path):
    summary = pretrain_lm(corpus, TINY, [OneCycle(1, 1e-2), OneCycle(1, 5e-3, pct_start=0.5)],
                          tmp_path / "lm.pth", history_csv=tmp_path / "h.csv", schedule_csv=tmp_path / "s.csv")
    history = pd.read_csv(tmp_path / "h.csv")
    assert history["stage"].tolist() == ["pretrain1", "pretrain2"]
    schedule = pd.read_csv(tmp_path / "s.csv")
    peaks = schedule.groupby("stage")["lr"].max()
    assert peaks["pretrain1"] == pytest.approx(1e-2, rel=1e-3) and peaks["pretrain2"] == pytest.approx(5e-3, rel=1e-3)
    assert [c["lr"] for c in summary["cycles"]] == [1e-2, 5e-3]


def test_pretrained_classifier_learns_planted_motif(lm, tmp_path):
    df = motif_dataset(n=800)
    out = tmp_path / "clf.pth"
    train_classifier(df, KmerTokenizer(3, 3), TINY, [OneCycle(2, 3e-2), OneCycle(2, 1e-2),
                     OneCycle(2, 1e-2), OneCycle(4, 1e-2)], out, encoder_from=lm[0])
    pred = train.predict(out, df, "test")
    assert list(pred["id"]) == list(df[df.split == "test"]["id"])
    acc = (pred["label"] == pred["prediction"]).mean()
    assert acc > 0.75, acc  # chance is 0.5


def test_finetuned_lm_uses_train_and_valid_only(lm, tmp_path, monkeypatch):
    df = motif_dataset()
    used = []
    original = train.task_lm_documents
    monkeypatch.setattr(train, "task_lm_documents",
                        lambda d, split, tok, src: used.append(split) or original(d, split, tok, src))
    summary = finetune_lm(lm[0], df, OneCycle(1, 5e-3), tmp_path / "ft.pth")
    assert sorted(used) == ["train", "valid"]
    assert math.isfinite(summary["valid_loss"])


def test_checkpoint_of_another_k_is_a_clear_error(lm, tmp_path):
    with pytest.raises(CheckpointError, match=r"k=3, stride=3, but .* uses k=4, stride=2"):
        train_classifier(motif_dataset(), KmerTokenizer(4, 2), TINY, [OneCycle(1, 1e-2)] * 4,
                         tmp_path / "x.pth", encoder_from=lm[0])
    other = get_preset("tiny", emb_sz=24)
    with pytest.raises(CheckpointError, match="model size"):
        train_classifier(motif_dataset(), KmerTokenizer(3, 3), other, [OneCycle(1, 1e-2)] * 4,
                         tmp_path / "x.pth", encoder_from=lm[0])
    with pytest.raises(CheckpointError, match="holds a language_model, expected a classifier"):
        train.predict(lm[0], motif_dataset(), "test")
    assert not (tmp_path / "x.pth").exists()


def test_arbitrary_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"meta": {"format": "genomic-ulmfit-checkpoint"}, "obj": OneCycle(1, 1.0)}, path)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(path)


def test_pad_first_batches():
    tok = KmerTokenizer(3, 1)
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 120, 64)
    tokens = [tok.encode("".join(rng.choice(list("ACGT"), n))) for n in lengths]
    data = LabelledSequences([str(i) for i in range(64)], tokens, np.zeros(64, dtype=np.int64), ["a"])
    bptt = 20
    x, y = sorted_loader(data, bs=16, bptt=bptt, shuffle=True).one_batch()
    real = (x != PAD_ID).numpy()
    lens = real.sum(1)
    assert (np.diff(lens) <= 0).all()  # longest first
    for row in real:
        first = int(row.argmax())
        n = int(row.sum())
        assert row[first:first + n].all()  # real tokens are contiguous
        assert first % bptt == 0  # padding before them comes in whole bptt chunks
        assert len(row) - (first + n) < bptt  # what is left over goes after them


def test_models_follow_the_seed_architecture():
    cfg = get_preset("paper")
    lm = language_model(cfg, 4**5 + 2)
    rnns = encoder_of(lm).rnns
    sizes = [(r.module.input_size, r.module.hidden_size) for r in rnns]
    assert sizes == [(400, 1152), (1152, 1152), (1152, 400)]  # the seed's 1150, 8-aligned
    assert ModelConfig().n_hid == 1150
    assert lm[1].decoder.weight is encoder_of(lm).encoder.weight
    # 4^5 + 2 = 1026 ids, padded to 1032 rows for tensor cores; every k gives a multiple of 8
    assert tuple(lm[1].decoder.weight.shape) == (1032, 400)
    assert all(embedding_rows(KmerTokenizer(k, 1).vocab_size) % 8 == 0 for k in range(1, 9))
    clf = classifier(cfg, 4**5 + 2, 2)
    head = [m for m in clf[1].layers.modules() if isinstance(m, (torch.nn.Linear, torch.nn.BatchNorm1d))]
    assert [(type(m).__name__, getattr(m, "in_features", m.num_features if hasattr(m, "num_features") else None))
            for m in head] == [("BatchNorm1d", 1200), ("Linear", 1200), ("BatchNorm1d", 50), ("Linear", 50)]
    assert head[-1].out_features == 2
    # dropouts scaled by drop_mult (classifier: 0.1, 0.5, 0.2, 0.4 x 0.5)
    enc = encoder_of(clf)
    assert enc.encoder_dp.embed_p == pytest.approx(0.05)
    assert enc.rnns[0].weight_p == pytest.approx(0.25)


def test_stream_loader_gives_fastais_lm_batches(corpus):
    """The vectorized loader yields exactly fastai's LMDataLoader batches, shuffled
    document order included, epoch after epoch."""
    from fastai.text.data import LMDataLoader
    from fastai.torch_core import set_seed
    from genomic_ulmfit.data import StreamLMDataLoader

    stream = corpus.stream("train")
    docs = [torch.from_numpy(d) for d in stream.documents()]
    for bs, bptt, shuffle in [(7, 13, True), (16, 20, False)]:
        ours = StreamLMDataLoader(stream=stream, bs=bs, seq_len=bptt, shuffle=shuffle)
        theirs = LMDataLoader(docs, lens=stream.lens.tolist(), bs=bs, seq_len=bptt, shuffle=shuffle)
        assert len(ours) == len(theirs) > 2
        for _ in range(2):
            set_seed(1)
            a = list(ours)
            set_seed(1)
            b = list(theirs)
            assert len(a) == len(b)
            for (xa, ya), (xb, yb) in zip(a, b):
                assert torch.equal(xa, xb.long()) and torch.equal(ya, yb.long())
        assert a[-1][0].shape[1] == ours.last_len  # the last, shorter batch too
