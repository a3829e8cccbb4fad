"""Tokenization speed and peak memory: our streaming corpus builder against the
original notebooks' method (plain-Python k-mer slicing and a dict lookup), in
the same run, each in its own process so peak memory is its own.

    python benchmarks/tokenize_benchmark.py [--genome FASTA] [--generated-mbp 200]

Prints a table (Mbp/s, peak RSS per method and genome) and, last, the speed ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Imported before the clock starts: both methods are timed on tokenizing only.
from genomic_ulmfit.corpus import build_corpus
from genomic_ulmfit.fasta import read_fasta
from genomic_ulmfit.kmers import KmerTokenizer

ECOLI = (Path(__file__).resolve().parents[2] / "shared" / "data" / "ncbi" / "genomes" / "all" / "GCF"
         / "000" / "005" / "845" / "GCF_000005845.2_ASM584v2" / "GCF_000005845.2_ASM584v2_genomic.fna.gz")


def plain_python(fasta: Path, k: int, stride: int) -> int:
    """The notebooks' way: read the records, slice k-mers in Python, look them up."""
    from itertools import product

    vocab = {"".join(p): i + 2 for i, p in enumerate(product("ACGT", repeat=k))}
    n = 0
    for _, seq in read_fasta(fasta):
        seq = seq.upper()
        ids = [vocab.get(seq[i:i + k], 0) for i in range(0, len(seq) - k + 1, stride)]
        n += len(ids)
    return n


def ours(fasta: Path, k: int, stride: int) -> int:
    with tempfile.TemporaryDirectory() as d:
        meta = build_corpus([fasta], Path(d) / "corpus", KmerTokenizer(k, stride), min_doc_tokens=1)
    return meta["train_tokens"] + meta["valid_tokens"]


def child(method: str, fasta: str, k: int, stride: int) -> None:
    """Runs in a subprocess: one method on one file; prints JSON."""
    torch_threads = os.environ.get("OMP_NUM_THREADS")
    start = time.perf_counter()
    n = {"plain": plain_python, "ours": ours}[method](Path(fasta), k, stride)
    seconds = time.perf_counter() - start
    print(json.dumps({"tokens": n, "seconds": seconds, "peak_mb": peak_rss_mb(), "threads": torch_threads}))


def peak_rss_mb() -> float:
    """This process's peak resident memory. ru_maxrss would also count the
    parent's memory that the child had before exec (on Linux), so use VmHWM."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate_genome(path: Path, mbp: int, seed: int = 0) -> None:
    """A random genome FASTA of `mbp` million bases in 10 chromosomes, 80 bp lines."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    per_chrom = mbp * 1_000_000 // 10
    with open(path, "wb") as fh:
        for c in range(10):
            fh.write(f">chr{c + 1}\n".encode())
            for start in range(0, per_chrom, 8_000_000):
                n = min(8_000_000, per_chrom - start)
                seq = letters[rng.integers(0, 4, n)].reshape(-1, 80) if n % 80 == 0 else None
                if seq is None:
                    raise ValueError("chromosome length must be a multiple of 80")
                fh.write(np.hstack([seq, np.full((len(seq), 1), ord("\n"), np.uint8)]).tobytes())


def run(method: str, fasta: Path, k: int, stride: int, repeats: int) -> dict:
    """The median-time run of `repeats` fresh processes (page cache and
    write-back make single runs of a short job noisy)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")  # one core
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, __file__, "--child", method, str(fasta), str(k), str(stride)],
                             capture_output=True, text=True, env=env, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        return child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--genome", type=Path, default=ECOLI, help="a real genome FASTA(.gz)")
    p.add_argument("--generated-mbp", type=int, default=200, help="size of the generated genome")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="runs per method and genome (median kept)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        generated = Path(d) / f"generated_{args.generated_mbp}mbp.fa"
        generate_genome(generated, args.generated_mbp)
        genomes = [(args.genome.name, args.genome), (generated.name, generated)]
        print(f"k={args.k} stride={args.stride}, one core (OMP_NUM_THREADS=1), "
              f"median of {args.repeats} runs")
        print(f"{'genome':<48} {'method':<7} {'Mbp':>7} {'Mbp/s':>8} {'peak MB':>8}")
        ratios = []
        for name, path in genomes:
            rows = {}
            for method in ("plain", "ours"):
                r = run(method, path, args.k, args.stride, args.repeats)
                mbp = (r["tokens"] - 1) * args.stride / 1e6
                rows[method] = r | {"mbp_s": mbp / r["seconds"]}
                print(f"{name:<48} {method:<7} {mbp:7.1f} {rows[method]['mbp_s']:8.1f} {r['peak_mb']:8.0f}")
            assert abs(rows["plain"]["tokens"] - rows["ours"]["tokens"]) <= rows["plain"]["tokens"] * 0.001, rows
            ratios.append((name, rows["ours"]["mbp_s"] / rows["plain"]["mbp_s"],
                           rows["plain"]["peak_mb"] / rows["ours"]["peak_mb"]))
        for name, speed, mem in ratios:
            print(f"ratio ours/plain on {name}: {speed:.1f}x faster, {mem:.1f}x less peak memory")


if __name__ == "__main__":
    main()
