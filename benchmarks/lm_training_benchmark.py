"""LM training throughput: our pretraining path against plain fastai, in one run.

For a model preset it times training batches (after warm-up ones) of
  fastai  : fastai's LMDataLoader + TextLearner + fit_one_cycle, nothing of ours
            but the model constructor (fastai's get_language_model);
  ours    : genomic_ulmfit.train's learner, loader and fit (what `pretrain` runs);
and, on CUDA, variants of ours: bf16 instead of fp16, fp32, the hidden size
padded to a multiple of 8 (1150 -> 1152), and the CUDA kernels one training step
runs (which LSTM kernel, in which precision). It also times the two loaders
alone. The corpus is a generated genome tokenized by our tokenizer.

    python benchmarks/lm_training_benchmark.py --preset cpu --batches 10          # CPU
    python benchmarks/lm_training_benchmark.py --preset paper --device cuda       # GPU

Prints one line per measurement, then the ratio ours / fastai last.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.progress import ProgressCallback
from fastai.callback.rnn import ModelResetter, RNNRegularizer
from fastai.data.core import DataLoaders
from fastai.losses import CrossEntropyLossFlat
from fastai.optimizer import Adam
from fastai.text.data import LMDataLoader
from fastai.text.learner import TextLearner
from fastai.text.models.awdlstm import awd_lstm_lm_split
from fastai.torch_core import set_seed

from genomic_ulmfit.corpus import Corpus, build_corpus
from genomic_ulmfit.data import _to_long, lm_dataloaders
from genomic_ulmfit.kmers import KmerTokenizer
from genomic_ulmfit.models import get_preset, language_model
from genomic_ulmfit.train import OneCycle, _fit, _learner, History


class StopAfter(Callback):
    """Times `n` training batches after `warmup` ones (synchronizing CUDA), then stops."""

    order = 99

    def __init__(self, warmup: int, n: int):
        self.warmup, self.n, self.seen, self.tokens = warmup, n, 0, 0

    def _sync(self):
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def before_batch(self):
        if self.seen == self.warmup:
            self._sync()
            self.t0 = time.perf_counter()
        if self.seen >= self.warmup:
            self.tokens += self.xb[0].numel()

    def after_batch(self):
        self.seen += 1
        if self.seen == self.warmup + self.n:
            self._sync()
            self.seconds = time.perf_counter() - self.t0
            raise CancelFitException()


def generated_corpus(directory: Path, mbp: float, k: int, stride: int) -> Corpus:
    rng = np.random.default_rng(0)
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, int(mbp * 1e6))]
    fasta = directory / "generated.fa"
    with open(fasta, "wb") as fh:
        fh.write(b">generated\n")
        for i in range(0, len(seq), 1 << 20):
            fh.write(seq[i:i + (1 << 20)].tobytes() + b"\n")
    build_corpus([fasta], directory / "corpus", KmerTokenizer(k, stride), valid_fraction=0.05)
    return Corpus.open(directory / "corpus")


def fastai_learner(corpus: Corpus, cfg, device: torch.device, precision: str) -> TextLearner:
    """Plain fastai: its LMDataLoader over the documents, its TextLearner and callbacks."""
    def loader(split, shuffle):
        docs = [torch.from_numpy(d.astype(np.int64)) for d in corpus.documents(split)]
        return LMDataLoader(docs, lens=[len(d) for d in docs], bs=cfg.lm_batch_size,
                            seq_len=cfg.bptt, shuffle=shuffle, drop_last=shuffle, after_batch=_to_long)
    dls = DataLoaders(loader("train", True), loader("valid", False), device=device)
    model = language_model(cfg, corpus.tokenizer.vocab_size)
    learn = TextLearner(dls, model, loss_func=CrossEntropyLossFlat(),
                        opt_func=partial(Adam, mom=0.9, sqr_mom=0.99), splitter=awd_lstm_lm_split,
                        wd=cfg.weight_decay, alpha=cfg.ar_alpha, beta=cfg.tar_beta)
    learn.remove_cb(ProgressCallback)
    return _precision(learn, device, precision)


def our_learner(corpus: Corpus, cfg, device: torch.device, precision: str) -> TextLearner:
    dls = lm_dataloaders(corpus.stream("train"), corpus.stream("valid"), cfg.lm_batch_size,
                         cfg.bptt, device)
    learn = _learner(dls, language_model(cfg, corpus.tokenizer.vocab_size), cfg,
                     awd_lstm_lm_split, [], device, "benchmark")
    if precision != "fp16" and device.type == "cuda":  # _learner chose fp16
        from fastai.callback.fp16 import MixedPrecision
        learn.remove_cbs([cb for cb in learn.cbs if isinstance(cb, MixedPrecision)])
        learn = _precision(learn, device, precision)
    return learn


def _precision(learn: TextLearner, device: torch.device, precision: str) -> TextLearner:
    if device.type != "cuda" or precision == "fp32":
        return learn
    return learn.to_fp16() if precision == "fp16" else learn.to_bf16()


def tokens_per_second(learn: TextLearner, warmup: int, n: int, ours: bool) -> float:
    timer = StopAfter(warmup, n)
    learn.add_cb(timer)
    cycle = OneCycle(1, 1e-3)
    if ours:
        _fit(learn, cycle, cycle.lr, History(), "benchmark")
    else:
        learn.fit_one_cycle(1, cycle.lr, pct_start=cycle.pct_start, moms=cycle.moms)
    learn.remove_cb(timer)
    return timer.tokens / timer.seconds


def loader_tokens_per_second(dl, n: int) -> float:
    it = iter(dl)
    next(it)
    t0, tokens = time.perf_counter(), 0
    for _, (x, _y) in zip(range(n), it):
        tokens += x.numel()
    return tokens / (time.perf_counter() - t0)


def cuda_kernels(learn: TextLearner, top: int = 12) -> list[tuple[str, float]]:
    """The CUDA kernels of two training steps, by total time (ms)."""
    from torch.profiler import ProfilerActivity, profile
    timer = StopAfter(2, 2)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        learn.add_cb(timer)
        learn.fit(1, 1e-4)
        learn.remove_cb(timer)
    rows = [(e.key, e.device_time_total / 1e3) for e in prof.key_averages()]
    return sorted(rows, key=lambda r: -r[1])[:top]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="cpu")
    p.add_argument("--model", default="{}", help="JSON model overrides (e.g. lm_batch_size)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("--batches", type=int, default=20, help="timed batches per measurement")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--variants", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16/fp32/hidden-1152 variants and kernel names (default: on CUDA)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = get_preset(args.preset, **json.loads(args.model))
    per_batch = cfg.lm_batch_size * cfg.bptt
    needed = per_batch * (args.warmup + args.batches + 4) * 1.1
    mbp = max(needed * args.stride / 1e6 / 0.95, 2.5)
    results: dict[str, list[float]] = {}

    def report(name: str, value: float) -> float:
        results.setdefault(name, []).append(value)
        print(f"{name:<42} {value:>14,.0f} tokens/s", flush=True)
        return value

    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, preset {args.preset}: emb {cfg.emb_sz}, hidden {cfg.n_hid}, "
          f"{cfg.n_layers} layers, batch {cfg.lm_batch_size} x bptt {cfg.bptt}; k={args.k} "
          f"s={args.stride}; {args.batches} timed batches after {args.warmup}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        corpus = generated_corpus(Path(tmp), mbp, args.k, args.stride)
        print(f"corpus: {corpus.meta['train_tokens']:,} training tokens from {mbp:.1f} Mbp "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        precision = "fp16" if device.type == "cuda" else "fp32"
        set_seed(0)
        fastai_dl = fastai_learner(corpus, cfg, torch.device("cpu"), "fp32").dls.train
        ours_dl = lm_dataloaders(corpus.stream("train"), corpus.stream("valid"), cfg.lm_batch_size, cfg.bptt).train
        report("loader alone: fastai LMDataLoader", loader_tokens_per_second(fastai_dl, args.batches))
        report("loader alone: ours (StreamLMDataLoader)", loader_tokens_per_second(ours_dl, args.batches))
        ratios = []
        for _ in range(3):  # alternate, so drift in the machine's speed hits both alike
            set_seed(0)
            fa = report(f"train {precision}: fastai fit_one_cycle",
                        tokens_per_second(fastai_learner(corpus, cfg, device, precision), args.warmup, args.batches, False))
            set_seed(0)
            ours = report(f"train {precision}: ours (pretrain)",
                          tokens_per_second(our_learner(corpus, cfg, device, precision), args.warmup, args.batches, True))
            ratios.append(ours / fa)
        variants = device.type == "cuda" if args.variants is None else args.variants
        if variants:
            for name, vcfg, prec in [("bf16", cfg, "bf16"), ("fp32", cfg, "fp32"),
                                     (f"fp16, hidden {-(-cfg.n_hid // 8) * 8}", replace(cfg, n_hid=-(-cfg.n_hid // 8) * 8), "fp16")]:
                try:
                    set_seed(0)
                    report(f"train {name}: ours",
                           tokens_per_second(our_learner(corpus, vcfg, device, prec), args.warmup, args.batches, True))
                except Exception as e:  # a variant the build does not support: say so, go on
                    print(f"train {name}: failed: {type(e).__name__}: {e}", flush=True)
            if device.type == "cuda":
                for prec in ("fp16", "bf16"):
                    try:
                        print(f"CUDA kernels of two {prec} training steps (ms):")
                        for kname, ms in cuda_kernels(our_learner(corpus, cfg, device, prec)):
                            print(f"  {ms:9.2f}  {kname[:110]}")
                    except Exception as e:
                        print(f"  profiling {prec} failed: {type(e).__name__}: {e}")
                print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(f"ratio ours/fastai training tokens/s ({precision}), median of {len(ratios)} pairs: "
          f"{np.median(ratios):.2f}x (pairs: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    sys.exit(main())
