"""Peak memory of genome-scale corpora: tokenizing a generated genome and one LM
epoch over it, at two genome sizes, each step in its own process.

    python benchmarks/memory_benchmark.py --small-mbp 100 --large-mbp 1000

Per size it prints the peak resident memory (VmHWM) of
  tokenize : our streaming corpus builder (FASTA -> token arrays on disk);
  epoch    : every batch of one full training epoch of the LM loader over the
             memory-mapped corpus (800 x 70 batches, as the paper's), plus
             --train-steps real training steps of the `cpu` model on the first 64 rows of them
             (its own batch size: the model's activations do not depend on the corpus);
and, for the epoch, how much of that peak is anonymous memory (the process's own)
and how much file-backed pages (shared libraries and the memory-mapped corpus, which
the kernel drops under pressure).
The last line is the ratio of the large genome's peaks to the small one's.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def write_genome(path: Path, mbp: int, seed: int = 0) -> None:
    import numpy as np
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "wb") as fh:
        for chrom in range(max(1, mbp // 100)):  # chromosomes of up to 100 Mbp
            fh.write(f">chr{chrom + 1}\n".encode())
            size = min(100, mbp - 100 * chrom) * 1_000_000
            for start in range(0, size, 8_000_000):
                block = alphabet[rng.integers(0, 4, min(8_000_000, size - start), dtype=np.uint8)]
                lines = block.reshape(-1, 80) if len(block) % 80 == 0 else block[None]
                fh.write(b"\n".join(row.tobytes() for row in lines) + b"\n")


def child_tokenize(fasta: str, out: str) -> dict:
    from genomic_ulmfit.corpus import build_corpus
    from genomic_ulmfit.kmers import KmerTokenizer
    t0 = time.perf_counter()
    meta = build_corpus([Path(fasta)], Path(out), KmerTokenizer(5, 2))
    return {"seconds": time.perf_counter() - t0, "tokens": meta["train_tokens"] + meta["valid_tokens"],
            "peak_kib": status_kib("VmHWM")}


def child_epoch(corpus_dir: str, train_steps: int, batch_size: int) -> dict:
    import torch
    from fastai.text.models.awdlstm import awd_lstm_lm_split
    from genomic_ulmfit.corpus import Corpus
    from genomic_ulmfit.data import lm_dataloaders
    from genomic_ulmfit.models import get_preset, language_model
    from genomic_ulmfit.train import _learner

    torch.set_num_threads(1)
    corpus = Corpus.open(Path(corpus_dir))
    cfg = get_preset("cpu", lm_batch_size=batch_size)
    rows = get_preset("cpu").lm_batch_size  # trained rows: the cpu preset's own batch
    dls = lm_dataloaders(corpus.stream("train"), corpus.stream("valid"), cfg.lm_batch_size, cfg.bptt,
                         torch.device("cpu"))
    learn = _learner(dls, language_model(cfg, corpus.tokenizer.vocab_size), cfg, awd_lstm_lm_split,
                     [], torch.device("cpu"), None)
    learn.create_opt()
    learn.model.train()
    t0, tokens, anon_peak = time.perf_counter(), 0, 0
    for i, (x, y) in enumerate(dls.train):
        tokens += x.numel()
        if i < train_steps:  # the real step: forward, loss, backward, optimizer
            learn.model.reset() if i == 0 else None
            loss = learn.loss_func(learn.model(x[:rows])[0], y[:rows])
            loss.backward()
            learn.opt.step()
            learn.opt.zero_grad()
        if i % 512 == 0:
            anon_peak = max(anon_peak, status_kib("RssAnon"))
    anon_peak = max(anon_peak, status_kib("RssAnon"))
    return {"seconds": time.perf_counter() - t0, "tokens": tokens, "peak_kib": status_kib("VmHWM"),
            "anon_peak_kib": anon_peak, "file_kib_at_end": status_kib("RssFile")}


def run_child(*args: str) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--small-mbp", type=int, default=100)
    p.add_argument("--large-mbp", type=int, default=1000)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=800, help="LM batch rows (the paper's 800)")
    p.add_argument("--workdir", type=Path, default=None, help="scratch space (default: a temp dir)")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        out = child_tokenize(*rest) if kind == "tokenize" else child_epoch(rest[0], int(rest[1]), int(rest[2]))
        print(json.dumps(out))
        return
    peaks = {}
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for mbp in (args.small_mbp, args.large_mbp):
            fasta, corpus = Path(tmp) / f"g{mbp}.fa", Path(tmp) / f"c{mbp}"
            write_genome(fasta, mbp)
            tok = run_child("tokenize", str(fasta), str(corpus))
            fasta.unlink()
            print(f"{mbp:>5} Mbp tokenize: {tok['tokens']:>12,} tokens in {tok['seconds']:6.1f} s, "
                  f"peak {tok['peak_kib'] / 1024:7.0f} MiB", flush=True)
            ep = run_child("epoch", str(corpus), str(args.train_steps), str(args.batch_size))
            print(f"{mbp:>5} Mbp LM epoch: {ep['tokens']:>12,} tokens in {ep['seconds']:6.1f} s "
                  f"({args.train_steps} trained), peak {ep['peak_kib'] / 1024:7.0f} MiB: anonymous "
                  f"{ep['anon_peak_kib'] / 1024:.0f} MiB, file-backed pages (libraries, corpus) at the end "
                  f"{ep['file_kib_at_end'] / 1024:.0f} MiB", flush=True)
            peaks[mbp] = (tok["peak_kib"], ep["peak_kib"], ep["anon_peak_kib"])
            import shutil
            shutil.rmtree(corpus)
    small, large = peaks[args.small_mbp], peaks[args.large_mbp]
    print(f"ratio {args.large_mbp} / {args.small_mbp} Mbp peaks: tokenize {large[0] / small[0]:.2f}x, "
          f"epoch {large[1] / small[1]:.2f}x (anonymous {large[2] / small[2]:.2f}x) for "
          f"{args.large_mbp / args.small_mbp:.0f}x the genome")


if __name__ == "__main__":
    sys.exit(main())
