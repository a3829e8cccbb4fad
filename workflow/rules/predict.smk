# Apply an experiment's classifier to new, unlabelled sequences (config `predict:`; absent,
# nothing here runs): each input is a source (FASTA, TSV with a `sequence` column, or one
# sequence per line), scored into results/predict/<classifier run>/<source>.tsv with the
# sequences that cannot be scored listed beside it (<source>.skipped.tsv).

from genomic_ulmfit.config import ConfigError  # noqa: E402

PREDICT = config.get("predict") or {}
PREDICT_DIR = f"results/predict/{RUN}"


def _predict_run():
    """The classifier run `predict:` applies: its experiment at its seed (default: the first)."""
    name = PREDICT["experiment"]
    if name not in EXPERIMENTS:
        raise ConfigError(f"invalid configuration:\n  config key predict.experiment: {name!r} is not an "
                          f"experiment; known: {', '.join(sorted(EXPERIMENTS))}")
    unknown = [s for s in PREDICT["inputs"] if s not in SOURCES]
    if unknown:
        raise ConfigError(f"invalid configuration:\n  config key predict.inputs: {unknown} are not sources "
                          f"(add them to a sources file named in config `sources`)")
    seed = PREDICT.get("seed")
    return run_id(name, experiment_seeds(name)[0] if seed is None else seed)


def predict_targets():
    if not PREDICT:
        return []
    d = f"results/predict/{_predict_run()}"
    return [f"{d}/{source}.tsv" for source in PREDICT["inputs"]]


rule predict:
    input:
        model=f"{CLASSIFIER_DIR}/model.pth",
        sequences=lambda w: download_path(w.source),
    output:
        predictions=f"{PREDICT_DIR}/{{source}}.tsv",
        skipped=f"{PREDICT_DIR}/{{source}}.skipped.tsv",
    params:
        device=DEVICE_ARGS,
        strands=lambda w: PREDICT["strands"],  # schema defaults filled in
        combine=lambda w: PREDICT["combine"],
        on_invalid=lambda w: PREDICT["on_invalid"],
        positive=positive_arg,
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"logs/predict/{RUN}/{{source}}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        "{PY} predict --model {input.model:q} --k {wildcards.k} --stride {wildcards.stride} --input {input.sequences:q} --out {output.predictions:q} "
        "--skipped {output.skipped:q} --strands {params.strands} --combine {params.combine} "
        "--on-invalid {params.on_invalid} {params.positive} {params.device} > {log} 2>&1"
