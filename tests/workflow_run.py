"""Running the workflow from tests: Snakemake in a subprocess, dry-run job
counts, configs written next to a run."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile")]


def snakemake(workdir: Path, *args: str, configfile: Path = REPO / "config" / "config.yaml",
              check: bool = True, env: dict[str, str] | None = None,
              timeout: int = 1200) -> subprocess.CompletedProcess:
    """Snakemake on `workdir`; `env` is added to this process's environment."""
    cmd = [*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(configfile), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **env} if env else None)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}")
    return res


def planned_jobs(res: subprocess.CompletedProcess) -> dict[str, int]:
    """Job counts from a dry run's 'Job stats' table."""
    out = res.stdout + res.stderr
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)
            if m.group(1) != "total"}


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def e2e_config(mirror: str, **overrides) -> dict:
    """config/test.yaml downloading from `mirror`, with `overrides` on top."""
    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    return {**cfg, "mirror": mirror, **overrides}
