"""Throughput of long-sequence inference: windows per second scanning the E. coli
genome (4.6 Mbp) every 10 bp on both strands with the CPU-sized model (preset cpu,
k=5, stride 2, 150 bp windows as the E. coli promoter task).

    .venv/bin/python benchmarks/scan_benchmark.py                   # whole genome, CPU
    .venv/bin/python benchmarks/scan_benchmark.py --device cuda     # on a GPU
    .venv/bin/python benchmarks/scan_benchmark.py --max-bp 200000   # a quick look

1. batch sizes compared on the first --compare-bp bases (both strands);
2. a plain per-window loop (cut the window out, tokenize it, one forward pass per
   window: the seed notebook's way) on --loop-windows windows;
3. the whole genome (or its first --max-bp) with the largest batch size.
The last line is the ratio of the batched scan's rate to the per-window loop's.
Throughput does not depend on the weights, so the model is an untrained one of
the preset's size (set --model to time a trained checkpoint instead).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from genomic_ulmfit.checkpoint import save_checkpoint  # noqa: E402
from genomic_ulmfit.datasets.genomes import open_genome  # noqa: E402
from genomic_ulmfit.kmers import KmerTokenizer  # noqa: E402
from genomic_ulmfit.models import classifier, get_preset  # noqa: E402
from genomic_ulmfit.scan import Region, WindowClassifier, scan_genome  # noqa: E402
from genomic_ulmfit.train import pick_device  # noqa: E402

ECOLI = ("ncbi/genomes/all/GCF/000/005/845/GCF_000005845.2_ASM584v2/"
         "GCF_000005845.2_ASM584v2_genomic.fna.gz")


def default_genome() -> Path:
    shared = Path(os.environ.get("GULMFIT_SHARED_DATA", REPO.parent / "shared" / "data"))
    return shared / ECOLI


def regions_of(genome, max_bp: int | None) -> list[Region]:
    out, left = [], max_bp
    for chrom, size in genome.sizes.items():
        n = size if left is None else min(size, left)
        if n > 0:
            out.append(Region(chrom, 0, n))
        if left is not None:
            left -= n
    return out


def per_window_loop(genome, clf: WindowClassifier, regions: list[Region], window: int, step: int,
                    n_windows: int) -> tuple[int, float]:
    """One window at a time: slice the string, tokenize, forward a batch of one; both strands."""
    from genomic_ulmfit.fasta import reverse_complement
    done, t0 = 0, time.perf_counter()
    region = regions[0]
    with torch.inference_mode():
        for start in range(region.start, region.end - window + 1, step):
            seq = genome.fetch(region.chrom, start, start + window)
            for s in (seq, reverse_complement(seq)):
                x = torch.from_numpy(clf.tokenizer.encode(s).astype(np.int64))[None].to(clf.device)
                torch.softmax(clf.model(x)[0].float(), -1)[:, clf.positive_index].item()
                done += 1
            if done >= n_windows:
                break
    return done, time.perf_counter() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--genome", type=Path, default=default_genome())
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--model", type=Path, default=None, help="a classifier checkpoint (default: untrained, --preset)")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("--window", type=int, default=150)
    p.add_argument("--step", type=int, default=10)
    p.add_argument("--batch-sizes", default="1,16,64,256,1024")
    p.add_argument("--compare-bp", type=int, default=100_000, help="bases for the batch-size comparison")
    p.add_argument("--loop-windows", type=int, default=1000, help="windows for the per-window loop")
    p.add_argument("--max-bp", type=int, default=None, help="scan only the first N bases (default: all)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    genome = open_genome(args.genome, cache_dir=tempfile.gettempdir())
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            torch.manual_seed(0)
            config = get_preset(args.preset)
            tok = KmerTokenizer(args.k, args.stride)
            model = Path(tmp) / "model.pth"
            save_checkpoint(model, classifier(config, tok.vocab_size, 2), "classifier", tok, config,
                            classes=["non_promoter", "promoter"])
        sizes = [int(b) for b in args.batch_sizes.split(",")]
        clf = WindowClassifier(model, device, max(sizes))
        print(f"device {device} ({torch.get_num_threads()} CPU threads), model {args.model or args.preset} "
              f"(k={clf.k}, stride={clf.stride}, emb {clf.config.emb_sz}, hidden {clf.config.n_hid}), "
              f"{args.window} bp windows every {args.step} bp, both strands")
        compare = regions_of(genome, args.compare_bp)
        scan_genome(genome, clf, args.window, args.step, regions_of(genome, 20 * args.window))  # warm-up
        rates = {}
        for bs in sizes:
            clf.batch_size = bs
            t0 = time.perf_counter()
            n = len(scan_genome(genome, clf, args.window, args.step, compare))
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates[bs] = n / (time.perf_counter() - t0)
            print(f"batched scan, batch {bs:5d}: {rates[bs]:10.1f} windows/s  ({n} windows, first {args.compare_bp:,} bp)")
        n, sec = per_window_loop(genome, clf, compare, args.window, args.step, args.loop_windows)
        loop = n / sec
        print(f"per-window loop          : {loop:10.1f} windows/s  ({n} windows)")
        best = max(rates, key=rates.get)
        clf.batch_size = best
        whole = regions_of(genome, args.max_bp)
        bp = sum(r.end - r.start for r in whole)
        t0 = time.perf_counter()
        n = len(scan_genome(genome, clf, args.window, args.step, whole))
        if device.type == "cuda":
            torch.cuda.synchronize()
        sec = time.perf_counter() - t0
        print(f"{'whole genome' if args.max_bp is None else f'first {bp:,} bp'} ({bp:,} bp), batch {best}: "
              f"{n} windows in {sec:.1f} s = {n / sec:.1f} windows/s")
        print(f"ratio batched (batch {best}) / per-window loop: {(n / sec) / loop:.1f}x")


if __name__ == "__main__":
    main()
