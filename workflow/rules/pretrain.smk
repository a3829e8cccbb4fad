# General-domain language models, one per (corpus, k, stride, preset, seed): every
# experiment that names the same corpus and tokenization shares the job.


rule pretrain_lm:
    input:
        corpus="results/corpora/{corpus}/k{k}s{stride}",
    output:
        model="results/models/lm/{corpus}/k{k}s{stride}/{preset}/seed{seed}/lm.pth",
        history="results/models/lm/{corpus}/k{k}s{stride}/{preset}/seed{seed}/history.csv",
        schedule="results/models/lm/{corpus}/k{k}s{stride}/{preset}/seed{seed}/schedule.csv",
        summary="results/models/lm/{corpus}/k{k}s{stride}/{preset}/seed{seed}/summary.json",
    params:
        cycle=cycle_args("pretrain"),
        model=lm_model_args,
    threads: config["threads"] * PRETRAIN_GPUS
    resources:
        gpu=PRETRAIN_GPUS,
        attempt=job_attempt,
    log:
        "logs/pretrain/{corpus}/k{k}s{stride}/{preset}/seed{seed}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("pretrain_lm")
        + "{PY_PRETRAIN} pretrain --corpus {input.corpus:q} --out {output.model:q} {params.cycle} "
        "{params.model} --seed {wildcards.seed} --history {output.history:q} "
        "--schedule {output.schedule:q} --summary {output.summary:q} > {log} 2>&1"


rule lr_find_lm:
    """LR range test (section 5.3): loss against lr, to choose the pretraining lr."""
    input:
        corpus="results/corpora/{corpus}/k{k}s{stride}",
    output:
        csv="results/models/lm/{corpus}/k{k}s{stride}/{preset}/lr_find.csv",
        suggestion="results/models/lm/{corpus}/k{k}s{stride}/{preset}/lr_find.json",
        plot=report("results/models/lm/{corpus}/k{k}s{stride}/{preset}/lr_find.png",
                    caption="../report/lr_finder.rst", category="Language models",
                    subcategory="{corpus} k{k}s{stride}"),
    params:
        model=lm_model_args,
    threads: config["threads"]
    resources:
        gpu=1,
        attempt=job_attempt,
    log:
        "logs/lr_find/{corpus}/k{k}s{stride}/{preset}.log",
    conda:
        "../../envs/train.yaml"
    shell:
        fail_first_attempt("lr_find_lm")
        + "{PY} lr-find --corpus {input.corpus:q} --csv {output.csv:q} --plot {output.plot:q} "
        "--suggestion {output.suggestion:q} {params.model} > {log} 2>&1"
