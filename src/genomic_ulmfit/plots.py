"""Figures (seaborn/matplotlib, written headless)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import matplotlib.transforms  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")


def _wrap(title: str, width: int = 60) -> str:
    """Long titles (model paths) on several lines rather than clipped."""
    return textwrap.fill(title.replace("/", " / "), width)


def _save(fig, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_lr_finder(curve: pd.DataFrame, suggestions: dict, path: Path) -> None:
    """Loss against learning rate (log axis) with the finder's suggestions marked."""
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(data=curve, x="lr", y="loss", ax=ax)
    ax.set_xscale("log")
    for (name, lr), color in zip(suggestions.items(), sns.color_palette("Set1")):
        ax.axvline(lr, color=color, ls="--", label=f"{name}: {lr:.2e}")
    ax.set(xlabel="learning rate", ylabel="loss (smoothed)", title="LR finder")
    ax.legend()
    _save(fig, path)


# -- helpers -----------------------------------------------------------------------------------

def _stage_blocks(stages: pd.Series) -> list[tuple[str, int, int]]:
    """(stage, first row, one past last row) of each contiguous run of one stage."""
    blocks: list[tuple[str, int, int]] = []
    values = stages.astype(str).tolist()
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            blocks.append((values[start], start, i))
            start = i
    return blocks


def _mark_stages(axes, blocks: list[tuple[str, float, float]], label_ax=None) -> None:
    """Dashed lines between stages on every panel; stage names along the top of `label_ax`."""
    for ax in axes:
        for _, x0, _ in blocks[1:]:
            ax.axvline(x0, color="0.4", ls="--", lw=1)
    if label_ax is None:
        return
    trans = matplotlib.transforms.blended_transform_factory(label_ax.transData, label_ax.transAxes)
    for name, x0, x1 in blocks:
        label_ax.text((x0 + x1) / 2, 1.01, name, transform=trans, ha="center", va="bottom",
                      fontsize=9, color="0.25")


def _read_csv(path: Path, required: tuple[str, ...], what: str, **kwargs) -> pd.DataFrame:
    df = pd.read_csv(path, **kwargs)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: {what} lacks column(s) {missing} (has {list(df.columns)})")
    if df.empty:
        raise ValueError(f"{path}: {what} has no rows")
    return df


def _has_values(df: pd.DataFrame, column: str) -> bool:
    return column in df.columns and bool(pd.to_numeric(df[column], errors="coerce").notna().any())


def _thin(df: pd.DataFrame, max_points: int = 20_000) -> pd.DataFrame:
    """Every k-th row, so very long schedules still plot quickly (the shape is unchanged)."""
    step = max(1, len(df) // max_points)
    return df.iloc[::step] if step > 1 else df


def _classes(pred: pd.DataFrame) -> list[str]:
    return [c[len("prob_"):] for c in pred.columns if c.startswith("prob_")]


def _read_predictions(path: Path) -> pd.DataFrame:
    pred = _read_csv(path, ("label", "prediction"), "predictions table",
                     dtype={"id": str, "label": str, "prediction": str})
    if not _classes(pred):
        raise ValueError(f"{path}: predictions table has no prob_<class> columns")
    return pred


# -- training ----------------------------------------------------------------------------------

def plot_training_curves(history_csv: Path, path: Path, title: str) -> None:
    """Train and valid loss per epoch, running across stages (dashed lines between
    stages, stage names on top), and accuracy on a second panel when recorded."""
    hist = _read_csv(history_csv, ("stage", "train_loss", "valid_loss"), "training history")
    hist = hist.reset_index(drop=True)
    x = pd.Series(range(1, len(hist) + 1), dtype=float)
    with_acc = _has_values(hist, "accuracy")
    fig, axes = plt.subplots(2 if with_acc else 1, 1, figsize=(7, 6.5 if with_acc else 4),
                             sharex=True, squeeze=False)
    axes = axes[:, 0]
    palette = sns.color_palette()
    axes[0].plot(x, hist["train_loss"], "o-", color=palette[0], ms=4, label="train loss")
    axes[0].plot(x, hist["valid_loss"], "s-", color=palette[1], ms=4, label="valid loss")
    axes[0].set(ylabel="cross-entropy loss")
    axes[0].legend(loc="best")
    if with_acc:
        axes[1].plot(x, hist["accuracy"], "o-", color=palette[2], ms=4, label="valid accuracy")
        axes[1].set(ylabel="validation accuracy")
    axes[-1].set(xlabel="epoch (counted across stages)")
    if len(hist) <= 30:
        axes[-1].set_xticks(x)
    blocks = [(name, a + 0.5, b + 0.5) for name, a, b in _stage_blocks(hist["stage"])]
    _mark_stages(axes, blocks, label_ax=axes[0])
    fig.suptitle(_wrap(title))
    _save(fig, path)


def plot_schedule(schedule_csv: Path, path: Path, title: str) -> None:
    """The one-cycle learning rate and momentum per iteration (two panels), stage
    boundaries marked."""
    sched = _read_csv(schedule_csv, ("stage", "iteration", "lr", "mom"), "schedule")
    sched = sched.sort_values("iteration", kind="stable").reset_index(drop=True)
    blocks = [(name, float(sched["iteration"].iloc[a]), float(sched["iteration"].iloc[b - 1]) + 1)
              for name, a, b in _stage_blocks(sched["stage"])]
    shown = _thin(sched)
    fig, (ax_lr, ax_mom) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    palette = sns.color_palette()
    ax_lr.plot(shown["iteration"], shown["lr"], color=palette[0])
    ax_lr.set(ylabel="learning rate")
    ax_lr.yaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.1e}" if v else "0"))
    ax_mom.plot(shown["iteration"], shown["mom"], color=palette[3])
    ax_mom.set(ylabel="momentum (Adam β1)", xlabel="iteration (counted across stages)")
    _mark_stages((ax_lr, ax_mom), blocks, label_ax=ax_lr)
    fig.suptitle(_wrap(title))
    _save(fig, path)


# -- classifier evaluation ---------------------------------------------------------------------

def plot_confusion(predictions_csv: Path, path: Path, title: str) -> None:
    """Confusion matrix (true rows, predicted columns) in the prob_ columns' class order:
    counts, with each row's share in brackets; colour = share of the true class."""
    from sklearn.metrics import confusion_matrix

    pred = _read_predictions(predictions_csv)
    classes = _classes(pred)
    cm = confusion_matrix(pred["label"], pred["prediction"], labels=classes)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    annot = np.array([[f"{cm[i, j]}\n({share[i, j]:.0%})" for j in range(len(classes))]
                      for i in range(len(classes))])
    size = 2.2 + 1.1 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    sns.heatmap(share, annot=annot, fmt="", cmap="Blues", vmin=0, vmax=1, square=True,
                xticklabels=classes, yticklabels=classes, cbar_kws={"label": "share of true class"},
                linewidths=0.5, linecolor="white", ax=ax)
    ax.set(xlabel="predicted", ylabel="true")
    ax.tick_params(axis="y", rotation=0)
    n = int(cm.sum())
    accuracy = np.trace(cm) / n if n else float("nan")
    ax.set_title(f"{title}\nn = {n}, accuracy = {accuracy:.3f}")
    _save(fig, path)


def plot_roc_pr(curves: dict[str, Path], positive: str | None, path: Path,
                title: str) -> dict[str, dict[str, float]]:
    """ROC and precision-recall curves of several experiments (label -> predictions CSV),
    AUCs in the legends. Returns {label: {"roc_auc": ..., "pr_auc": ...}} (PR-AUC =
    average precision, as in the metrics JSON). `positive`: the positive class (None:
    the conventional one, as metrics.positive_class picks)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    from .metrics import positive_class

    if not curves:
        raise ValueError("plot_roc_pr: no predictions given")
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(11, 4.8))
    aucs: dict[str, dict[str, float]] = {}
    prevalences, positives = [], set()
    for (label, csv), color in zip(curves.items(), sns.color_palette(n_colors=max(len(curves), 1))):
        pred = _read_predictions(csv)
        classes = _classes(pred)
        try:
            pos = positive_class(classes, positive)
        except ValueError as err:
            raise ValueError(f"{csv}: {err}") from None
        y = (pred["label"] == pos).astype(int).to_numpy()
        if y.min() == y.max():
            raise ValueError(f"{csv}: ROC/PR need both classes among the labels, only "
                             f"{'positives' if y.max() else 'negatives'} ({pos!r})")
        score = pred[f"prob_{pos}"].to_numpy(dtype=float)
        roc_auc, pr_auc = roc_auc_score(y, score), average_precision_score(y, score)
        aucs[label] = {"roc_auc": float(roc_auc), "pr_auc": float(pr_auc)}
        fpr, tpr, _ = roc_curve(y, score)
        precision, recall, _ = precision_recall_curve(y, score)
        ax_roc.plot(fpr, tpr, color=color, label=f"{label} (AUC = {roc_auc:.3f})")
        ax_pr.step(recall, precision, where="post", color=color, label=f"{label} (AP = {pr_auc:.3f})")
        prevalences.append(y.mean())
        positives.add(pos)
    ax_roc.plot([0, 1], [0, 1], ls=":", color="0.5", label="chance")
    if np.allclose(prevalences, prevalences[0]):
        ax_pr.axhline(prevalences[0], ls=":", color="0.5", label=f"chance ({prevalences[0]:.2f})")
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate (recall)",
               title="ROC", xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall",
              xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
    ax_roc.legend(loc="lower right", fontsize=9)
    ax_pr.legend(loc="lower left", fontsize=9)
    fig.suptitle(f"{title} (positive class: {', '.join(sorted(positives))})")
    _save(fig, path)
    return aucs


# -- comparisons -------------------------------------------------------------------------------

def plot_metrics_vs_paper(table: pd.DataFrame, metrics: list[str], path: Path, title: str) -> None:
    """One panel per metric: for each model a bar of ours (mean, SD error bar when there
    are several seeds) beside the paper's value where it has one. `table` is
    report.results_table's."""
    from .report import metric_name

    n = len(metrics)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    height = 0.75 + 0.55 * len(table)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 1.8, height * nrows + 1.2),
                             sharey=True, squeeze=False)
    y = np.arange(len(table))
    bar = 0.38
    colors = {"ours": sns.color_palette()[0], "paper": sns.color_palette()[7]}
    for ax, m in zip(axes.flat, metrics):
        ours = table[f"{m}_mean"].to_numpy(dtype=float)
        sd = table[f"{m}_sd"].to_numpy(dtype=float)
        sd = np.where((table["n_seeds"].to_numpy() > 1) & np.isfinite(sd), sd, 0.0)
        paper = table[f"{m}_paper"].to_numpy(dtype=float)
        ax.barh(y - bar / 2, np.nan_to_num(ours), bar, xerr=sd, color=colors["ours"],
                label="ours", error_kw={"capsize": 3, "elinewidth": 1})
        ax.barh(y + bar / 2, np.nan_to_num(paper), bar, color=colors["paper"], label="paper")
        for yy, value, offset in [(yi - bar / 2, v, s) for yi, v, s in zip(y, ours, sd)] + \
                                 [(yi + bar / 2, v, 0.0) for yi, v in zip(y, paper)]:
            if np.isfinite(value):
                ax.text(max(value, 0) + offset + 0.015, yy, f"{value:.3f}", va="center", fontsize=8)
            else:
                ax.text(0.015, yy, "not reported", va="center", fontsize=7, color="0.45",
                        style="italic")
        low = min(0.0, np.nanmin(np.concatenate([ours - sd, paper, [0.0]])))
        ax.set_xlim(low, 1.18)
        ax.set_title(metric_name(m))
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    axes[0, 0].set_yticks(y, table["label"].astype(str))
    axes[0, 0].invert_yaxis()
    handles, _ = axes[0, 0].get_legend_handles_labels()
    axes[0, ncols - 1].legend(handles, ["ours\n(mean ± SD\nover seeds)", "paper"],
                              loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle(_wrap(title))
    _save(fig, path)


def plot_lm_vs_prior(summaries: dict[str, Path], path: Path, title: str) -> None:
    """Each language model's validation loss beside its stride prior ln(4^s) (the loss of
    guessing uniformly among the 4^s k-mers a stride s allows) and, where the summary has
    it, the k-mer Markov baseline (what counting k-mer transitions achieves)."""
    import json

    if not summaries:
        raise ValueError("plot_lm_vs_prior: no LM summaries given")
    rows = []
    for label, p in summaries.items():
        s = json.loads(Path(p).read_text())
        for key in ("valid_loss", "stride_prior_loss"):
            if s.get(key) is None:
                raise KeyError(f"{p}: LM summary lacks {key!r}")
        markov = s.get("markov_baseline_loss")
        rows.append((label, float(s["valid_loss"]), float(s["stride_prior_loss"]),
                     float(markov) if markov is not None else np.nan))
    # Plotted as gains over the prior: the losses differ by hundredths of a nat.
    x = np.arange(len(rows))
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(5.0, 1.9 * len(rows) + 2.5), 4.5))
    palette = sns.color_palette()
    lm_gain = [prior - valid for _, valid, prior, _ in rows]
    markov_gain = [prior - markov for _, _, prior, markov in rows]
    ax.bar(x - width / 2, lm_gain, width, color=palette[0], label="language model")
    ax.bar(x + width / 2, markov_gain, width, color=palette[1],
           label="k-mer Markov baseline\n(transition counts)")
    ax.axhline(0, color="0.3", lw=1)
    for xi, (_, valid, prior, markov), gain in zip(x, rows, lm_gain):
        note = f"loss {valid:.3f}\nprior {prior:.3f}" + ("" if np.isnan(markov) else f"\nMarkov {markov:.3f}")
        ax.text(xi, max(gain, 0) + 0.005, note, ha="center", va="bottom", fontsize=8)
    top = max(0.05, np.nanmax([lm_gain, markov_gain]))
    ax.set_ylim(min(0, np.nanmin([lm_gain, markov_gain]) * 1.2), top * 1.6)
    ax.set_xticks(x, [textwrap.fill(str(r[0]), 18) for r in rows])
    ax.set(ylabel="gain over the stride prior $\\ln 4^s$\n(nats per token)", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    _save(fig, path)


def plot_train_size_curve(points: list[tuple[str, int, Path]], metric: str, path: Path,
                          title: str, paper: list[tuple[str, int, float]] | None = None) -> pd.DataFrame:
    """`metric` against the number of labelled training examples (log x axis), one line per
    series (naive, pre-trained, ...) with mean ± SD over the metrics files (seeds) of each
    point. `points`: (series, training-set size, metrics JSON); `paper`: (series, size,
    published value), drawn dashed with open markers beside ours. Returns the plotted table."""
    from .report import load_metrics, metric_name, metric_value

    if not points:
        raise ValueError("plot_train_size_curve: no points given")
    rows = [(series, int(size), metric_value(load_metrics(f), metric, f)) for series, size, f in points]
    df = (pd.DataFrame(rows, columns=["series", "train_size", "value"])
          .groupby(["series", "train_size"], sort=False)["value"].agg(["mean", "std", "count"])
          .reset_index())
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for series, part in df.groupby("series", sort=False):
        part = part.sort_values("train_size")
        line = ax.errorbar(part["train_size"], part["mean"], yerr=part["std"].fillna(0.0), marker="o",
                           capsize=3, label=series)
        published = sorted((n, v) for s, n, v in paper or [] if s == series)
        if published:
            ax.plot(*zip(*published), linestyle="--", marker="o", markerfacecolor="none",
                    color=line[0].get_color(), label=f"{series}: paper")
    ax.set_xscale("log")
    sizes = sorted(set(df["train_size"]) | {n for _, n, _ in paper or []})
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])  # the sizes themselves, not powers of ten
    ax.minorticks_off()
    ax.set_xlabel("labelled training examples (log scale)")
    ax.set_ylabel(f"{metric_name(metric)}, test split")
    ax.legend(frameon=False)
    ax.set_title(_wrap(title))
    _save(fig, path)
    return df
