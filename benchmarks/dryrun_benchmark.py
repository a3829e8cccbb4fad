"""How long `snakemake -n` takes on a completed run (target: under 5 s), against a
dry run that plans the whole DAG from an empty directory, in the same run.

    python benchmarks/dryrun_benchmark.py --workdir DIR [--configfile config/config.yaml]

DIR is a working directory where `snakemake --configfile ...` has completed
(e.g. after `make run`, the checkout itself). Prints each timing (median of
--repeats) and whether the completed run has anything left to do; last line, the ratio.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def dry_run(workdir: Path, configfile: Path, extra: list[str]) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
           "--directory", str(workdir), "--configfile", str(configfile), "-n", "--cores", "2", *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return seconds, res.stdout + res.stderr


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--configfile", type=Path, default=REPO / "config" / "config.yaml")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--config", nargs="*", default=[], help="extra --config KEY=VALUE of the completed run")
    args = p.parse_args(argv)
    extra = ["--config", *args.config] if args.config else []
    done_times, empty_times = [], []
    with tempfile.TemporaryDirectory() as empty:
        for _ in range(args.repeats):  # alternate the two, so drift hits both alike
            seconds, out = dry_run(args.workdir, args.configfile, extra)
            done_times.append(seconds)
            seconds, _ = dry_run(Path(empty), args.configfile, extra)
            empty_times.append(seconds)
    nothing = "Nothing to be done" in out
    done, full = statistics.median(done_times), statistics.median(empty_times)
    print(f"snakemake -n, completed run ({args.workdir}): {done:.2f} s "
          f"({'nothing to be done' if nothing else 'SOME JOBS WOULD RUN'}); target < 5 s")
    print(f"snakemake -n, empty directory (whole DAG planned): {full:.2f} s")
    print(f"ratio completed / empty: {done / full:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
