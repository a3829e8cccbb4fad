"""Command line: one subcommand per stage; the workflow's rules call these.

    genomic-ulmfit fetch       download a file, verify its sha256, write atomically
    genomic-ulmfit ecoli-dataset  the paper's E. coli promoter set, homology-aware split
    genomic-ulmfit genome      plain, faidx-indexed genome FASTA with chromosome sizes
    genomic-ulmfit tss-dataset TSS windows (EPDnew SGA/BED, GFF3/GTF) + bedtools negatives
    genomic-ulmfit fasta-classes  labelled dataset from FASTA / one-sequence-per-line files per class
    genomic-ulmfit labelled-table dataset from a labelled FASTA or TSV
    genomic-ulmfit bed-regions labelled dataset from BED regions of a genome
    genomic-ulmfit metagenomics-amplicon  16S amplicon reads (in-silico PCR) labelled by genus
    genomic-ulmfit metagenomics-shotgun   16S shotgun reads labelled by genus
    genomic-ulmfit leakage     share of held-out sequences with a blastn hit to training
    genomic-ulmfit leakage-table  the leakage of every task in one CSV
    genomic-ulmfit tokenize    genome FASTA(s) -> LM corpus (token arrays on disk)
    genomic-ulmfit lr-find     LR range test of a language model or classifier
    genomic-ulmfit pretrain    general-domain language model
    genomic-ulmfit finetune    the LM fine-tuned on a task's train/valid sequences
    genomic-ulmfit classify    classifier by gradual unfreezing (or naive, from scratch)
    genomic-ulmfit evaluate    predictions and metrics on a labelled split
    genomic-ulmfit predict     class probabilities of new sequences (FASTA, TSV, one per line)
    genomic-ulmfit table       results table (CSV + Markdown) beside the paper's values
    genomic-ulmfit plot        figures: training curves, schedule, confusion, ROC/PR, ...
    genomic-ulmfit deepsea-convert   DeepSEA bundle (.tar.gz of .mat files) -> arrays on disk
    genomic-ulmfit deepsea-train     multi-label model (capstone ResNet-1D + Transformer, or ULMFiT)
    genomic-ulmfit deepsea-evaluate  weighted ROC-AUC / PR-AUC per target and overall
    genomic-ulmfit importance  perturbation importance of sequences (random-base windows)
    genomic-ulmfit scan        a classifier over a genome or regions: bedGraph + called-region BED
    genomic-ulmfit scan-agreement  called regions against GenBank CDS starts (vs random placement)
    genomic-ulmfit scan-table  the agreement of every scan in one table
    genomic-ulmfit motifs      JASPAR motifs enriched in the highest-importance segments
    genomic-ulmfit variants    VCF SNVs/indels scored by the change in predicted probability
    genomic-ulmfit embedding-map  t-SNE of the learned k-mer embeddings
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import InputError

logger = logging.getLogger("genomic_ulmfit")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", type=Path, help="also write the log to this file")
    p.add_argument("--log-level", default="INFO")


def _model_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="cpu", help="model preset: paper, cpu or tiny")
    p.add_argument("--model", default="{}", help="JSON object of model settings overriding the preset")
    _training(p)


SETTINGS_HELP = ("the job's settings as one JSON object, or @FILE: {what} (genomic_ulmfit.settings; "
                 "the workflow passes each job its resolved protocol). Absent keys take the defaults")


def _job_settings(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--settings", default="{}", help=SETTINGS_HELP.format(what=what))
    _training(p)


def _training(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    p.add_argument("--history", type=Path, help="per-epoch losses and metrics (CSV)")
    p.add_argument("--schedule", type=Path, help="per-iteration lr, momentum and loss (CSV)")
    p.add_argument("--summary", type=Path, help="training summary (JSON)")
    _common(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genomic-ulmfit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fetch", help="download and verify one file (a url, an archive member, an OSF file "
                                      "or an NCBI genome by name)")
    p.add_argument("--source", default=None,
                   help="the source entry as one JSON object: url, sha256, mirror_path and member, osf or "
                        "ncbi_genome (resources/sources.yaml; the download rule passes it); 'name' labels messages")
    p.add_argument("--url", default=None, help="the file's URL (overrides the entry's)")
    p.add_argument("--sha256", default=None, help="expected sha256, or null/None when not known (overrides the entry's)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--mirror", default=None,
                   help="base URL or directory that replaces remote sources (default: $GULMFIT_MIRROR)")
    p.add_argument("--mirror-path", default=None, help="the file's path inside the mirror (overrides the entry's)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where archives are kept once downloaded (default: <out's folder>/_archives)")
    _common(p)

    p = sub.add_parser("sources", help="the sources a config uses; --check downloads each, prints its sha256 "
                                        "and records the unknown ones (sha256: null) in a lock file")
    p.add_argument("--config", type=Path, required=True, help="workflow config (e.g. config/paper.yaml)")
    p.add_argument("--check", action="store_true",
                   help="download every source (into a temporary directory), print name, sha256, size and "
                        "ok / recorded / MISMATCH, and write the sha256 of each sha256: null source into "
                        "<sources file stem>.lock.yaml beside its sources file; exit 1 on any failure")
    p.add_argument("--mirror", default=None,
                   help="base URL or directory that replaces remote sources (default: the config's mirror; "
                        "'' for none)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="check only these sources")
    p.add_argument("--all", action="store_true", help="every source of the config's sources files, used or not")
    p.add_argument("--repo", type=Path, default=None,
                   help="the folder the config's sources files are relative to (default: this checkout)")
    p.add_argument("--tmp-dir", type=Path, default=None, help="where the downloads are kept while checked")
    p.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
    _common(p)

    p = sub.add_parser("ecoli-dataset", add_help=False,
                       help="the paper's E. coli promoter set (see its own --help)")
    for name in DATASET_COMMANDS:
        sub.add_parser(name, add_help=False, help="see its own --help")

    p = sub.add_parser("tokenize", help="genome FASTA(s) -> LM corpus directory")
    p.add_argument("fasta", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True, help="corpus directory")
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--stride", type=int, required=True)
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--region-bp", type=int, default=100_000)
    p.add_argument("--min-doc-tokens", type=int, default=64)
    p.add_argument("--max-bases", type=int, default=None, help="use only the first N bases")
    p.add_argument("--both-strands", action="store_true",
                   help="add every region's reverse complement (to the same split)")
    p.add_argument("--names", type=lambda t: t.split(","), default=None,
                   help="comma-separated name of each FASTA, for per-genome provenance (default: file names)")
    p.add_argument("--records", default=None,
                   help="keep only records whose name matches this regular expression from its start "
                        "(e.g. '^NC_': RefSeq's assembled chromosomes)")
    p.add_argument("--seed", type=int, default=0)
    _common(p)

    p = sub.add_parser("pretrain", help="general-domain language model")
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    _job_settings(p, '{"preset": "cpu", "model": {...}, "cycles": [{"epochs": 4, "lr": 0.005}], "fp16": null}')

    p = sub.add_parser("finetune", help="fine-tune an LM on a task's train/valid sequences")
    p.add_argument("--lm", type=Path, required=True)
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    _tokenization_check(p, "the LM")
    _job_settings(p, 'as pretrain\'s, and "discriminative": true (lr / 2.6 per lower layer group)')

    p = sub.add_parser("classify", help="train a classifier (gradual unfreezing, or naive)")
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--encoder", type=Path, help="LM checkpoint whose embedding+encoder to start "
                   "from; without it, the naive classifier from scratch")
    p.add_argument("--k", type=int, help="k-mer length (naive classifier; with --encoder, checked against the LM's)")
    p.add_argument("--stride", type=int, help="stride (naive classifier; with --encoder, checked against the LM's)")
    p.add_argument("--train-size", type=int, default=None,
                   help="train on a label-stratified random subset of this many sequences")
    _job_settings(p, '{"preset", "model", "stages": [{"layers": "head", "epochs": 1, "lr": 0.02}, '
                  '{"layers": "-2", ...}, ...], "fp16"}; layers head, -2, -3 or all')

    p = sub.add_parser("evaluate", help="predictions and metrics on a labelled split")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--positive", default=None, help="positive class of a binary task")
    p.add_argument("--predictions", type=Path, required=True, help="output CSV")
    p.add_argument("--metrics", type=Path, required=True, help="output JSON")
    _tokenization_check(p, "the classifier")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    _common(p)

    p = sub.add_parser("predict", help="class probabilities of new sequences (FASTA, TSV or one per line)")
    p.add_argument("--model", type=Path, required=True, help="classifier checkpoint")
    _tokenization_check(p, "the classifier")
    p.add_argument("--input", type=Path, action="append", required=True,
                   help="FASTA, TSV with a 'sequence' (and 'id') column, or one sequence per line; "
                        "plain or gzip; repeatable")
    p.add_argument("--out", type=Path, required=True, help="output TSV: id, length, prob_<class>..., prediction")
    p.add_argument("--skipped", type=Path, default=None,
                   help="sequences that cannot be scored, with the reason (default: OUT's name + .skipped.tsv)")
    p.add_argument("--strands", choices=["forward", "both"], default="forward",
                   help="score the reverse complement too")
    p.add_argument("--combine", choices=["max", "mean"], default="max",
                   help="both strands: the strand where the positive class is more probable, or the mean")
    p.add_argument("--on-invalid", choices=["skip", "fail"], default="skip",
                   help="a sequence shorter than k or not DNA: list it in --skipped, or stop")
    p.add_argument("--positive", default=None, help="positive class for --combine max (default: promoter, ...)")
    p.add_argument("--batch-size", type=int, default=64, help="sequences per forward pass")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=0)
    _common(p)

    p = sub.add_parser("lr-find", help="LR range test of a language model on a corpus")
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument("--plot", type=Path)
    p.add_argument("--suggestion", type=Path, help="JSON of the suggested learning rates")
    p.add_argument("--num-it", type=int, default=100)
    _job_settings(p, "pretrain's (its preset and model are used)")

    p = sub.add_parser("deepsea-convert", help="DeepSEA training bundle -> memory-mappable arrays")
    p.add_argument("--bundle", type=Path, required=True,
                   help="deepsea_train_bundle.v0.9.tar.gz, or a directory holding train/valid/test.mat")
    p.add_argument("--out", type=Path, required=True, help="output directory (written atomically)")
    for split in ("train", "valid", "test"):
        p.add_argument(f"--max-{split}", type=int, default=None,
                       help=f"keep the first N {split} samples (default: all)")
    p.add_argument("--chunk-size", type=int, default=10_000, help="samples read per chunk")
    p.add_argument("--channel-order", default="AGCT", help="the one-hot channels' bases (DeepSEA: AGCT)")
    _common(p)

    p = sub.add_parser("deepsea-train", help="multi-label DeepSEA model")
    p.add_argument("--data", type=Path, required=True, help="directory from deepsea-convert")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--arch", choices=("capstone", "ulmfit"), required=True)
    p.add_argument("--capstone-preset", default="tiny", help="capstone, capstone_lstm or tiny")
    p.add_argument("--capstone", default="{}", help="JSON of capstone settings over the preset")
    p.add_argument("--encoder", type=Path, help="ulmfit: LM checkpoint whose embedding+encoder to start from")
    p.add_argument("--k", type=int, help="ulmfit: k-mer length (with --encoder, checked against the LM's)")
    p.add_argument("--stride", type=int, help="ulmfit: stride (with --encoder, checked against the LM's)")
    p.add_argument("--training", default="{}", help="JSON of DeepSEA training settings (epochs, lr, "
                   "batch_size, accumulate, warmup_batches, weight_decay, epoch_samples, valid_batch_size)")
    _model_settings(p)

    p = sub.add_parser("deepsea-evaluate", help="metrics of a DeepSEA model on a split")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--metrics", type=Path, required=True, help="summary JSON")
    p.add_argument("--per-target", type=Path, required=True, help="per-target CSV")
    p.add_argument("--predictions", type=Path, help="also the probabilities (float16 .npy)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    _common(p)

    p = sub.add_parser("table", help="results table beside the paper's values")
    p.add_argument("--spec", required=True, help='JSON: {"title", "metrics": [...], "rows": '
                   '[{"label", "metrics_files": [...], "paper": {...}}]}')
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument("--md", type=Path, required=True)
    _common(p)

    p = sub.add_parser("plot", help="one figure")
    p.add_argument("kind", choices=sorted(PLOTS))
    p.add_argument("inputs", nargs="+", help="input file(s); LABEL=PATH for roc-pr and lm-prior")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--title", default="")
    p.add_argument("--positive", default=None, help="roc-pr: the positive class")
    p.add_argument("--metrics", default="accuracy,precision,recall,mcc", help="vs-paper: metrics")
    p.add_argument("--dataset", type=Path, default=None,
                   help="train-size-curve: the task's dataset TSV (gives the size of points of size 'all')")
    p.add_argument("--paper", action="append", default=[],
                   help="train-size-curve: a published point SERIES=SIZE=VALUE beside ours (repeatable)")
    _common(p)
    _interpret_parsers(sub)
    return parser


def _tokenization_check(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--k", type=int, default=None,
                   help=f"k-mer length {what} must have (the workflow passes its path's); default: not checked")
    p.add_argument("--stride", type=int, default=None, help=f"stride {what} must have; default: not checked")


def _check_model_arg(args) -> None:
    """The --model checkpoint is intact and has the --k / --stride given (when given)."""
    from .checkpoint import check_requested, load_checkpoint
    meta, _ = load_checkpoint(args.model)
    check_requested(meta, args.model, args.k, args.stride, f"{args.command} (--k/--stride)")


def _inference(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="classifier checkpoint")
    _tokenization_check(p, "the classifier")
    p.add_argument("--positive", default=None, help="positive class (default: promoter, ...)")
    p.add_argument("--batch-size", type=int, default=256, help="windows per forward pass")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--threads", type=int, default=0)
    _common(p)


def _window_arg(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--window", type=int, help="window length in bp (the classifier's training length)")
    g.add_argument("--dataset", type=Path, help="the task's dataset TSV: window = its training length")


def _interpret_parsers(sub) -> None:
    p = sub.add_parser("importance", help="perturbation importance (random-base windows)")
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--label", default=None, help="sequences of this label (default: the positive class)")
    p.add_argument("--ids", type=lambda t: t.split(","), default=None, help="these sequence ids instead")
    p.add_argument("--max-sequences", type=int, default=None, help="a seeded sample of at most N")
    p.add_argument("--window", type=int, default=10, help="bases replaced at a time")
    p.add_argument("--step", type=int, default=5)
    p.add_argument("--draws", type=int, default=8, help="random replacements per place")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--anchor", type=int, default=None,
                   help="0-based position of the TSS / CDS start in the sequences (marked in red)")
    p.add_argument("--n-examples", type=int, default=6)
    p.add_argument("--windows-out", type=Path, required=True, help="TSV: drop per sequence and place")
    p.add_argument("--bases-out", type=Path, required=True, help="TSV: importance per base")
    p.add_argument("--profile-out", type=Path, required=True, help="TSV: mean by relative position")
    p.add_argument("--examples-png", type=Path, required=True)
    p.add_argument("--summary-png", type=Path, required=True)
    p.add_argument("--title", default="")
    _inference(p)

    p = sub.add_parser("scan", help="sliding-window scan of a genome or regions, both strands")
    p.add_argument("--genome", type=Path, required=True, help="FASTA (plain+faidx, or .gz)")
    p.add_argument("--out-prefix", type=Path, required=True,
                   help="writes PREFIX.{windows.tsv.gz,bedgraph,plus.bedgraph,minus.bedgraph,"
                   "called.bed,regions.bed,summary.json}")
    _window_arg(p)
    p.add_argument("--step", type=int, default=10)
    p.add_argument("--threshold", type=float, default=0.9, help="call windows with P >= this")
    p.add_argument("--region", action="append", default=None,
                   help="chrom or chrom:start-end (1-based), repeatable; default: the whole genome")
    p.add_argument("--strands", choices=["both", "+", "-"], default="both")
    p.add_argument("--track-name", default="Genomic-ULMFiT")
    _inference(p)

    p = sub.add_parser("scan-agreement", help="called regions against GenBank CDS starts")
    p.add_argument("--scan-prefix", type=Path, required=True, help="the --out-prefix of a scan")
    p.add_argument("--gbff", type=Path, required=True)
    p.add_argument("--sizes", type=Path, required=True, help="chromosome sizes (bedtools genome file)")
    p.add_argument("--out", type=Path, required=True, help="JSON")
    p.add_argument("--starts-out", type=Path, required=True, help="BED of the CDS starts")
    p.add_argument("--distance", type=int, default=100)
    p.add_argument("--any-strand", action="store_true", help="a call on either strand counts")
    p.add_argument("--shuffles", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", type=Path, default=None)
    p.add_argument("--figure-region", default=None, help="chrom:start-end (default: 40 kb from the scan's start)")
    p.add_argument("--title", default="")
    _common(p)

    p = sub.add_parser("scan-table", help="agreement of every scan in one table")
    p.add_argument("inputs", nargs="+", help="LABEL=AGREEMENT_JSON")
    p.add_argument("--csv", type=Path, required=True)
    p.add_argument("--md", type=Path, required=True)
    _common(p)

    p = sub.add_parser("motifs", help="JASPAR motifs enriched in the highest-importance segments")
    p.add_argument("--importance", type=Path, required=True, help="the windows TSV of `importance`")
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--jaspar", type=Path, required=True, help="JASPAR TRANSFAC file (.gz ok)")
    p.add_argument("--out", type=Path, required=True, help="TSV")
    p.add_argument("--md", type=Path, required=True, help="Markdown table of the top motifs")
    p.add_argument("--fasta", type=Path, required=True, help="the segments")
    p.add_argument("--per-sequence", type=int, default=1, help="top windows per sequence")
    p.add_argument("--flank", type=int, default=10, help="bases added on each side of a window")
    p.add_argument("--shuffles", type=int, default=10, help="dinucleotide shuffles per segment")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-rel-score", type=float, default=0.85)
    p.add_argument("--tax-groups", type=lambda t: t.split(","), default=None,
                   help="only these JASPAR tax groups (e.g. vertebrates,insects)")
    p.add_argument("--fdr", type=float, default=0.05)
    _common(p)

    p = sub.add_parser("variants", help="VCF SNVs/indels scored by the change in probability")
    p.add_argument("--genome", type=Path, required=True)
    p.add_argument("--vcf", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="TSV")
    p.add_argument("--vcf-out", type=Path, required=True, help="the VCF with INFO GULMFIT_DP")
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--top", type=int, default=20)
    _window_arg(p)
    _inference(p)

    p = sub.add_parser("embedding-map", help="t-SNE of the learned k-mer embeddings")
    p.add_argument("--model", type=Path, required=True, help="classifier or LM checkpoint")
    _tokenization_check(p, "the model")
    p.add_argument("--out", type=Path, required=True, help="TSV of the map")
    p.add_argument("--png", type=Path, required=True)
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--title", default="")
    _common(p)


def _window_of(args) -> int:
    from .scan import training_window
    return args.window or training_window(args.dataset)


def _interpret(args) -> None:
    cmd = args.command
    if getattr(args, "model", None) and (args.k or args.stride):
        _check_model_arg(args)
    device = str(_device(args)) if hasattr(args, "device") else "cpu"
    if cmd == "importance":
        from .interpret import importance_main
        importance_main(args.model, args.dataset, args.windows_out, args.bases_out, args.profile_out,
                        args.examples_png, args.summary_png, split=args.split, label=args.label,
                        ids=args.ids, max_sequences=args.max_sequences, window=args.window,
                        step=args.step, draws=args.draws, seed=args.seed, anchor=args.anchor,
                        n_examples=args.n_examples, batch_size=args.batch_size, device=device,
                        positive=args.positive, title=args.title)
    elif cmd == "scan":
        from .scan import scan_main
        scan_main(args.model, args.genome, args.out_prefix, _window_of(args), args.step, args.threshold,
                  regions=args.region, strands=args.strands, batch_size=args.batch_size, device=device,
                  positive=args.positive, track_name=args.track_name)
    elif cmd == "scan-agreement":
        from .scan import agreement_main
        agreement_main(args.scan_prefix, args.gbff, args.sizes, args.out, args.starts_out,
                       figure=args.figure, figure_region=args.figure_region, distance=args.distance,
                       same_strand=not args.any_strand, n_shuffles=args.shuffles, seed=args.seed,
                       title=args.title)
    elif cmd == "scan-table":
        from .scan import agreement_table
        agreement_table(_labelled(args.inputs), args.csv, args.md)
    elif cmd == "motifs":
        from .motifs import motifs_main
        motifs_main(args.importance, args.dataset, args.jaspar, args.out, args.md, args.fasta,
                    per_sequence=args.per_sequence, flank=args.flank, shuffles=args.shuffles,
                    seed=args.seed, min_rel_score=args.min_rel_score, tax_groups=args.tax_groups,
                    fdr=args.fdr)
    elif cmd == "variants":
        from .scan import variants_main
        variants_main(args.model, args.genome, args.vcf, args.out, args.vcf_out, _window_of(args),
                      plot=args.plot, top=args.top, batch_size=args.batch_size, device=device,
                      positive=args.positive)
    elif cmd == "embedding-map":
        from .interpret import kmer_embedding_map
        kmer_embedding_map(args.model, args.out, args.png, args.perplexity, args.seed, args.title)


INTERPRET_COMMANDS = ("importance", "scan", "scan-agreement", "scan-table", "motifs", "variants",
                      "embedding-map")


def _labelled(inputs: list[str]) -> dict[str, Path]:
    pairs = [i.split("=", 1) for i in inputs]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"expected LABEL=PATH inputs, got {inputs}")
    return {label: Path(path) for label, path in pairs}


def _curve_points(inputs: list[str], dataset: Path | None) -> list[tuple[str, int, str]]:
    """SERIES=SIZE=WHAT inputs (WHAT: a metrics JSON, or a published value); SIZE 'all' is the
    dataset's training-split size."""
    parts = [i.split("=", 2) for i in inputs]
    if any(len(p) != 3 for p in parts):
        raise ValueError(f"expected SERIES=SIZE=METRICS_JSON inputs, got {inputs}")
    n_all = None
    if any(size == "all" for _, size, _ in parts):
        if dataset is None:
            raise ValueError("train-size-curve: a point of size 'all' needs --dataset")
        import pandas as pd  # the report env: no dataset-builder dependencies
        n_all = int((pd.read_csv(dataset, sep="\t", usecols=["split"])["split"] == "train").sum())
    return [(series, n_all if size == "all" else int(size), what) for series, size, what in parts]


def _plot(args) -> None:
    import pandas as pd
    from . import plots
    a, out, title = args.inputs, args.out, args.title
    if args.kind == "training":
        plots.plot_training_curves(Path(a[0]), out, title)
    elif args.kind == "schedule":
        plots.plot_schedule(Path(a[0]), out, title)
    elif args.kind == "confusion":
        plots.plot_confusion(Path(a[0]), out, title)
    elif args.kind == "roc-pr":
        plots.plot_roc_pr(_labelled(a), args.positive, out, title)
    elif args.kind == "vs-paper":
        plots.plot_metrics_vs_paper(pd.read_csv(a[0]), args.metrics.split(","), out, title)
    elif args.kind == "lm-prior":
        plots.plot_lm_vs_prior(_labelled(a), out, title)
    elif args.kind == "train-size-curve":
        points = [(s, n, Path(f)) for s, n, f in _curve_points(a, args.dataset)]
        paper = [(s, n, float(v)) for s, n, v in _curve_points(args.paper, args.dataset)]
        plots.plot_train_size_curve(points, args.metrics.split(",")[0], out, title, paper=paper)


# Dataset builders parse their own arguments: (module, function) per subcommand.
DATASET_COMMANDS = {
    "genome": ("genomes", "genome_main"),
    "tss-dataset": ("tss", "tss_dataset_main"),
    "fasta-classes": ("fasta_sets", "fasta_classes_main"),
    "labelled-table": ("fasta_sets", "labelled_table_main"),
    "bed-regions": ("regions", "bed_regions_main"),
    "metagenomics-amplicon": ("metagenomics", "metagenomics_amplicon_main"),
    "metagenomics-shotgun": ("metagenomics", "metagenomics_shotgun_main"),
    "leakage": ("leakage", "leakage_main"),
    "leakage-table": ("leakage", "leakage_table_main"),
}


def _dataset_command(name: str, argv: list[str]) -> None:
    import importlib
    module, func = DATASET_COMMANDS[name]
    main_fn = getattr(importlib.import_module(f".datasets.{module}", __package__), func)
    main_fn(argv)


PLOTS = ("training", "schedule", "confusion", "roc-pr", "vs-paper", "lm-prior", "train-size-curve")


def _config(args):
    from .models import get_preset
    return get_preset(args.preset, **json.loads(args.model))


def _device(args):
    import torch
    from .train import pick_device
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    return pick_device(args.device)


def _write_json(path: Path | None, obj) -> None:
    if path:
        from .io.atomic import write_json
        write_json(path, obj, default=str)  # atomically: a crash never leaves half a summary


def run(args: argparse.Namespace) -> None:
    cmd = args.command
    if cmd == "fetch":
        from .sources import fetch_source
        entry = json.loads(args.source) if args.source else {}
        if not isinstance(entry, dict):
            raise ValueError(f"--source must be a JSON object (a source entry), got {args.source!r}")
        for key, value in (("url", args.url), ("sha256", args.sha256), ("mirror_path", args.mirror_path)):
            if value is not None:
                entry[key] = value
        if "sha256" not in entry:
            raise ValueError("fetch needs the expected sha256 (--sha256, or sha256 in --source; null when not known)")
        mirror = os.environ.get("GULMFIT_MIRROR") if args.mirror is None else args.mirror
        fetch_source(entry, args.out, mirror=mirror or None, cache_dir=args.cache_dir)
    elif cmd == "sources":
        from .config import load_config
        from .sources import default_repo, check_sources, list_sources
        config = load_config(args.config, args.repo or default_repo())
        if not args.check:
            list_sources(config, repo=args.repo)
            return
        mirror = config.get("mirror") if args.mirror is None else args.mirror
        if check_sources(config, repo=args.repo, mirror=mirror or None, only=args.only, every=args.all,
                         tmp_dir=args.tmp_dir, timeout=args.timeout):
            raise SystemExit(1)
    elif cmd == "tokenize":
        from .corpus import build_corpus
        from .kmers import KmerTokenizer
        build_corpus(args.fasta, args.out, KmerTokenizer(args.k, args.stride),
                     valid_fraction=args.valid_fraction, region_bp=args.region_bp,
                     min_doc_tokens=args.min_doc_tokens, seed=args.seed,
                     max_bases=args.max_bases, both_strands=args.both_strands, names=args.names,
                     records=args.records)
    elif cmd == "pretrain":
        from .corpus import Corpus
        from .settings import PretrainSettings
        from .train import pretrain_lm
        s = PretrainSettings.load(args.settings)
        summary = pretrain_lm(Corpus.open(args.corpus), s.model_config(), s.cycles, args.out,
                              seed=args.seed, device=_device(args), history_csv=args.history,
                              schedule_csv=args.schedule, fp16=s.fp16)
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, the first process writes
            _write_json(args.summary, summary | {"settings": s.to_dict()})
    elif cmd == "finetune":
        from .data import read_dataset
        from .settings import FinetuneSettings
        from .train import finetune_lm
        s = FinetuneSettings.load(args.settings)
        summary = finetune_lm(args.lm, read_dataset(args.dataset), s.cycles, args.out,
                              seed=args.seed, device=_device(args), dataset_name=str(args.dataset),
                              history_csv=args.history, schedule_csv=args.schedule,
                              config=s.model_config(), discriminative_lrs=s.discriminative,
                              fp16=s.fp16, k=args.k, stride=args.stride)
        _write_json(args.summary, summary | {"settings": s.to_dict()})
    elif cmd == "classify":
        _classify(args)
    elif cmd == "evaluate":
        _evaluate(args)
    elif cmd == "predict":
        from .predict import predict_main
        if args.k or args.stride:
            _check_model_arg(args)
        predict_main(args.model, args.input, args.out, args.skipped, strands=args.strands,
                     combine=args.combine, on_invalid=args.on_invalid, positive=args.positive,
                     batch_size=args.batch_size, device=str(_device(args)))
    elif cmd == "table":
        from .report import write_table
        spec = json.loads(args.spec)
        write_table(spec["rows"], spec["metrics"], spec["title"], args.csv, args.md)
    elif cmd == "plot":
        _plot(args)
    elif cmd.startswith("deepsea-"):
        _deepsea(args)
    elif cmd in INTERPRET_COMMANDS:
        _interpret(args)
    elif cmd == "lr-find":
        from .corpus import Corpus
        from .train import lm_learner_for, lr_find
        from fastai.torch_core import set_seed
        from .settings import PretrainSettings
        set_seed(args.seed, reproducible=True)
        learn = lm_learner_for(Corpus.open(args.corpus), PretrainSettings.load(args.settings).model_config(),
                               _device(args))
        lr_find(learn, args.csv, args.plot, args.suggestion, num_it=args.num_it)


def _classify(args) -> None:
    from .checkpoint import checkpoint_tokenizer, load_checkpoint
    from .data import read_dataset
    from .kmers import KmerTokenizer
    from .settings import ClassifierSettings
    from .train import train_classifier
    s = ClassifierSettings.load(args.settings)
    if args.encoder:  # --k/--stride, when given, are checked against the LM's (train_classifier)
        saved = checkpoint_tokenizer(load_checkpoint(args.encoder, "language_model")[0])
        tok = KmerTokenizer(args.k or saved.k, args.stride or saved.stride)
    elif args.k and args.stride:
        tok = KmerTokenizer(args.k, args.stride)
    else:
        raise InputError("classify: give --encoder (an LM checkpoint) or, for the naive "
                         "classifier, --k and --stride")
    summary = train_classifier(read_dataset(args.dataset), tok, s.model_config(), s.stages, args.out,
                               encoder_from=args.encoder, seed=args.seed, device=_device(args),
                               train_size=args.train_size,
                               dataset_name=str(args.dataset), history_csv=args.history,
                               schedule_csv=args.schedule, fp16=s.fp16)
    _write_json(args.summary, summary | {"settings": s.to_dict()})


def _evaluate(args) -> None:
    from .checkpoint import check_requested, load_checkpoint
    from .data import read_dataset
    from .io.atomic import write_json
    from .metrics import evaluate_predictions
    from .train import predict, write_csv
    meta, _ = load_checkpoint(args.model, "classifier")
    check_requested(meta, args.model, args.k, args.stride, "evaluate (--k/--stride)")
    pred = predict(args.model, read_dataset(args.dataset), args.split, device=_device(args),
                   dataset_name=str(args.dataset))
    metrics = evaluate_predictions(pred, meta["classes"], args.positive)
    metrics.update({"model": str(args.model), "dataset": str(args.dataset), "split": args.split})
    write_csv(pred, args.predictions)  # atomic, and only once the metrics could be computed
    write_json(args.metrics, metrics)  # strict JSON: undefined metrics are null, not NaN
    logger.info("%s on %s/%s: %s", args.model, args.dataset, args.split,
                {k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)})


def _deepsea(args) -> None:
    cmd = args.command
    if cmd == "deepsea-convert":
        from .deepsea.data import convert_bundle
        convert_bundle(args.bundle, args.out, {"train": args.max_train, "valid": args.max_valid,
                                                "test": args.max_test},
                       chunk_size=args.chunk_size, channel_order=args.channel_order)
    elif cmd == "deepsea-train":
        from .deepsea.models import capstone_preset
        from .deepsea.train import DeepSeaTraining, model_spec, train_deepsea
        k, stride = args.k, args.stride
        if args.arch == "ulmfit" and args.encoder:
            from .checkpoint import checkpoint_tokenizer, load_checkpoint
            tok = checkpoint_tokenizer(load_checkpoint(args.encoder, "language_model")[0])
            k, stride = k or tok.k, stride or tok.stride  # given ones are checked in train_deepsea
        if args.arch == "capstone":
            spec = model_spec("capstone", capstone_preset(args.capstone_preset,
                                                          **json.loads(args.capstone)).to_dict())
        else:
            if not (k and stride):
                raise InputError("deepsea-train --arch ulmfit: give --encoder (an LM checkpoint) or --k and --stride")
            spec = model_spec("ulmfit", ulmfit=_config(args).to_dict(), k=k, stride=stride)
        summary = train_deepsea(args.data, spec, DeepSeaTraining.from_dict(json.loads(args.training)),
                                args.out, seed=args.seed, device=_device(args), encoder_from=args.encoder,
                                history_csv=args.history, schedule_csv=args.schedule)
        _write_json(args.summary, summary)
    elif cmd == "deepsea-evaluate":
        from .deepsea.train import evaluate_deepsea
        m = evaluate_deepsea(args.model, args.data, args.split, args.metrics, args.per_target,
                             device=_device(args), predictions=args.predictions)
        logger.info("%s on %s/%s: weighted ROC-AUC %.4f, PR-AUC %.4f, accuracy %.4f; %d of %d targets "
                    "evaluated (%d without a positive, %d without a negative, skipped)", args.model,
                    args.data, args.split, m["roc_auc"], m["pr_auc"], m["accuracy"],
                    m["n_targets_evaluated"], m["n_targets"], m["skipped_no_positive"],
                    m["skipped_no_negative"])


def _debug_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """`--debug` anywhere on the command line (or GULMFIT_DEBUG=1): show tracebacks."""
    debug = "--debug" in argv or os.environ.get("GULMFIT_DEBUG", "").lower() in ("1", "true", "yes")
    return debug, [a for a in argv if a != "--debug"]


def _dispatch(argv: list[str]) -> None:
    if argv[:1] == ["ecoli-dataset"]:
        from .datasets.ecoli import ecoli_dataset_main
        return ecoli_dataset_main(argv[1:])
    if argv[:1] and argv[0] in DATASET_COMMANDS:
        return _dataset_command(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    from .logs import setup_logging
    setup_logging(args.log_level, args.log)
    run(args)


def main(argv: list[str] | None = None) -> None:
    """Run one subcommand. Bad input of any command (a GenomicUlmfitError, or a ValueError or
    missing file from the libraries underneath) ends in one line on stderr naming the
    file/record/key and what was expected, and exit status 2; `--debug` shows the traceback."""
    from .errors import EXIT_INPUT_ERROR, GenomicUlmfitError
    debug, argv = _debug_requested(sys.argv[1:] if argv is None else argv)
    try:
        _dispatch(argv)
    except (GenomicUlmfitError, ValueError, FileNotFoundError) as e:
        if debug:
            raise
        command = argv[0] if argv else "genomic-ulmfit"
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"genomic-ulmfit {command}: error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_INPUT_ERROR) from None


if __name__ == "__main__":
    main()
