# Interpretation and genome scanning of experiments' classifiers (config `interpret:`, one
# spec or a list of them, one per classifier run; absent, nothing here runs): perturbation
# importance, JASPAR motifs in the important segments, a sliding-window scan of a genome
# (bedGraph + BED for IGV/UCSC) and its agreement with the annotated CDS starts, variant
# effects of a VCF, the k-mer embedding map. Every job takes the settings of the spec of its
# own classifier run (the RUN wildcards of its results/interpret/<run>/ path).

from genomic_ulmfit.config import ConfigError, interpret_specs  # noqa: E402

CLASSIFIER_MODEL = f"{CLASSIFIER_DIR}/model.pth"


def spec_seed(spec):
    """The classifier seed a spec interprets: its seed, else the experiment's first."""
    return spec["seed"] if spec.get("seed") is not None else experiment_seeds(spec["experiment"])[0]


def spec_run(spec):
    return run_id(spec["experiment"], spec_seed(spec))


def _specs_by_run():
    """Each spec's classifier run -> the spec (schema defaults filled in)."""
    by_run, keys = {}, {}
    for where, spec in interpret_specs(config):
        run = spec_run(spec)
        if run in by_run:
            raise ConfigError(f"invalid configuration:\n  config key {where}: {keys[run]} interprets the "
                              f"same classifier run {run}; give one spec per classifier run")
        by_run[run], keys[run] = spec, where
    return by_run


INTERPRET_SPECS = _specs_by_run()


def interpret_spec(w):
    """The spec of the job's classifier run (its RUN wildcards)."""
    run = RUN.format(**w)
    if run not in INTERPRET_SPECS:
        raise ValueError(f"results/interpret/{run}: no `interpret` spec interprets this classifier "
                         f"run; configured: {sorted(INTERPRET_SPECS)}")
    return INTERPRET_SPECS[run]


def interpret_section(w, name):
    """The section's settings of the job's spec (schema defaults filled in), {} when absent."""
    return interpret_spec(w).get(name) or {}


def interpret_dir(spec):
    return f"results/interpret/{spec_run(spec)}"


def positive_arg(w):
    pos = config["tasks"][w.task].get("positive")
    return f"--positive {shlex.quote(pos)}" if pos else ""


def anchor_arg(w):
    """--anchor: where the TSS / CDS start sits in the task's sequences."""
    anchor = interpret_section(w, "importance").get("anchor")
    if anchor is None:
        task = config["tasks"][w.task]
        if task["builder"] == "ecoli_genbank":
            anchor = 100  # -100/+50 around each CDS start
        elif task["builder"] == "tss_windows":
            anchor = task.get("params", {}).get("upstream", 500)
    return f"--anchor {anchor}" if anchor is not None else ""


def inference_args(w):
    return (f"{positive_arg(w)} --batch-size {interpret_spec(w).get('batch_size', 256)} "
            f"--device {config['device']} --threads {config['threads']}")


def importance_args(w):
    s = interpret_section(w, "importance")
    limit = f"--max-sequences {s['max_sequences']}" if s.get("max_sequences") else ""
    return (f"--split {s.get('split', 'test')} --window {s.get('window', 10)} --step {s.get('step', 5)} "
            f"--draws {s.get('draws', 8)} --n-examples {s.get('n_examples', 6)} --seed {s.get('seed', 0)} "
            f"{limit} {anchor_arg(w)}")


rule perturbation_importance:
    """Drop of P(positive) when random bases replace a sliding window, per held-out positive."""
    input:
        model=CLASSIFIER_MODEL,
        dataset="results/datasets/{task}.tsv",
    output:
        windows=INTERPRET_DIR + "/importance.windows.tsv",
        bases=INTERPRET_DIR + "/importance.bases.tsv",
        profile=INTERPRET_DIR + "/importance.profile.tsv",
        examples=report(INTERPRET_DIR + "/importance_examples.png", caption="../report/importance.rst",
                        category="Interpretation"),
        summary=report(INTERPRET_DIR + "/importance_profile.png", caption="../report/importance_profile.rst",
                       category="Interpretation"),
    params:
        settings=importance_args,
        inference=inference_args,
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"logs/interpret/{RUN}.importance.log",
    conda:
        "../../envs/interpret.yaml"
    shell:
        "{PY} importance --model {input.model:q} --k {wildcards.k} --stride {wildcards.stride} --dataset {input.dataset:q} {params.settings} "
        "{params.inference} --windows-out {output.windows:q} --bases-out {output.bases:q} "
        "--profile-out {output.profile:q} --examples-png {output.examples:q} "
        "--summary-png {output.summary:q} > {log} 2>&1"


def motif_args(w):
    s = interpret_section(w, "motifs")
    groups = f"--tax-groups {shlex.quote(','.join(s['tax_groups']))}" if s.get("tax_groups") else ""
    return (f"--per-sequence {s.get('per_sequence', 1)} --flank {s.get('flank', 10)} "
            f"--shuffles {s.get('shuffles', 10)} --seed {s.get('seed', 0)} "
            f"--min-rel-score {s.get('min_rel_score', 0.85)} --fdr {s.get('fdr', 0.05)} {groups}")


rule motif_enrichment:
    """JASPAR motifs in the highest-importance segments against dinucleotide shuffles."""
    input:
        windows=INTERPRET_DIR + "/importance.windows.tsv",
        dataset="results/datasets/{task}.tsv",
        jaspar=lambda w: download_path(interpret_section(w, "motifs")["jaspar"]),
    output:
        tsv=INTERPRET_DIR + "/motifs.tsv",
        md=report(INTERPRET_DIR + "/motifs.md", caption="../report/motifs.rst", category="Interpretation"),
        fasta=INTERPRET_DIR + "/motif_segments.fa",
    params:
        settings=motif_args,
    log:
        f"logs/interpret/{RUN}.motifs.log",
    conda:
        "../../envs/interpret.yaml"
    shell:
        "{PY} motifs --importance {input.windows:q} --dataset {input.dataset:q} --jaspar {input.jaspar:q} "
        "{params.settings} --out {output.tsv:q} --md {output.md:q} --fasta {output.fasta:q} > {log} 2>&1"


rule embedding_map:
    """t-SNE of the classifier's k-mer embeddings by GC content and sigma70 elements."""
    input:
        model=CLASSIFIER_MODEL,
    output:
        tsv=INTERPRET_DIR + "/embedding.tsv",
        png=report(INTERPRET_DIR + "/embedding.png", caption="../report/embedding.rst",
                   category="Interpretation"),
    params:
        perplexity=lambda w: interpret_section(w, "embedding").get("perplexity", 30),
        seed=lambda w: interpret_section(w, "embedding").get("seed", 0),
    log:
        f"logs/interpret/{RUN}.embedding.log",
    conda:
        "../../envs/interpret.yaml"
    shell:
        "{PY} embedding-map --model {input.model:q} --k {wildcards.k} --stride {wildcards.stride} --perplexity {params.perplexity} --seed {params.seed} "
        "--out {output.tsv:q} --png {output.png:q} > {log} 2>&1"


SCAN_DIR = INTERPRET_DIR + "/scan/{genome}"
SCAN_FILES = ("windows.tsv.gz", "bedgraph", "plus.bedgraph", "minus.bedgraph", "bw", "plus.bw",
              "minus.bw", "called.bed", "regions.bed", "summary.json")


def scan_window(w):
    """The scan's window length: `scan.window`, None = the classifier's training length."""
    return interpret_section(w, "scan").get("window")


def scan_window_arg(w, input):
    """--window N, else --dataset (the scan takes the training length from it)."""
    window = scan_window(w)
    return f"--window {window}" if window else f"--dataset {shlex.quote(input.dataset)}"


def scan_args(w):
    s = interpret_section(w, "scan")
    regions = " ".join(f"--region {shlex.quote(r)}" for r in s.get("regions") or [])
    return (f"--step {s.get('step', 10)} --threshold {s.get('threshold', 0.9)} "
            f"--strands {shlex.quote(s.get('strands', 'both'))} {regions}")


rule scan_genome:
    """Windows of the training length (or `window` bp) every `step` bp on both strands:
    bedGraph + called BED."""
    input:
        model=CLASSIFIER_MODEL,
        # the training length comes from it, unless scan.window is set
        dataset=lambda w: [] if scan_window(w) else f"results/datasets/{w.task}.tsv",
        genome="results/genomes/{genome}.fa",
        fai="results/genomes/{genome}.fa.fai",
    output:
        [SCAN_DIR + f"/scan.{f}" for f in SCAN_FILES],
    params:
        prefix=lambda w: SCAN_DIR.format(**w) + "/scan",
        window=scan_window_arg,
        settings=scan_args,
        inference=inference_args,
        name=lambda w: shlex.quote(f"{w.task} {w.init}"),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"logs/interpret/{RUN}.scan_{{genome}}.log",
    conda:
        "../../envs/interpret.yaml"
    shell:
        "{PY} scan --model {input.model:q} --k {wildcards.k} --stride {wildcards.stride} --genome {input.genome:q} {params.window} "
        "{params.settings} {params.inference} --track-name {params.name} "
        "--out-prefix {params.prefix:q} > {log} 2>&1"


def agreement_args(w):
    s = interpret_section(w, "scan")
    region = f"--figure-region {shlex.quote(s['figure_region'])}" if s.get("figure_region") else ""
    return (f"--distance {s.get('distance', 100)} --shuffles {s.get('shuffles', 10)} "
            f"--seed {s.get('seed', 0)} {'--any-strand' if s.get('any_strand') else ''} {region}")


rule scan_agreement:
    """Share of annotated CDS starts near a called region, against random placement; the
    figure of a 40 kb region with the CDS starts in red."""
    input:
        [SCAN_DIR + f"/scan.{f}" for f in SCAN_FILES],
        gbff=lambda w: download_path(interpret_section(w, "scan")["annotation"]),
        sizes="results/genomes/{genome}.fa.sizes",
    output:
        json=SCAN_DIR + "/agreement.json",
        starts=SCAN_DIR + "/cds_starts.bed",
        figure=report(SCAN_DIR + "/scan_region.png", caption="../report/scan_region.rst",
                      category="Genome scan"),
    params:
        prefix=lambda w: SCAN_DIR.format(**w) + "/scan",
        settings=agreement_args,
    log:
        f"logs/interpret/{RUN}.agreement_{{genome}}.log",
    conda:
        "../../envs/interpret.yaml"
    shell:
        "{PY} scan-agreement --scan-prefix {params.prefix:q} --gbff {input.gbff:q} --sizes {input.sizes:q} "
        "{params.settings} --out {output.json:q} --starts-out {output.starts:q} "
        "--figure {output.figure:q} > {log} 2>&1"


def agreement_reports():
    """Label -> agreement JSON of every spec's scan with an annotation. The label is
    "<experiment> on <genome>", plus the seed where specs interpret several seeds of one
    experiment."""
    specs = list(INTERPRET_SPECS.values())
    reports = {}
    for spec in specs:
        s = spec.get("scan") or {}
        if not s.get("annotation"):
            continue
        label = f"{spec['experiment']} on {s['genome']}"
        if sum(o["experiment"] == spec["experiment"] for o in specs) > 1:
            label += f" (seed {spec_seed(spec)})"
        reports[label] = f"{interpret_dir(spec)}/scan/{s['genome']}/agreement.json"
    return reports


rule scan_agreement_table:
    """The agreement of every spec's scan with its annotation, one line each."""
    input:
        lambda w: list(agreement_reports().values()),
    output:
        csv=report("results/interpret/scan_agreement.csv", caption="../report/scan_agreement.rst",
                   category="Genome scan"),
        md="results/interpret/scan_agreement.md",
    params:
        reports=lambda w: " ".join(shlex.quote(f"{k}={v}") for k, v in agreement_reports().items()),
    log:
        "logs/interpret/scan_agreement_table.log",
    conda:
        "../../envs/interpret.yaml"
    shell:
        "{PY} scan-table {params.reports} --csv {output.csv:q} --md {output.md:q} > {log} 2>&1"


rule variant_effects:
    """VCF SNVs and indels: P(positive) of alternate minus reference windows centred on each."""
    input:
        model=CLASSIFIER_MODEL,
        dataset="results/datasets/{task}.tsv",
        genome="results/genomes/{genome}.fa",
        fai="results/genomes/{genome}.fa.fai",
        vcf=lambda w: download_path(w.vcf),
    output:
        tsv=INTERPRET_DIR + "/variants/{genome}/{vcf}.tsv",
        vcf=INTERPRET_DIR + "/variants/{genome}/{vcf}.vcf",
        png=report(INTERPRET_DIR + "/variants/{genome}/{vcf}.png", caption="../report/variants.rst",
                   category="Interpretation"),
    params:
        top=lambda w: interpret_section(w, "variants").get("top", 20),
        inference=inference_args,
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        f"logs/interpret/{RUN}.variants_{{genome}}_{{vcf}}.log",
    conda:
        "../../envs/interpret.yaml"
    shell:
        "{PY} variants --model {input.model:q} --k {wildcards.k} --stride {wildcards.stride} --genome {input.genome:q} --vcf {input.vcf:q} "
        "--dataset {input.dataset:q} {params.inference} --top {params.top} --out {output.tsv:q} "
        "--vcf-out {output.vcf:q} --plot {output.png:q} > {log} 2>&1"


def interpret_targets():
    """What `interpret:` asks for, every spec's (nothing when it is absent)."""
    targets = []
    for spec in INTERPRET_SPECS.values():
        d = interpret_dir(spec)
        if "importance" in spec or "motifs" in spec:
            targets += [f"{d}/importance_examples.png", f"{d}/importance_profile.png"]
        if "motifs" in spec:
            targets.append(f"{d}/motifs.md")
        if "embedding" in spec:
            targets.append(f"{d}/embedding.png")
        if "scan" in spec:
            s = spec["scan"]
            targets.append(f"{d}/scan/{s['genome']}/scan.called.bed")
            if s.get("annotation"):
                targets.append(f"{d}/scan/{s['genome']}/scan_region.png")
                if "results/interpret/scan_agreement.md" not in targets:  # one table of all scans
                    targets.append("results/interpret/scan_agreement.md")
        if "variants" in spec:
            v = spec["variants"]
            targets.append(f"{d}/variants/{v['genome']}/{v['vcf']}.vcf")
    return targets
