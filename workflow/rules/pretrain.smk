# General-domain language models, one per (corpus, k, stride, protocol tag, seed): every
# experiment that names the same corpus, tokenization and LM settings shares the job.


rule pretrain_lm:
    input:
        corpus="results/corpora/{corpus}/k{k}s{stride}",
    output:
        model=f"{LM_DIR}/lm.pth",
        history=f"{LM_DIR}/history.csv",
        schedule=f"{LM_DIR}/schedule.csv",
        summary=f"{LM_DIR}/summary.json",
    params:
        device=DEVICE_ARGS,
        settings=lm_settings,
    threads: config["threads"] * PRETRAIN_GPUS
    resources:
        gpu=PRETRAIN_GPUS,
        attempt=job_attempt,
    log:
        "logs/pretrain/{corpus}/k{k}s{stride}/{tag}/seed{seed}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("pretrain_lm")
        + "{PY_PRETRAIN} pretrain --corpus {input.corpus:q} --out {output.model:q} "
        "--settings {params.settings} {params.device} --seed {wildcards.seed} "
        "--history {output.history:q} --schedule {output.schedule:q} --summary {output.summary:q} "
        "> {log} 2>&1"


rule lr_find_lm:
    """LR range test (section 5.3): loss against lr, to choose the pretraining lr."""
    input:
        corpus="results/corpora/{corpus}/k{k}s{stride}",
    output:
        csv=f"{LR_FIND_DIR}/lr_find.csv",
        suggestion=f"{LR_FIND_DIR}/lr_find.json",
        plot=report(f"{LR_FIND_DIR}/lr_find.png", caption="../report/lr_finder.rst",
                    category="Language models", subcategory="{corpus} k{k}s{stride}"),
    params:
        device=DEVICE_ARGS,
        settings=lr_find_settings,
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        "logs/lr_find/{corpus}/k{k}s{stride}/{tag}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("lr_find_lm")
        + "{PY} lr-find --corpus {input.corpus:q} --csv {output.csv:q} --plot {output.plot:q} "
        "--suggestion {output.suggestion:q} --settings {params.settings} {params.device} > {log} 2>&1"
