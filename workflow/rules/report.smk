# Results tables (ours beside the paper's) and figures, all in the HTML report:
#   snakemake --report report.html


def table_rows(table):
    """Rows of the table spec; a row without an experiment is a published result only."""
    rows = []
    for row in config["tables"][table]["rows"]:
        files = ([metrics_path(row["experiment"], seed, row.get("split", "test"))
                  for seed in experiment_seeds(row["experiment"])]
                 if row.get("experiment") else [])
        rows.append({"label": row["label"], "paper": row.get("paper"), "metrics_files": files})
    return rows


def table_spec(w):
    t = config["tables"][w.table]
    spec = {"title": t["title"], "metrics": t["metrics"], "rows": table_rows(w.table)}
    return shlex.quote(json.dumps(spec))


def table_experiments(table):
    return [row["experiment"] for row in run_rows(table)]


def run_rows(table):
    """The rows that run an experiment (not the published-only ones)."""
    return [row for row in config["tables"][table]["rows"] if row.get("experiment")]


def row_predictions(row, seed=None):
    """The predictions of a row's run of `seed` (default: its experiment's first seed)."""
    seed = experiment_seeds(row["experiment"])[0] if seed is None else seed
    return predictions_path(row["experiment"], seed, row.get("split", "test"))


rule results_table:
    wildcard_constraints:
        table="|".join(re.escape(t) for t in sorted(config["tables"])) or "(?!)",  # deepsea.smk has its own
    input:
        lambda w: [f for row in table_rows(w.table) for f in row["metrics_files"]],
    output:
        csv=report("results/tables/{table}.csv", caption="../report/table.rst",
                   category="Results tables"),
        md="results/tables/{table}.md",
    params:
        spec=table_spec,
    log:
        "logs/report/table_{table}.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "{PY} table --spec {params.spec} --csv {output.csv:q} --md {output.md:q} > {log} 2>&1"


rule table_vs_paper_figure:
    input:
        "results/tables/{table}.csv",
    output:
        report("results/figures/{table}_vs_paper.png", caption="../report/paper_comparison.rst",
               category="Results tables"),
    params:
        title=lambda w: shlex.quote(table_config(w.table)["title"]),
        metrics=lambda w: ",".join(table_config(w.table)["metrics"]),
    log:
        "logs/report/vs_paper_{table}.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "{PY} plot vs-paper {input:q} --metrics {params.metrics} --title {params.title} "
        "--out {output:q} > {log} 2>&1"


rule table_roc_pr_figure:
    """ROC and PR curves of the table's experiments (first seed)."""
    input:
        lambda w: [row_predictions(row) for row in run_rows(w.table)],
    output:
        report("results/figures/{table}_roc_pr.png", caption="../report/roc_pr.rst",
               category="Results tables"),
    params:
        curves=lambda w: " ".join(
            shlex.quote(f"{row['label']}={row_predictions(row)}")
            for row in run_rows(w.table)),
        positive=lambda w: shlex.quote(
            config["tasks"][EXPERIMENTS[table_experiments(w.table)[0]]["task"]].get("positive", "")),
    log:
        "logs/report/roc_pr_{table}.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "{PY} plot roc-pr {params.curves} --positive {params.positive} --out {output:q} "
        "--title 'ROC and precision-recall, test split' > {log} 2>&1"


rule table_confusion_figure:
    """Confusion matrix of the table's last row (the full method), first seed."""
    input:
        lambda w: row_predictions(run_rows(w.table)[-1]),
    output:
        report("results/figures/{table}_confusion.png", caption="../report/confusion.rst",
               category="Results tables"),
    params:
        title=lambda w: shlex.quote(f"{run_rows(w.table)[-1]['label']}, "
                                    f"{run_rows(w.table)[-1].get('split', 'test')} split"),
    log:
        "logs/report/confusion_{table}.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "{PY} plot confusion {input:q} --title {params.title} --out {output:q} > {log} 2>&1"


def curve_series(exp):
    init = init_of(exp)
    if init == "naive":
        return "naive"
    kind, corpus = init.split("-", 1)
    return f"{'pre-trained + LM fine-tuned' if kind == 'finetuned' else 'pre-trained'} ({corpus})"


def curve_points(table):
    """SERIES=SIZE=METRICS_FILE per row and seed; SIZE 'all' = the whole training split."""
    return [f"{curve_series(EXPERIMENTS[row['experiment']])}="
            f"{EXPERIMENTS[row['experiment']].get('train_size') or 'all'}="
            f"{metrics_path(row['experiment'], seed, row.get('split', 'test'))}"
            for row in run_rows(table) for seed in experiment_seeds(row["experiment"])]


def curve_paper_points(table):
    """SERIES=SIZE=VALUE of every row with a published value of the curve's metric."""
    metric = config["tables"][table]["curve"].get("metric", "accuracy")
    return [f"{curve_series(EXPERIMENTS[row['experiment']])}="
            f"{EXPERIMENTS[row['experiment']].get('train_size') or 'all'}={row['paper'][metric]}"
            for row in run_rows(table) if (row.get("paper") or {}).get(metric) is not None]


rule train_size_curve_figure:
    """A metric against the number of labelled training examples (log axis), one line per
    initialisation (naive, pre-trained, ...): the paper's data-reduction curve."""
    input:
        metrics=lambda w: [p.split("=", 2)[2] for p in curve_points(w.table)],
        datasets=lambda w: sorted({dataset_path(EXPERIMENTS[e]["task"]) for e in table_experiments(w.table)}),
    output:
        report("results/figures/{table}_curve.png", caption="../report/paper_comparison.rst",
               category="Results tables"),
    params:
        points=lambda w: " ".join(shlex.quote(p) for p in curve_points(w.table)),
        paper=lambda w: " ".join(f"--paper {shlex.quote(p)}" for p in curve_paper_points(w.table)),
        metric=lambda w: config["tables"][w.table]["curve"].get("metric", "accuracy"),
        title=lambda w: shlex.quote(config["tables"][w.table]["title"]),
    log:
        "logs/report/curve_{table}.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "{PY} plot train-size-curve {params.points} {params.paper} --metrics {params.metric} "
        "--dataset {input.datasets[0]:q} --title {params.title} --out {output:q} > {log} 2>&1"


rule training_curves_figure:
    input:
        "results/models/{model_dir}/history.csv",
    output:
        report("results/models/{model_dir}/training_curves.png",
               caption="../report/classifier_curves.rst", category="Training curves",
               subcategory="{model_dir}"),
    log:
        "logs/report/curves/{model_dir}.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "{PY} plot training {input:q} --title {wildcards.model_dir:q} --out {output:q} > {log} 2>&1"


rule schedule_figure:
    input:
        "results/models/{model_dir}/schedule.csv",
    output:
        report("results/models/{model_dir}/schedule.png", caption="../report/schedule.rst",
               category="Training curves", subcategory="{model_dir}"),
    log:
        "logs/report/schedule/{model_dir}.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "{PY} plot schedule {input:q} --title {wildcards.model_dir:q} --out {output:q} > {log} 2>&1"


def lm_summaries():
    """{label: summary.json} of every general and fine-tuned LM."""
    out = {d.removeprefix("results/models/lm/"): f"{d}/summary.json" for d in general_lm_dirs()}
    out.update({label: f"{d}/summary.json" for label, d in finetuned_lm_dirs().items()})
    return out


rule lm_vs_prior_figure:
    """Each LM's validation loss next to the stride prior ln(4^s)."""
    input:
        lambda w: sorted(set(lm_summaries().values())),
    output:
        report("results/figures/lm_vs_prior.png", caption="../report/lm_vs_prior.rst",
               category="Language models"),
    params:
        summaries=" ".join(shlex.quote(f"{label}={path}") for label, path in lm_summaries().items()),
    log:
        "logs/report/lm_vs_prior.log",
    conda:
        "../../envs/report.yaml"
    shell:
        "{PY} plot lm-prior {params.summaries} --title 'Language models against the stride prior' "
        "--out {output:q} > {log} 2>&1"
