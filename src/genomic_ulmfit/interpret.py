"""What a classifier looks at: perturbation importance, k-mer embedding maps, and the
figures of the interpretation and scanning rules.

Perturbation importance (the seed's "Interpreting Results"): a window of `window`
bases slides along a sequence every `step` bases; at each place it is replaced by
uniformly random bases `draws` times, and the importance of the place is the drop
of P(positive class) from the intact sequence's to the mean over the draws. Every
perturbed copy of every sequence goes through the model in batches (all have the
sequence's length). A base's importance is the mean drop of the windows covering it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .kmers import BASES, encode_bases
from .logs import progress
from .scan import WindowClassifier, tokens_2d

logger = logging.getLogger(__name__)

PROMOTER_ELEMENTS = {"-10 box (TATAAT)": "TATAAT", "-35 box (TTGACA)": "TTGACA"}


def window_starts(length: int, window: int, step: int) -> np.ndarray:
    """Starts every `step` bases, plus a last one flush with the end so every base is covered."""
    if not 1 <= window <= length:
        raise ValueError(f"perturbation window {window} bp does not fit a {length} bp sequence")
    starts = list(range(0, length - window + 1, step))
    if starts[-1] != length - window:
        starts.append(length - window)
    return np.array(starts)


def perturbation_importance(clf: WindowClassifier, ids: list[str], sequences: list[str],
                            window: int = 10, step: int = 5, draws: int = 8, seed: int = 0,
                            batch_size: int | None = None) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Per sequence and window place: P(intact), mean P(perturbed), drop = P(intact) - mean
    P(perturbed) and its SD over the draws; and each sequence's per-base importance."""
    rng = np.random.default_rng(seed)
    rows, per_base = [], []
    for sid, seq in progress(list(zip(ids, sequences)), desc="perturbation", unit="sequence"):
        codes = encode_bases(seq, sid)
        starts = window_starts(len(codes), window, step)
        variants = np.repeat(codes[None, :], 1 + len(starts) * draws, axis=0)
        random_bases = rng.integers(0, 4, size=(len(starts) * draws, window), dtype=np.uint8)
        cols = starts.repeat(draws)[:, None] + np.arange(window)[None, :]
        variants[1 + np.arange(len(cols))[:, None], cols] = random_bases
        probs = clf.probabilities(tokens_2d(variants, clf.k, clf.stride), batch_size)
        p0, perturbed = probs[0], probs[1:].reshape(len(starts), draws)
        drops = p0 - perturbed
        for s, d, pp in zip(starts, drops, perturbed):
            rows.append({"id": sid, "window_start": int(s), "window_end": int(s + window),
                         "p_original": float(p0), "p_perturbed": float(pp.mean()),
                         "drop": float(d.mean()), "drop_sd": float(d.std())})
        total, count = np.zeros(len(codes)), np.zeros(len(codes))
        for s, d in zip(starts, drops.mean(axis=1)):
            total[s:s + window] += d
            count[s:s + window] += 1
        per_base.append(total / count)
    return pd.DataFrame(rows), per_base


def importance_main(model: Path, dataset: Path, out_windows: Path, out_bases: Path,
                    out_profile: Path, examples_png: Path, summary_png: Path,
                    split: str = "test", label: str | None = None, ids: list[str] | None = None,
                    max_sequences: int | None = None, window: int = 10, step: int = 5,
                    draws: int = 8, seed: int = 0, anchor: int | None = None, n_examples: int = 6,
                    batch_size: int = 256, device: str = "cpu", positive: str | None = None,
                    title: str = "") -> pd.DataFrame:
    """Importance of the chosen sequences (default: every positive of the split), their
    per-base tracks, the mean profile by position relative to `anchor`, and two figures."""
    from .data import read_dataset
    clf = WindowClassifier(model, device, batch_size, positive)
    df = read_dataset(dataset)
    if ids:
        chosen = df.set_index("id").loc[ids].reset_index()
    else:
        chosen = df[(df["split"] == split) & (df["label"] == (label or clf.positive))]
        if chosen.empty:
            raise ValueError(f"{dataset}: no sequence of split {split!r} with label {label or clf.positive!r}")
        if max_sequences:
            chosen = chosen.sample(n=min(max_sequences, len(chosen)), random_state=seed).sort_index()
    windows, per_base = perturbation_importance(clf, chosen["id"].tolist(), chosen["sequence"].tolist(),
                                                window, step, draws, seed)
    windows.insert(1, "label", windows["id"].map(dict(zip(chosen["id"], chosen["label"]))))
    offset = anchor or 0  # the TSS / CDS start's 0-based position in every sequence
    bases = pd.concat([pd.DataFrame({"id": sid, "position": np.arange(len(imp)),
                                     "relative_position": np.arange(len(imp)) - offset,
                                     "importance": imp})
                       for sid, imp in zip(chosen["id"], per_base)], ignore_index=True)
    profile = (bases.groupby("relative_position")["importance"]
               .agg(mean="mean", sd="std", n="count").reset_index())
    profile["sem"] = profile["sd"] / np.sqrt(profile["n"])
    for path in (out_windows, out_bases, out_profile):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    windows.to_csv(out_windows, sep="\t", index=False, float_format="%.5f")
    bases.to_csv(out_bases, sep="\t", index=False, float_format="%.5f")
    profile.to_csv(out_profile, sep="\t", index=False, float_format="%.5f")
    top = windows.groupby("id")["p_original"].first().sort_values(ascending=False).index[:n_examples]
    plot_importance_examples(bases, windows, list(top), anchor is not None, examples_png,
                             clf.positive, window, title)
    plot_importance_profile(profile, summary_png, clf.positive, len(chosen), window, draws,
                            anchor is not None, title)
    logger.info("importance of %d sequence(s): %d window places x %d draws each", len(chosen),
                len(windows) // max(1, len(chosen)), draws)
    return windows


# -- embedding map -----------------------------------------------------------------------------

def kmer_embedding_map(model: Path, out_tsv: Path, out_png: Path, perplexity: float = 30.0,
                       seed: int = 0, title: str = "") -> pd.DataFrame:
    """2-D t-SNE of the k-mer rows of a checkpoint's embedding (classifier or LM), with
    each k-mer's GC content and whether it is part of a sigma70 promoter element."""
    from sklearn.manifold import TSNE
    from .checkpoint import checkpoint_tokenizer, load_checkpoint
    meta, state = load_checkpoint(model)
    key = "0.module.encoder.weight" if meta["kind"] == "classifier" else "0.encoder.weight"
    tok = checkpoint_tokenizer(meta)
    # the 4^k k-mers: without xxunk and xxpad, nor the rows padding the table to a multiple of 8
    emb = state[key].float().numpy()[2:tok.vocab_size]
    kmers = tok.vocab[2:]
    perp = min(perplexity, max(2.0, (len(kmers) - 1) / 3))
    xy = TSNE(n_components=2, perplexity=perp, random_state=seed, init="pca",
              learning_rate="auto").fit_transform(emb)
    out = pd.DataFrame({"kmer": kmers, "x": xy[:, 0], "y": xy[:, 1],
                        "gc": [(m.count("G") + m.count("C")) / len(m) for m in kmers],
                        "element": [promoter_element(m) for m in kmers]})
    Path(out_tsv).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(out_tsv, sep="\t", index=False, float_format="%.4f")
    plot_embedding_map(out, out_png, tok.k, perp, title)
    return out


def promoter_element(kmer: str) -> str:
    """The sigma70 element a k-mer is part of (k <= 6: a substring of it; k > 6: holds it)."""
    for name, element in PROMOTER_ELEMENTS.items():
        if (kmer in element) if len(kmer) <= len(element) else (element in kmer):
            return name
    return "other"


# -- figures -----------------------------------------------------------------------------------

def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    fig.clf()
    _plt().close(fig)


def plot_importance_examples(bases: pd.DataFrame, windows: pd.DataFrame, ids: list[str],
                             mark: bool, path: Path, positive: str, window: int, title: str = "") -> None:
    """Importance along each example sequence; the TSS / CDS start (relative position 0) in red."""
    plt = _plt()
    n = max(1, len(ids))
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.9 * n + 0.6), sharex=True, squeeze=False)
    for ax, sid in zip(axes[:, 0], ids):
        b = bases[bases["id"] == sid]
        ax.fill_between(b["relative_position"], 0, b["importance"], step="mid", color="#1f77b4", alpha=0.7)
        ax.axhline(0, color="grey", lw=0.6)
        if mark:
            ax.axvline(0, color="red", lw=1.5, label="TSS / CDS start")
        p0 = windows.loc[windows["id"] == sid, "p_original"].iloc[0]
        ax.set_title(f"{sid}  (P({positive}) = {p0:.3f})", fontsize=9, loc="left")
        ax.set_ylabel("drop in P")
    axes[-1, 0].set_xlabel("position relative to the TSS / CDS start (bp)" if mark else "position (bp)")
    if mark:
        axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle(title or f"Perturbation importance ({window} bp random-base windows)", fontsize=10)
    _save(fig, path)


def plot_importance_profile(profile: pd.DataFrame, path: Path, positive: str, n: int, window: int,
                            draws: int, mark: bool = True, title: str = "") -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    x, m, se = profile["relative_position"], profile["mean"], profile["sem"].fillna(0)
    ax.plot(x, m, color="#1f77b4", lw=1.5, label=f"mean over {n} sequences")
    ax.fill_between(x, m - 1.96 * se, m + 1.96 * se, color="#1f77b4", alpha=0.25, label="95% CI of the mean")
    if mark:
        ax.axvline(0, color="red", lw=1.5, label="TSS / CDS start")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set(xlabel="position relative to the TSS / CDS start (bp)" if mark else "position (bp)",
           ylabel=f"mean drop in P({positive})",
           title=title or f"Mean perturbation importance ({window} bp windows, {draws} draws)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_scan_region(windows: pd.DataFrame, starts: pd.DataFrame, chrom: str, lo: int, hi: int,
                     threshold: float, path: Path, positive: str, title: str = "") -> None:
    """P(positive) along a genome region, one panel per strand, the annotated starts of that
    strand in red, the calling threshold dashed."""
    plt = _plt()
    fig, axes = plt.subplots(2, 1, figsize=(12, 5), sharex=True)
    for ax, strand, word in zip(axes, ("+", "-"), ("plus", "minus")):
        w = windows[(windows["chrom"] == chrom) & (windows["strand"] == strand)
                    & (windows["start"] >= lo) & (windows["end"] <= hi)]
        centre = (w["start"] + w["end"]) / 2
        s = starts[(starts["chrom"] == chrom) & (starts["strand"] == strand)
                   & (starts["start"] >= lo) & (starts["start"] < hi)]
        for i, pos in enumerate(s["start"]):
            ax.axvline(pos, color="red", lw=0.8, alpha=0.8, label="annotated CDS start" if i == 0 else None)
        ax.plot(centre, w["prob"], color="#1f77b4", lw=0.7, label=f"P({positive}), window centre")
        ax.axhline(threshold, color="black", ls="--", lw=0.8, label=f"threshold {threshold}")
        ax.set(ylim=(0, 1.02), ylabel=f"P({positive}), {word} strand")
    axes[0].legend(loc="upper right", fontsize=8, ncol=3)
    axes[1].set_xlabel(f"{chrom} position (bp)")
    axes[1].set_xlim(lo, hi)
    fig.suptitle(title or f"Scan of {chrom}:{lo + 1}-{hi}", fontsize=10)
    _save(fig, path)


def plot_variant_effects(scores: pd.DataFrame, path: Path, top: int, positive: str) -> None:
    plt = _plt()
    s = scores.dropna(subset=["delta"])
    s = s.reindex(s["delta"].abs().sort_values(ascending=False).index)[:top]
    fig, ax = plt.subplots(figsize=(8, 0.32 * max(len(s), 3) + 1.2))
    labels = [f"{r.chrom}:{r.pos} {r.ref}>{r.alt}"[:40] for r in s.itertuples()]
    colors = ["#d62728" if d < 0 else "#2ca02c" for d in s["delta"]]
    ax.barh(range(len(s)), s["delta"], color=colors)
    ax.set_yticks(range(len(s)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.6)
    ax.set(xlabel=f"change in P({positive}) (alt - ref, both strands averaged)",
           title=f"The {len(s)} strongest variant effects")
    _save(fig, path)


def plot_embedding_map(df: pd.DataFrame, path: Path, k: int, perplexity: float, title: str = "") -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    sc = axes[0].scatter(df["x"], df["y"], c=df["gc"], cmap="viridis", s=9, vmin=0, vmax=1)
    fig.colorbar(sc, ax=axes[0], label="GC content")
    axes[0].set_title("coloured by GC content")
    colours = {"other": "#cccccc", "-10 box (TATAAT)": "#d62728", "-35 box (TTGACA)": "#1f77b4"}
    for name, colour in colours.items():
        part = df[df["element"] == name]
        axes[1].scatter(part["x"], part["y"], c=colour, s=9 if name == "other" else 28,
                        label=f"{name} ({len(part)})", zorder=1 if name == "other" else 2)
    for r in df[df["element"] != "other"].itertuples():
        axes[1].annotate(r.kmer, (r.x, r.y), fontsize=6)
    axes[1].legend(fontsize=8)
    axes[1].set_title("k-mers of the sigma70 promoter elements")
    for ax in axes:
        ax.set(xlabel="t-SNE 1", ylabel="t-SNE 2")
    fig.suptitle(title or f"t-SNE of the learned {k}-mer embeddings (perplexity {perplexity:g})", fontsize=10)
    _save(fig, path)
