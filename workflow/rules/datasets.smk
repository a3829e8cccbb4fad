# Labelled datasets (TSV: id, sequence, label, split, provenance columns).


def task_param(w, key, default):
    return config["tasks"][w.task].get("params", {}).get(key, default)


rule ecoli_dataset:
    """The paper's E. coli promoter set from the GenBank file, split homology-aware."""
    input:
        gbff=lambda w: download_path(config["tasks"][w.task]["inputs"]["gbff"]),
    output:
        tsv="results/datasets/{task}.tsv",
        summary="results/datasets/{task}.summary.json",
    params:
        seed=lambda w: task_param(w, "seed", 0),
        n_test=lambda w: task_param(w, "n_test", 830),
        n_valid=lambda w: task_param(w, "n_valid", 750),
        word_size=lambda w: task_param(w, "word_size", 15),
    threads: 2
    log:
        "logs/datasets/{task}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} ecoli-dataset --gbff {input.gbff:q} --out {output.tsv:q} --seed {params.seed} "
        "--n-test {params.n_test} --n-valid {params.n_valid} --word-size {params.word_size} "
        "--threads {threads} > {log} 2>&1"
