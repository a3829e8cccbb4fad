"""The paper-size E. coli tables on one GPU: config/paper.yaml's E. coli baseline rows Naive
and E. coli genome pre-training, and the data-reduction sizes with the E. coli genome LM
standing in for the bacterial ensemble (whose 60 genomes are not all downloadable), every
row with its notebook's protocol, 3 seeds.

    python benchmarks/paper_ecoli_gpu.py --mirror ../shared/data            # runs it (GPU)
    python benchmarks/paper_ecoli_gpu.py --mirror ../shared/data --dry-run  # the plan only

Writes the derived config and the Snakemake log under --workdir (default benchmarks/out/
paper_ecoli_gpu) and prints the two tables. The config is derived from config/paper.yaml at
run time, so the rows' protocols are the paper config's own.
"""
from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper.yaml"
BASELINE_ROWS = ("ecoli_naive", "ecoli_genome_pretraining")
STAND_IN = "ecoli_genome"  # for bacterial_ensemble


def stand_in(name: str) -> str:
    return name.replace("ecoli_ensemble", "ecoli_genome_for_ensemble")


def ecoli_gpu_config(paper: dict, seeds: list[int]) -> dict:
    """The E. coli part of the paper config, the ensemble LM replaced by the E. coli genome's
    (its rows keep their classifier protocols and are renamed ecoli_genome_for_ensemble*)."""
    cfg = copy.deepcopy(paper)
    experiments = {}
    for name, exp in cfg["experiments"].items():
        if name in BASELINE_ROWS:
            experiments[name] = exp
        elif name.startswith("ecoli_ensemble"):  # the stand-in LM comes with its own protocol
            experiments[stand_in(name)] = dict(
                exp, pretrain=STAND_IN, protocol=[p for p in exp["protocol"] if p != "bacterial_lm_k5s2"])
    cfg["experiments"] = experiments
    cfg["tasks"] = {"ecoli_promoters": cfg["tasks"]["ecoli_promoters"]}
    cfg["corpora"] = {STAND_IN: cfg["corpora"][STAND_IN]}
    cfg["seeds"] = seeds
    baseline = cfg["tables"]["ecoli_baseline"]
    baseline["rows"] = [r for r in baseline["rows"] if r.get("experiment") in BASELINE_ROWS]
    reduction = cfg["tables"]["ecoli_data_reduction"]
    reduction["title"] += "; here the E. coli genome LM stands in for the bacterial ensemble"
    reduction["rows"] = [dict(r, experiment=stand_in(r["experiment"]),
                              label=r["label"].replace("Ensemble pre-training", "E. coli genome LM for the ensemble"))
                         for r in reduction["rows"]]
    cfg["tables"] = {"ecoli_baseline": baseline, "ecoli_data_reduction": reduction}
    cfg.pop("deepsea", None)
    cfg.pop("interpret", None)
    return cfg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mirror", default=None, help="local copy of the sources (e.g. ../shared/data)")
    p.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "out" / "paper_ecoli_gpu")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--device", default="cuda")
    p.add_argument("--cores", default="all")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args(argv)
    cfg = ecoli_gpu_config(yaml.safe_load(PAPER.read_text()), [int(s) for s in args.seeds.split(",")])
    cfg.update(device=args.device, mirror=str(Path(args.mirror).resolve()) if args.mirror else None)
    args.workdir.mkdir(parents=True, exist_ok=True)
    configfile = args.workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
           "--directory", str(args.workdir), "--configfile", str(configfile), "--cores", args.cores,
           "--resources", "gpu=1", *(["-n"] if args.dry_run else [])]
    start = time.time()
    res = subprocess.run(cmd, text=True)
    print(f"snakemake exited {res.returncode} after {time.time() - start:.0f} s", flush=True)
    if res.returncode == 0 and not args.dry_run:
        for table in cfg["tables"]:
            print((args.workdir / "results" / "tables" / f"{table}.md").read_text())
    return res.returncode


if __name__ == "__main__":
    raise SystemExit(main())
