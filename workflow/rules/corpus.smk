# Language-model corpora: genome FASTA -> token arrays on disk, per (corpus, k, stride).


rule tokenize_corpus:
    input:
        lambda w: [download_path(s) for s in config["corpora"][w.corpus]["genomes"]],
    output:
        directory("results/corpora/{corpus}/k{k}s{stride}"),
    params:
        valid_fraction=lambda w: config["corpora"][w.corpus].get("valid_fraction", 0.1),
        region_bp=lambda w: config["corpora"][w.corpus].get("region_bp", 100000),
        max_bases=lambda w: (f"--max-bases {config['corpora'][w.corpus]['max_bases']}"
                             if config["corpora"][w.corpus].get("max_bases") else ""),
        strands=lambda w: "--both-strands" if config["corpora"][w.corpus].get("both_strands") else "",
        names=lambda w: ",".join(config["corpora"][w.corpus]["genomes"]),  # per-genome provenance
        records=lambda w: (f"--records {shlex.quote(config['corpora'][w.corpus]['records'])}"
                           if config["corpora"][w.corpus].get("records") else ""),
    resources:
        attempt=job_attempt,
    log:
        "logs/corpus/{corpus}/k{k}s{stride}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        fail_first_attempt("tokenize_corpus")
        + "{PY} tokenize {input:q} --out {output:q} --k {wildcards.k} --stride {wildcards.stride} "
        "--valid-fraction {params.valid_fraction} --region-bp {params.region_bp} "
        "{params.max_bases} {params.strands} {params.records} --names {params.names:q} > {log} 2>&1"
