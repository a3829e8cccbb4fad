# Labelled datasets (TSV: id, sequence, label, split, provenance columns).


def task_param(w, key, default):
    return config["tasks"][w.task].get("params", {}).get(key, default)


def builder_tasks(builder):
    """Wildcard constraint: the tasks built by `builder` (a regex that matches none if none is)."""
    names = [t for t, spec in config["tasks"].items() if spec["builder"] == builder]
    return "|".join(names) if names else "(?!)"


rule ecoli_dataset:
    """The paper's E. coli promoter set from the GenBank file, split homology-aware."""
    wildcard_constraints:
        task=builder_tasks("ecoli_genbank"),
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
        cap=lambda w: (f"--max-per-class {task_param(w, 'max_per_class', None)}"
                       if task_param(w, "max_per_class", None) else ""),
    threads: 2
    resources:
        attempt=job_attempt,
    log:
        "logs/datasets/{task}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        fail_first_attempt("ecoli_dataset")
        + "{PY} ecoli-dataset --gbff {input.gbff:q} --out {output.tsv:q} --seed {params.seed} "
        "--n-test {params.n_test} --n-valid {params.n_valid} --word-size {params.word_size} "
        "{params.cap} --threads {threads} > {log} 2>&1"


# -- genomes, TSS windows, FASTA classes, your own data, leakage audit ---------------------------


def genome_path(source):
    return f"results/genomes/{source}.fa"


def task_input(w, role):
    return config["tasks"][w.task]["inputs"][role]


def optional_download(w, role):
    inputs = config["tasks"][w.task]["inputs"]
    return [download_path(inputs[role])] if role in inputs else []


def split_args(w):
    p = config["tasks"][w.task].get("params", {})
    args = [f"--seed {p.get('seed', 0)}",
            f"--fractions {','.join(str(f) for f in p.get('fractions', [0.81, 0.09, 0.10]))}",
            f"--word-size {p.get('word_size', 15)} --min-length {p.get('min_length', 15)}"]
    if p.get("acgt_only"):
        args.append("--acgt-only")
    if p.get("stratify") is False:
        args.append("--no-stratify")
    if p.get("max_per_class"):
        args.append(f"--max-per-class {p['max_per_class']}")
    # set only when the task sets them (the builder's defaults otherwise; commands unchanged)
    if p.get("min_seq_length") is not None:
        args.append(f"--min-seq-length {p['min_seq_length']}")
    if p.get("short_records"):
        args.append(f"--short-records {p['short_records']}")
    if p.get("homology_split"):
        args.append("--homology-split")
        args += [f"--{k.replace('_', '-')} {p[k]}" for k in ("n_test", "n_valid") if p.get(k) is not None]
    return " ".join(args)


def class_args(w):
    """--class LABEL=FILE,... and --test SPLIT:LABEL=FILE,... from the task's input roles, and
    --format when the task sets one (left out otherwise, so other tasks' commands stay as they were)."""
    inputs = config["tasks"][w.task]["inputs"]

    def files(roles):
        return ",".join(download_path(inputs[r]) for r in roles)

    args = [f"--class {shlex.quote(f'{label}={files(roles)}')}"
            for label, roles in task_param(w, "classes", {}).items()]
    args += [f"--test {shlex.quote(f'{split}:{label}={files(roles)}')}"
             for split, per_label in task_param(w, "tests", {}).items()
             for label, roles in per_label.items()]
    if task_param(w, "format", None):
        args.append(f"--format {task_param(w, 'format', None)}")
    return " ".join(args)


rule genome_fasta:
    """A genome as a plain, faidx-indexed FASTA with its chromosome sizes (bedtools genome file)."""
    input:
        lambda w: download_path(w.source),
    output:
        fasta="results/genomes/{source}.fa",
        fai="results/genomes/{source}.fa.fai",
        sizes="results/genomes/{source}.fa.sizes",
    log:
        "logs/genomes/{source}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} genome --fasta {input:q} --out {output.fasta:q} > {log} 2>&1"


rule tss_dataset:
    """Promoter windows around TSSs (EPDnew SGA/BED or GFF3/GTF starts) and genomic negatives."""
    wildcard_constraints:
        task=builder_tasks("tss_windows"),
    input:
        genome=lambda w: genome_path(task_input(w, "genome")),
        fai=lambda w: genome_path(task_input(w, "genome")) + ".fai",
        annotation=lambda w: download_path(task_input(w, "annotation")),
        names=lambda w: optional_download(w, "names"),
    output:
        tsv="results/datasets/{task}.tsv",
        summary="results/datasets/{task}.summary.json",
    params:
        names=lambda w, input: f"--names {shlex.quote(input.names[0])}" if input.names else "",
        window=lambda w: (f"--upstream {task_param(w, 'upstream', 500)} "
                          f"--downstream {task_param(w, 'downstream', 500)}"),
        tss=lambda w: (f"--format {task_param(w, 'format', 'auto')} "
                       f"--feature-type {shlex.quote(task_param(w, 'feature_type', 'gene'))}"),
        negatives=lambda w: (f"--negatives {task_param(w, 'negatives', 'shuffle')} "
                             f"--negatives-per-positive {task_param(w, 'negatives_per_positive', 1.0)}"
                             + (f" --max-positives {task_param(w, 'max_positives', None)}"
                                if task_param(w, "max_positives", None) else "")),
        split=split_args,
    threads: 2
    log:
        "logs/datasets/{task}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} tss-dataset --genome {input.genome:q} --annotation {input.annotation:q} {params.names} "
        "{params.tss} {params.window} {params.negatives} {params.split} --threads {threads} "
        "--out {output.tsv:q} > {log} 2>&1"


rule fasta_classes_dataset:
    """A labelled dataset from FASTA or one-sequence-per-line files per class, with optional named test inputs."""
    wildcard_constraints:
        task=builder_tasks("fasta_classes"),
    input:
        lambda w: [download_path(s) for s in config["tasks"][w.task]["inputs"].values()],
    output:
        tsv="results/datasets/{task}.tsv",
        summary="results/datasets/{task}.summary.json",
    params:
        classes=class_args,
        split=split_args,
    threads: 2
    log:
        "logs/datasets/{task}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} fasta-classes {params.classes} {params.split} --threads {threads} "
        "--out {output.tsv:q} > {log} 2>&1"


rule labelled_table_dataset:
    """Your own labelled FASTA or TSV (sequence, label, optional id and split)."""
    wildcard_constraints:
        task=builder_tasks("labelled_table"),
    input:
        table=lambda w: download_path(task_input(w, "table")),
    output:
        tsv="results/datasets/{task}.tsv",
        summary="results/datasets/{task}.summary.json",
    params:
        fmt=lambda w: task_param(w, "format", "auto"),
        header=lambda w: (f"--header-regex {shlex.quote(task_param(w, 'header_regex', ''))}"
                          if task_param(w, "header_regex", None) else ""),
        split=split_args,
    threads: 2
    log:
        "logs/datasets/{task}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} labelled-table --table {input.table:q} --format {params.fmt} {params.header} "
        "{params.split} --threads {threads} --out {output.tsv:q} > {log} 2>&1"


rule bed_regions_dataset:
    """Your own labelled BED regions (name = label, strand-aware) cut from a genome."""
    wildcard_constraints:
        task=builder_tasks("bed_regions"),
    input:
        genome=lambda w: genome_path(task_input(w, "genome")),
        fai=lambda w: genome_path(task_input(w, "genome")) + ".fai",
        regions=lambda w: download_path(task_input(w, "regions")),
        names=lambda w: optional_download(w, "names"),
    output:
        tsv="results/datasets/{task}.tsv",
        summary="results/datasets/{task}.summary.json",
    params:
        names=lambda w, input: f"--names {shlex.quote(input.names[0])}" if input.names else "",
        split=split_args,
    threads: 2
    log:
        "logs/datasets/{task}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} bed-regions --genome {input.genome:q} --regions {input.regions:q} {params.names} "
        "{params.split} --threads {threads} --out {output.tsv:q} > {log} 2>&1"


def metagenomics_args(w):
    """--option value for every read/primer setting the task sets (the CLI holds the defaults)."""
    flags = {"paired": "--paired", "keep_primers": "--keep-primers"}
    values = ("seed", "split_by", "reads_per_sequence", "read_length", "read_length_sd",
              "min_read_length", "error_rate", "forward_primer", "reverse_primer", "max_mismatches")
    p = config["tasks"][w.task].get("params", {})
    args = [flags[k] for k in flags if p.get(k)]
    args += [f"--{k.replace('_', '-')} {shlex.quote(str(p[k]))}" for k in values if k in p]
    if "fractions" in p:
        args.append(f"--fractions {','.join(str(f) for f in p['fractions'])}")
    return " ".join(args)


rule metagenomics_dataset:
    """16S amplicon (in-silico PCR) or shotgun reads labelled by genus (Fiannaca et al. 2018)."""
    wildcard_constraints:
        task=f"{builder_tasks('metagenomics_amplicon')}|{builder_tasks('metagenomics_shotgun')}",
    input:
        fasta=lambda w: download_path(task_input(w, "fasta")),
        taxonomy=lambda w: optional_download(w, "taxonomy"),
    output:
        tsv="results/datasets/{task}.tsv",
        summary="results/datasets/{task}.summary.json",
    params:
        mode=lambda w: config["tasks"][w.task]["builder"].split("_", 1)[1],
        taxonomy=lambda w, input: f"--taxonomy {shlex.quote(input.taxonomy[0])}" if input.taxonomy else "",
        settings=metagenomics_args,
    log:
        "logs/datasets/{task}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} metagenomics-{params.mode} --fasta {input.fasta:q} {params.taxonomy} {params.settings} "
        "--out {output.tsv:q} > {log} 2>&1"


def leakage_settings(w):
    p = config["tasks"][w.task].get("params", {})
    return (f"--word-size {p.get('word_size', 15)} --min-length {p.get('min_length', 15)} "
            f"--min-identity {p.get('leakage_min_identity', 0)}")


rule dataset_leakage:
    """Share of each held-out split's sequences with a blastn hit to the training set."""
    input:
        "results/datasets/{task}.tsv",
    output:
        "results/datasets/{task}.leakage.json",
    params:
        settings=leakage_settings,
    threads: 2
    log:
        "logs/datasets/{task}.leakage.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} leakage --dataset {input:q} --out {output:q} {params.settings} --threads {threads} "
        "> {log} 2>&1"


rule leakage_table:
    """The leakage audit of every task in one CSV."""
    input:
        expand("results/datasets/{task}.leakage.json", task=sorted(config["tasks"])),
    output:
        "results/datasets/leakage.csv",
    params:
        reports=" ".join(shlex.quote(f"{t}=results/datasets/{t}.leakage.json") for t in sorted(config["tasks"])),
    log:
        "logs/datasets/leakage_table.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} leakage-table {params.reports} --out {output:q} > {log} 2>&1"
