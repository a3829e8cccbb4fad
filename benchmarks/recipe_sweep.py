"""Search for the E. coli recipe: naive vs pre-trained classifiers over a grid.

Each recipe (k, stride, model size, LM and classifier schedules) gets one genome
LM (seed 0), fine-tuned on the task's train/valid sequences (or names one fine-tuned
before, "finetuned_lm": path), then classifiers from
scratch (naive) and from the fine-tuned LM over several seeds and training-set
sizes, all scored on the test split. Jobs run in parallel worker processes (on one
GPU, several at once). Prints, per recipe and training-set size, the test accuracy
of both and the gap, and writes every run to <out>/runs.csv.

    python benchmarks/recipe_sweep.py --dataset results/datasets/ecoli_promoters.tsv \
        --genome resources/downloads/ecoli_genome_fna/GCF_000005845.2_ASM584v2_genomic.fna.gz \
        --grid benchmarks/recipe_grids/3_naive_12_epochs.json --out benchmarks/out/sweep3 --workers 8

A grid is JSON: "seeds", "train_sizes" (null = every label), "defaults" (settings every
recipe shares) and "recipes", each with "name", "k", "stride", "preset", "model"
(overrides), "pretrain", "finetune" (one-cycles), "classifier" and "naive" (stage epochs
and learning rates), optionally "both_strands", its own "seeds" / "train_sizes", or
"finetuned_lm" (a path) instead of training an LM.

On one GPU, small models leave it mostly idle, so many workers share it: with
`--device cuda --workers 15` an H200 ran grid 1 (12 recipes, 96 classifiers) in 270 s.
Scores from a GPU (fp16) and from the CPU (fp32) differ by run-to-run noise only; the
default config's CPU run is the check (README, "Benchmarks").
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _setup(device: str, threads: int):
    import logging
    import torch
    from genomic_ulmfit.train import pick_device
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(threads)
    return pick_device(device)


def _model(recipe: dict):
    from genomic_ulmfit.models import get_preset
    return get_preset(recipe.get("preset", "cpu"), **recipe.get("model", {}))


def train_lm(job: dict) -> dict:
    """General LM on the recipe's corpus, then fine-tuned on the task: paths and losses."""
    from genomic_ulmfit.corpus import Corpus
    from genomic_ulmfit.datasets.common import read_dataset
    from genomic_ulmfit.train import OneCycle, finetune_lm, pretrain_lm
    device = _setup(job["device"], job["threads"])
    recipe, out = job["recipe"], Path(job["dir"])
    t0 = time.time()
    lm = pretrain_lm(Corpus.open(Path(job["corpus"])), _model(recipe),
                     OneCycle(**recipe["pretrain"]), out / "lm.pth", device=device)
    t1 = time.time()
    ft = finetune_lm(out / "lm.pth", read_dataset(job["dataset"]), OneCycle(**recipe["finetune"]),
                     out / "lm_ft.pth", device=device, config=_model(recipe))
    return {"name": recipe["name"], "lm_valid_loss": lm["valid_loss"],
            "markov_loss": lm["markov_baseline_loss"], "prior_loss": lm["stride_prior_loss"],
            "ft_valid_loss": ft["valid_loss"], "lm_seconds": t1 - t0,
            "ft_seconds": time.time() - t1}


def train_classifier(job: dict) -> dict:
    """One classifier (naive or from the fine-tuned LM) and its test metrics."""
    from genomic_ulmfit.datasets.common import read_dataset
    from genomic_ulmfit.kmers import KmerTokenizer
    from genomic_ulmfit.metrics import evaluate_predictions
    from genomic_ulmfit.train import OneCycle, predict, train_classifier as fit
    device = _setup(job["device"], job["threads"])
    recipe = job["recipe"]
    df = read_dataset(job["dataset"])
    schedule = recipe["naive" if job["encoder"] is None else "classifier"]
    stages = [OneCycle(e, lr) for e, lr in zip(schedule["stage_epochs"], schedule["stage_lrs"])]
    out = Path(job["out"])
    t0 = time.time()
    summary = fit(df, KmerTokenizer(recipe["k"], recipe["stride"]), _model(recipe), stages, out,
                  encoder_from=Path(job["encoder"]) if job["encoder"] else None,
                  seed=job["seed"], device=device, train_size=job["train_size"])
    seconds = time.time() - t0
    metrics = evaluate_predictions(predict(out, df, "test", device=device), sorted(set(df["label"])))
    out.unlink()
    return {"name": recipe["name"], "variant": job["variant"], "seed": job["seed"],
            "train_size": job["train_size"] or "all", "valid_accuracy": summary["valid_accuracy"],
            "test_accuracy": metrics["accuracy"], "test_mcc": metrics["mcc"], "seconds": seconds}


def load_recipes(grid: dict) -> list[dict]:
    """The grid's recipes, each over the grid's "defaults" (settings all recipes share)."""
    return [grid.get("defaults", {}) | r for r in grid["recipes"]]


def build_corpora(recipes: list[dict], genome: Path, out: Path) -> dict[str, Path]:
    """Recipe name -> its LM corpus, one per tokenization (recipes with an LM of their own
    have none)."""
    from genomic_ulmfit.corpus import build_corpus
    from genomic_ulmfit.kmers import KmerTokenizer
    corpora = {}
    for r in recipes:
        if r.get("finetuned_lm"):
            continue
        strands = r.get("both_strands", True)
        path = out / f"corpus_k{r['k']}s{r['stride']}{'b' if strands else ''}"
        if not (path / "meta.json").exists():
            build_corpus([genome], path, KmerTokenizer(r["k"], r["stride"]), valid_fraction=0.1,
                         both_strands=strands)
        corpora[r["name"]] = path
    return corpora


def summarize(runs: pd.DataFrame, lms: pd.DataFrame) -> pd.DataFrame:
    """Per recipe and training-set size: test accuracy (mean, SD, runs) of each variant,
    their validation accuracy (to choose a recipe by), the gap, and the LM's losses."""
    groups = runs.groupby(["name", "train_size", "variant"])
    agg = groups["test_accuracy"].agg(["mean", "std", "count"])
    agg["valid"] = groups["valid_accuracy"].mean()
    agg = agg.unstack("variant")
    agg.columns = [f"{v}_{s}" for s, v in agg.columns]
    if {"pretrained_mean", "naive_mean"} <= set(agg.columns):
        agg["gap"] = agg["pretrained_mean"] - agg["naive_mean"]
    agg = agg.reset_index()
    return agg.merge(lms, on="name", how="left") if len(lms) else agg


def _naive_key(job: dict) -> str:
    r = job["recipe"]
    return json.dumps({k: r.get(k) for k in ("k", "stride", "preset", "model", "naive")}
                      | {"seed": job["seed"], "size": job["train_size"]}, sort_keys=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--genome", type=Path, required=True)
    p.add_argument("--grid", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="CSV tables")
    p.add_argument("--work", type=Path, help="corpora and models (default: <out>/work)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    grid = json.loads(args.grid.read_text())
    recipes = load_recipes(grid)
    work = args.work or args.out / "work"
    args.out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    corpora = build_corpora(recipes, args.genome, work)
    common = {"device": args.device, "threads": args.threads, "dataset": str(args.dataset)}
    t0 = time.time()
    lms, runs, naive_seen = [], [], {}

    def clas_jobs(lm_job: dict, variant: str) -> list[dict]:
        jobs = []
        recipe = lm_job["recipe"]  # a recipe may set its own seeds and training-set sizes
        for size in recipe.get("train_sizes", grid["train_sizes"]):
            for seed in recipe.get("seeds", grid["seeds"]):
                enc = (recipe.get("finetuned_lm") or f"{lm_job['dir']}/lm_ft.pth"
                       if variant == "pretrained" else None)
                jobs.append(dict(common, recipe=lm_job["recipe"], variant=variant, encoder=enc,
                                 seed=seed, train_size=size,
                                 out=f"{lm_job['dir']}/{variant}_s{seed}_n{size}.pth"))
        return jobs

    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
        pending = {}
        lm_jobs = []
        for r in recipes:
            job = dict(common, recipe=r, corpus=str(corpora.get(r["name"])), dir=str(work / r["name"]))
            Path(job["dir"]).mkdir(exist_ok=True)
            lm_jobs.append(job)
            if r.get("finetuned_lm"):  # an LM fine-tuned before: only classifiers to train
                for cj in clas_jobs(job, "pretrained"):
                    pending[pool.submit(train_classifier, cj)] = ("clas", cj)
            else:
                pending[pool.submit(train_lm, job)] = ("lm", job)
        for job in lm_jobs:
            for cj in clas_jobs(job, "naive"):
                key = _naive_key(cj)
                if key in naive_seen:
                    naive_seen[key].append(cj["recipe"]["name"])
                else:
                    naive_seen[key] = [cj["recipe"]["name"]]
                    pending[pool.submit(train_classifier, cj)] = ("clas", cj)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                kind, job = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as e:  # one failed recipe must not end the sweep
                    print(f"FAILED {kind} {job['recipe']['name']}: {e!r}", flush=True)
                    continue
                print(f"[{time.time() - t0:6.0f}s] {kind} {result}", flush=True)
                if kind == "lm":
                    lms.append(result)
                    pd.DataFrame(lms).to_csv(args.out / "lms.csv", index=False)
                    for cj in clas_jobs(job, "pretrained"):
                        pending[pool.submit(train_classifier, cj)] = ("clas", cj)
                    continue
                sharing = naive_seen.get(_naive_key(job), [job["recipe"]["name"]]) \
                    if result["variant"] == "naive" else [result["name"]]
                runs.extend(dict(result, name=name) for name in sharing)
                pd.DataFrame(runs).to_csv(args.out / "runs.csv", index=False)
    table = summarize(pd.DataFrame(runs), pd.DataFrame(lms))
    table.to_csv(args.out / "summary.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 4):
        print(table)


if __name__ == "__main__":
    main()
