"""The workflow on SLURM: the repository's profile (profiles/slurm), and
config/test.yaml run end to end on a real one-node cluster started on this
machine by scripts/slurm_cluster.sh (Debian's slurmctld, slurmd, munge).

The cluster tests skip only where SLURM cannot run here (the script exits 3: not
root, not installed and no apt-get, or a machine with a SLURM configuration of
its own); any other failure to start the cluster fails them."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from workflow_run import REPO, e2e_config, planned_jobs, snakemake, write_config

CLUSTER_SCRIPT = REPO / "scripts" / "slurm_cluster.sh"
PROFILE = REPO / "profiles" / "slurm"
LOCAL_RULES = {"download", "all"}
TRAINING_RULES = {"pretrain_lm", "lr_find_lm", "finetune_lm", "train_classifier"}
FAILING_RULE = "pretrain_lm"  # fails its first attempt in the cluster run
# "Job 8 has been submitted with SLURM jobid 7 (log: /w/.snakemake/slurm_logs/rule_x/7.log)."
SUBMITTED = re.compile(r"^Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.$", re.M)


def output(res: subprocess.CompletedProcess) -> str:
    return res.stdout + res.stderr


def dry_run_resources(res: subprocess.CompletedProcess) -> dict[str, str]:
    """Rule name -> the 'resources:' line of its first job in a dry run."""
    found = {}
    for m in re.finditer(r"^(?:local)?rule (\w+):\n(.*?)(?=^\S)", output(res), re.M | re.S):
        line = re.search(r"^\s+resources: (.*)$", m.group(2), re.M)
        found.setdefault(m.group(1), line.group(1) if line else "")
    return found


# -- the profile, without a cluster ------------------------------------------------------------

def test_profile_asks_for_sensible_resources_and_retries(tmp_path):
    """Snakemake accepts every profile key, and each job gets the profile's resources."""
    res = snakemake(tmp_path, "-n", "--profile", str(PROFILE),
                    configfile=REPO / "config" / "config.yaml")
    resources = dry_run_resources(res)
    assert "mem_mb=32000" in resources["pretrain_lm"] and "runtime=720" in resources["pretrain_lm"]
    for rule in TRAINING_RULES:
        assert re.search(r"\bgpu=1\b", resources[rule]), (rule, resources[rule])
    assert re.search(r"\bgpu=0\b", resources["evaluate"])  # scoring runs on CPU nodes
    assert "mem_mb=8000" in resources["ecoli_dataset"]
    assert "mem_mb=2000" in resources["results_table"] and "runtime=30" in resources["results_table"]
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    assert profile["slurm-status-command"] == "squeue"
    for rule, res_of_rule in {"(default)": profile["default-resources"], **profile["set-resources"]}.items():
        for name in ("mem_mb", "runtime"):
            if name in res_of_rule:
                assert "attempt" in res_of_rule[name], f"{rule}.{name} does not grow on retry"


def gpu_rules() -> set[str]:
    """Rules whose `resources:` ask for a GPU, from the rule files."""
    found = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for m in re.finditer(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", smk.read_text(), re.M | re.S):
            if re.search(r"^\s+gpu=", m.group(2), re.M):
                found.add(m.group(1))
    return found


def test_every_gpu_rule_has_cluster_resources():
    """A GPU rule the profile does not list would get the 2 GB / 30 min default."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert TRAINING_RULES <= gpu_rules()
    missing = gpu_rules() - set(profile["set-resources"])
    assert not missing, f"GPU rules without set-resources in the SLURM profile: {sorted(missing)}"


def test_profile_keeps_the_pretraining_gpu_count(tmp_path):
    """pretrain_gpus reaches sbatch's GPU request: the profile does not pin it to 1."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["pretrain_gpus"] = 4
    res = snakemake(tmp_path, "-n", "--profile", str(PROFILE),
                    configfile=write_config(tmp_path / "c.yaml", cfg))
    resources = dry_run_resources(res)
    assert re.search(r"\bgpu=4\b", resources["pretrain_lm"]), resources["pretrain_lm"]
    assert re.search(r"\bgpu=1\b", resources["finetune_lm"])


def test_fail_first_attempt_guards_only_the_named_rule(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "test.yaml").read_text())
    cfg["fail_first_attempt"] = [FAILING_RULE]
    res = snakemake(tmp_path, "-n", "-p", "--cores", "2",
                    configfile=write_config(tmp_path / "c.yaml", cfg))
    commands = re.findall(r"^Shell command: (.*-m genomic_ulmfit.*)$", output(res), re.M)
    guarded = [c for c in commands if "fails its first attempt on purpose" in c]
    assert len(guarded) == 2 and all(" pretrain --corpus" in c for c in guarded)  # 2 seeds
    assert all(c.startswith("if [ 1 -eq 1 ]") for c in guarded)  # attempt 1 of each job


def test_fail_first_attempt_names_the_rules_it_knows(tmp_path):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["fail_first_attempt"] = ["pretrain"]
    res = snakemake(tmp_path, "-n", "--cores", "1", check=False,
                    configfile=write_config(tmp_path / "c.yaml", cfg))
    assert res.returncode != 0
    assert "fail_first_attempt.0: 'pretrain' is not allowed; allowed values: [" in output(res)


# -- a real cluster ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running one-node cluster; yields the environment its clients need."""
    directory = tmp_path_factory.mktemp("slurm_cluster")
    env = {**os.environ, "SLURM_CLUSTER_DIR": str(directory)}
    start = subprocess.run(["bash", str(CLUSTER_SCRIPT), "start"], env=env, capture_output=True,
                           text=True, timeout=900)
    if start.returncode == 3:
        pytest.skip(f"SLURM cannot run here: {start.stderr.strip()}")
    try:
        assert start.returncode == 0, f"{CLUSTER_SCRIPT} start failed:\n{start.stdout}\n{start.stderr}"
        yield {"SLURM_CLUSTER_DIR": str(directory), "SLURM_CONF": str(directory / "slurm.conf")}
    finally:
        stop = subprocess.run(["bash", str(CLUSTER_SCRIPT), "stop"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert stop.returncode == 0, f"{CLUSTER_SCRIPT} stop failed:\n{stop.stdout}\n{stop.stderr}"


def fitted_profile(directory: Path) -> Path:
    """profiles/slurm fitted to the test node: no GPU there, so training rules ask
    for none, and heavy rules ask for 1 GB (x attempt) instead of up to 32 GB.
    SLURM logs of successful jobs are kept for the assertions, and job states are
    polled every few seconds instead of every 40 s or more."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    for rule in gpu_rules():  # the rule's own gpu=1 (or pretrain_gpus) would reach sbatch
        profile["set-resources"].setdefault(rule, {})
    for resources in profile["set-resources"].values():
        resources.update(mem_mb="1000 * attempt", gpu=0)
    profile.update({"slurm-keep-successful-logs": True,
                    "slurm-init-seconds-before-status-checks": 1,
                    "seconds-between-status-checks": 1})
    directory.mkdir(parents=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return directory


@pytest.fixture(scope="module")
def slurm_run(shared_data_http, slurm_cluster, tmp_path_factory):
    """config/test.yaml (seed 0, every rule) through SLURM, pretrain_lm failing once.
    (workdir, CompletedProcess)."""
    workdir = tmp_path_factory.mktemp("slurm_run")
    cfg = e2e_config(shared_data_http, seeds=[0], fail_first_attempt=[FAILING_RULE])
    configfile = write_config(workdir / "test.yaml", cfg)
    profile = fitted_profile(tmp_path_factory.mktemp("slurm_profile") / "slurm")
    res = snakemake(workdir, "--profile", str(profile), configfile=configfile, env=slurm_cluster,
                    check=False, timeout=900)
    assert res.returncode == 0, f"the SLURM run failed:\n{output(res)[-6000:]}"
    return workdir, res


class Submission(NamedTuple):
    rule: str
    jobid: str  # Snakemake's
    slurm_id: str
    log: Path  # the plugin's SLURM log of the job


def submissions(res: subprocess.CompletedProcess, workdir: Path) -> list[Submission]:
    """Every job the run submitted, in order."""
    logs = workdir / ".snakemake" / "slurm_logs"
    found = []
    for jobid, slurm_id, log in SUBMITTED.findall(output(res)):
        rule_dir = Path(log).relative_to(logs).parts[0]
        found.append(Submission(rule_dir.removeprefix("rule_"), jobid, slurm_id, Path(log)))
    return found


def planned_cpus(res: subprocess.CompletedProcess) -> dict[str, str]:
    """Snakemake job id -> the cpus_per_task of its resources line."""
    return dict(re.findall(r"^\s+jobid: (\d+)\n(?:\s+\w+: .*\n)*?\s+resources: .*?\bcpus_per_task=(\d+)",
                           output(res), re.M))


def minutes(time_limit: str) -> int:
    """SLURM's [D-]HH:MM:SS as minutes."""
    days, _, clock = time_limit.rpartition("-")
    hours, mins, _ = (int(x) for x in clock.split(":"))
    return (int(days or 0) * 24 + hours) * 60 + mins


def scontrol_job(job_id: str, env: dict[str, str]) -> dict[str, str]:
    res = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    return dict(field.split("=", 1) for field in res.stdout.split() if "=" in field)


@pytest.mark.slow
@pytest.mark.slurm
def test_every_cluster_rule_ran_as_a_slurm_job(slurm_run, slurm_cluster):
    workdir, res = slurm_run
    jobs = submissions(res, workdir)
    planned = planned_jobs(res)
    cluster_rules = set(planned) - LOCAL_RULES
    assert {job.rule for job in jobs} == cluster_rules
    assert len(jobs) == sum(planned[r] for r in cluster_rules) + 1  # + the retry
    assert len({job.slurm_id for job in jobs}) == len(jobs)
    cpus = planned_cpus(res)
    for job in jobs:
        assert job.log.is_file(), f"no SLURM log {job.log} for SLURM job {job.slurm_id} ({job.rule})"
        # the profile's cpus_per_task: the rule's threads
        assert scontrol_job(job.slurm_id, slurm_cluster)["NumCPUs"] == cpus[job.jobid], job
    assert "2" in cpus.values()  # ecoli_dataset's BLAST threads
    # the download rules ran on the submitting host, as local rules
    assert re.search(r"^localrule download:", output(res), re.M)
    assert not (workdir / ".snakemake" / "slurm_logs" / "rule_download").exists()


@pytest.mark.slow
@pytest.mark.slurm
def test_cluster_jobs_run_the_projects_interpreter(slurm_run):
    """Each job on the node runs the venv's Python, the one that ran Snakemake."""
    workdir, res = slurm_run
    for job in submissions(res, workdir):
        commands = re.findall(r"^Shell command: (.*)$", job.log.read_text(), re.M)
        assert commands, f"{job.log}: no shell command ({job.rule})"
        assert all(c.split(" -m genomic_ulmfit")[0].endswith(sys.executable) for c in commands), job


def seed0_results(workdir: Path) -> dict[str, str]:
    """Relative path -> text of the seed-0 metrics, predictions, training histories
    and the dataset."""
    files = [*workdir.glob("results/evaluation/**/seed0/test.*"),
             *workdir.glob("results/models/**/seed0/history.csv"),
             *workdir.glob("results/datasets/*.tsv")]
    return {str(f.relative_to(workdir)): f.read_text() for f in files}


@pytest.mark.slow
@pytest.mark.slurm
def test_cluster_results_equal_the_local_run(slurm_run, e2e):
    """Same seeds, same numbers: training is deterministic on CPU (seeded, one thread)."""
    slurm, local = seed0_results(slurm_run[0]), seed0_results(e2e[0])
    assert len([p for p in slurm if p.endswith("test.metrics.json")]) == 3
    assert sorted(slurm) == sorted(p for p in local if p in slurm) and len(slurm) >= 10
    for path, text in slurm.items():
        if path.endswith(".json"):
            assert json.loads(text) == json.loads(local[path]), path
        else:
            assert text == local[path], f"{path} differs between the SLURM and the local run"


@pytest.mark.slow
@pytest.mark.slurm
def test_failed_job_is_reported_with_its_slurm_log_and_retried(slurm_run, slurm_cluster):
    workdir, res = slurm_run
    attempts = [job for job in submissions(res, workdir) if job.rule == FAILING_RULE]
    assert len(attempts) == 2, attempts
    failed, retried = attempts
    error = output(res).split(f"Error in rule {FAILING_RULE}:", 1)[1].split("Trying to restart job", 1)[0]
    assert f"SLURM-job '{failed.slurm_id}' failed" in error
    assert str(failed.log) in error  # the SLURM log is named beside the rule's own log
    assert "fails its first attempt on purpose" in failed.log.read_text()
    first, second = (scontrol_job(job.slurm_id, slurm_cluster) for job in attempts)
    assert first["JobState"] == "FAILED" and second["JobState"] == "COMPLETED"
    # the profile's `attempt` expressions: twice the memory and time on the retry
    assert (first["MinMemoryNode"], second["MinMemoryNode"]) == ("1000M", "2000M")
    assert 2 * minutes(first["TimeLimit"]) == minutes(second["TimeLimit"]) > 0
    assert (workdir / "results" / "models" / "lm" / "ecoli_genome" / "k3s3" / "tiny" / "seed0"
            / "lm.pth").is_file()


@pytest.mark.slow
@pytest.mark.slurm
def test_training_jobs_ask_slurm_for_a_gpu(slurm_run, slurm_cluster, tmp_path):
    """The real profile's training job goes to sbatch with --gpus=1; the test node
    has no GPU, so SLURM refuses it, and the refusal shows the sbatch call."""
    corpus = Path("results") / "corpora" / "ecoli_genome" / "k3s3"
    shutil.copytree(slurm_run[0] / corpus, tmp_path / corpus)
    target = "results/models/lm/ecoli_genome/k3s3/tiny/lr_find.png"
    res = snakemake(tmp_path, "--profile", str(PROFILE), target, "--allowed-rules", "lr_find_lm",
                    "--slurm-init-seconds-before-status-checks", "1",
                    "--seconds-between-status-checks", "1",
                    configfile=slurm_run[0] / "test.yaml", env=slurm_cluster, check=False, timeout=300)
    assert res.returncode != 0
    calls = re.findall(r"^\s+(sbatch --parsable .*)$", output(res), re.M)
    assert len(calls) == 2, output(res)[-3000:]  # the first attempt and its retry
    wanted = yaml.safe_load((PROFILE / "config.yaml").read_text())["set-resources"]["lr_find_lm"]
    for call, attempt in zip(calls, (1, 2)):
        flags = call.split(" --wrap=", 1)[0]
        assert " --gpus=1" in flags, flags
        runtime, mem = (eval(wanted[r], {"attempt": attempt}) for r in ("runtime", "mem_mb"))
        assert f" -t {runtime} " in flags and f" --mem {mem} " in flags, flags
    assert "SLURM sbatch failed" in output(res)
