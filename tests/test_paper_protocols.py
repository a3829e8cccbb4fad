"""config/paper.yaml against the protocol document ../shared/docs/paper-protocols.md.

The document records, for every results table of the paper, the values the original
notebooks printed and whether each row fine-tuned the language model on the task. These
tests parse its markdown tables (no published number is written here) and check that:

1. every published value of a mapped row is the `paper` value of the matching paper.yaml
   row (same experiment and split), and that the table shows that metric;
2. every mapped experiment's `finetune` flag is what the document says;
3. the parser found the expected number of rows in each section, so a reformatted
   document fails loudly instead of passing vacuously.

The document sits beside the shared data folder (`<shared>/docs` next to `<shared>/data`,
see conftest.py and $GULMFIT_SHARED_DATA); the tests skip when it is absent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from conftest import SHARED_DATA_ENV, shared_data_dir

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "config" / "paper.yaml"
DOC_NAME = "paper-protocols.md"

# (document section, row key as parsed below) -> (paper.yaml experiment, split).
# Row keys: §1/§2/§3 the "row" cell without its "(...)" note; §1b the train n; §4 the
# organism; §5 the notebook number; §6 "<notebook number> <species>"; §7 the test set.
DOC_ROWS: dict[tuple[str, str], tuple[str, str]] = {
    ("1", "Naive"): ("ecoli_naive", "test"),
    ("1", "E. coli genome pretraining"): ("ecoli_genome_pretraining", "test"),
    ("1", "Ensemble pretraining"): ("ecoli_ensemble_pretraining", "test"),
    ("1b", "3000"): ("ecoli_ensemble_n3000", "test"),
    ("1b", "1000"): ("ecoli_ensemble_n1000", "test"),
    ("1b", "500"): ("ecoli_ensemble_n500", "test"),
    ("1b", "200"): ("ecoli_ensemble_n200", "test"),
    ("1b", "100"): ("ecoli_ensemble_n100", "test"),
    ("1b", "50"): ("ecoli_ensemble_n50", "test"),
    ("1b", "20"): ("ecoli_ensemble_n20", "test"),
    ("2", "Naive 5/2"): ("short_naive", "test"),
    ("2", "Pretraining 5/2"): ("short_pretraining", "test"),
    ("2", "FT 5/2"): ("short_finetuning_k5s2", "test"),
    ("2", "FT 5/1"): ("short_finetuning_k5s1", "test"),
    ("2", "FT 3/1"): ("short_finetuning_k3s1", "test"),
    ("3", "Naive 5/2"): ("long_naive", "test"),
    ("3", "Pretraining 5/2"): ("long_pretraining", "test"),
    ("3", "FT 5/2"): ("long_finetuning_k5s2", "test"),
    ("3", "FT 4/2"): ("long_finetuning_k4s2", "test"),
    ("3", "FT 8/3"): ("long_finetuning_k8s3", "test"),
    ("3", "FT 1/1"): ("long_finetuning_k1s1", "test"),
    ("4", "E. coli"): ("bact_ecoli", "test"),
    ("4", "B. subtilis"): ("bact_bsubtilis", "test"),
    ("5", "1"): ("amplicon_k5s2", "test"),
    ("5", "2"): ("amplicon_k5s1", "test"),
    ("5", "3"): ("amplicon_k3s1", "test"),
    ("5", "4"): ("shotgun_k5s2", "test"),
    ("5", "5"): ("shotgun_k5s1", "test"),
    ("5", "6"): ("shotgun_k3s1", "test"),
    ("6", "1 Human"): ("enhancers_human_k4s2", "test"),
    ("6", "1 Mouse"): ("enhancers_mouse_k4s2", "test"),
    ("6", "1 Dog"): ("enhancers_dog_k4s2", "test"),
    ("6", "1 Opossum"): ("enhancers_opossum_k4s2", "test"),
    ("6", "2 Human"): ("enhancers_human_k5s2", "test"),
    ("6", "2 Mouse"): ("enhancers_mouse_k5s2", "test"),
    ("6", "2 Dog"): ("enhancers_dog_k5s2", "test"),
    ("6", "2 Opossum"): ("enhancers_opossum_k5s2", "test"),
    ("6", "3 Human"): ("enhancers_human_k3s1", "test"),
    ("6", "3 Mouse"): ("enhancers_mouse_k3s1", "test"),
    ("6", "3 Dog"): ("enhancers_dog_k3s1", "test"),
    ("6", "3 Opossum"): ("enhancers_opossum_k3s1", "test"),
    ("7", "standard"): ("lncrna_k3s1", "test"),
    ("7", "challenge"): ("lncrna_k3s1", "test_challenge"),
}
# Document rows deliberately left unmapped: §1b's full-size row repeats §1's ensemble row.
UNMAPPED: set[tuple[str, str]] = {("1b", "6791")}
# Mapped rows each section must yield (§7: two test sets of one experiment).
EXPECTED_ROWS = {"1": 3, "1b": 7, "2": 5, "3": 6, "4": 2, "5": 6, "6": 12, "7": 2}

# Metric names as the document prints them -> paper.yaml metric names.
METRIC_NAMES = {
    "Acc": "accuracy",
    "Prec": "precision",
    "Precision": "precision",
    "Rec": "recall",
    "Recall": "recall",
    "Sens": "recall",
    "Spec": "specificity",
    "MCC": "mcc",
    "macro P": "precision_macro",
    "macro R": "recall_macro",
    "macro F1": "f1_macro",
    "ROC-AUC": "roc_auc",
}
# §1b: "no LM fine-tuning" (its setup); §4-§7: every row fine-tunes (document §10).
FINETUNE_BY_SECTION = {"1b": False, "4": True, "5": True, "6": True, "7": True}

NUMBER = re.compile(r"^\d*\.\d+$|^\d+$")


# ---------------------------------------------------------------- markdown helpers


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]

    def column(self, *words: str) -> int:
        """Index of the one header cell containing every word."""
        hits = [i for i, h in enumerate(self.header) if all(w in h for w in words)]
        if len(hits) != 1:
            raise ValueError(f"expected one column with {words} in {self.header}, found {len(hits)}")
        return hits[0]


@dataclass
class DocRow:
    values: dict[str, float] = field(default_factory=dict)
    finetune: bool | None = None


def split_row(line: str) -> list[str]:
    """Cells of a markdown table line `| a | b |`, stripped."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def section(text: str, number: str) -> str:
    """Text under the heading `## N.` / `### N.` up to the next heading of any level."""
    lines = text.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if re.match(rf"^#{{2,3}} {re.escape(number)}\.? ", line)), None
    )
    if start is None:
        raise ValueError(f"no section {number} heading in the document")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
    return "\n".join(lines[start + 1 : end])


def tables(text: str) -> list[Table]:
    """Every markdown table (header, separator, body) in `text`."""
    found, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            block.append(split_row(line))
        elif block:
            if len(block) >= 2 and all(set(c) <= set("-: ") for c in block[1]):
                found.append(Table(header=block[0], rows=block[2:]))
            block = []
    return found


def find_table(text: str, *words: str) -> Table:
    """The one table whose header mentions every word."""
    hits = [t for t in tables(text) if all(any(w in h for h in t.header) for w in words)]
    if len(hits) != 1:
        raise ValueError(f"expected one table with header words {words}, found {len(hits)}")
    return hits[0]


# ---------------------------------------------------------------- cell parsers


def unbold(cell: str) -> str:
    return cell.replace("**", "").strip()


def number(cell: str) -> float | None:
    """The cell as a float, or None when it is not a plain printed number ("—", notes)."""
    cell = unbold(cell)
    return float(cell) if NUMBER.match(cell) else None


def metric_name(label: str) -> str:
    label = re.sub(r"^test\s+", "", unbold(label))
    if label not in METRIC_NAMES:
        raise ValueError(f"unknown metric label {label!r}")
    return METRIC_NAMES[label]


def slash_values(header: str, cell: str) -> dict[str, float]:
    """`Acc / Prec / ...` header + `0.8 / 0.7 / ...` cell -> {metric: value}, printed ones only."""
    names = [metric_name(n) for n in header.split("/")]
    values = cell.split("/")
    if len(names) != len(values):
        raise ValueError(f"{len(names)} metrics in {header!r} but {len(values)} values in {cell!r}")
    return {n: v for n, v in zip(names, map(number, values)) if v is not None}


def finetune_flag(cell: str) -> bool:
    """The "LM fine-tuning" cell: "no" / "**no** (...)" -> False, "yes..." -> True."""
    cell = unbold(cell).lower()
    if cell.startswith("yes"):
        return True
    if cell.startswith("no"):
        return False
    raise ValueError(f"unreadable LM fine-tuning cell {cell!r}")


def row_label(cell: str) -> str:
    """A row label without its trailing "(...)" note."""
    return re.sub(r"\s*\(.*\)\s*$", "", unbold(cell))


# ---------------------------------------------------------------- section parsers


def training_rows(text: str) -> dict[str, DocRow]:
    """§1 / §2 / §3 "Training" tables: row label -> test metrics and LM fine-tuning."""
    table = find_table(text, "LM fine-tuning", "test Acc")
    label, ft, res = table.column("row"), table.column("LM fine-tuning"), table.column("test Acc")
    return {
        row_label(r[label]): DocRow(slash_values(table.header[res], r[res]), finetune_flag(r[ft]))
        for r in table.rows
    }


def reduction_rows(text: str) -> dict[str, DocRow]:
    """§1b: train n -> one column per metric."""
    table = find_table(text, "train n", "MCC")
    key = table.column("train n")
    metrics = {i: METRIC_NAMES[h] for i, h in enumerate(table.header) if h in METRIC_NAMES}
    out = {}
    for r in table.rows:
        values = {m: number(r[i]) for i, m in metrics.items()}
        out[r[key].split()[0]] = DocRow({m: v for m, v in values.items() if v is not None})
    return out


def single_column_rows(table: Table, key_of, *result_words: str) -> dict[str, DocRow]:
    """Rows keyed by key_of(row) with metrics from the slash-separated result column."""
    res = table.column(*result_words)
    return {key_of(r): DocRow(slash_values(table.header[res], r[res])) for r in table.rows}


def bacterial_rows(text: str) -> dict[str, DocRow]:
    """§4: organism -> test metrics."""
    table = find_table(text, "organism", "test Acc")
    org = table.column("organism")
    return single_column_rows(table, lambda r: unbold(r[org]), "test Acc")


def metagenomics_rows(text: str) -> dict[str, DocRow]:
    """§5: notebook number -> accuracy and macro metrics."""
    table = find_table(text, "notebook", "macro F1")
    nb = table.column("notebook")
    return single_column_rows(table, lambda r: re.match(r"\d+", unbold(r[nb])).group(), "macro F1")


def enhancer_rows(text: str) -> dict[str, DocRow]:
    """§6: "<notebook number> <species>" -> ROC-AUC plus the slash column; the notebook
    cell is empty on continuation rows, so the last one carries down."""
    table = find_table(text, "ROC-AUC", "Acc / Prec")
    nb_col, sp_col = table.column("notebook"), table.column("species")
    auc_col, res_col = table.column("ROC-AUC"), table.column("Acc / Prec")
    out, notebook = {}, None
    for r in table.rows:
        if r[nb_col]:
            notebook = re.search(r"Enhancers (\d+)", r[nb_col]).group(1)
        values = slash_values(table.header[res_col], r[res_col])
        values[metric_name(table.header[auc_col])] = number(r[auc_col])
        out[f"{notebook} {unbold(r[sp_col])}"] = DocRow(values)
    return out


def lncrna_rows(text: str) -> dict[str, DocRow]:
    """§7: the "test" stage's result cell, one entry per test set ("standard", "challenge")."""
    table = find_table(text, "stage", "result")
    stage, res = table.column("stage"), table.column("result")
    (row,) = [r for r in table.rows if unbold(r[stage]) == "test"]
    out = {}
    for part in row[res].split(";"):
        name, metrics = re.fullmatch(r"\s*(\w+) \(n = \d+\): (.*)", part).groups()
        pairs = (m.strip().rsplit(" ", 1) for m in metrics.split(","))
        out[name] = DocRow({metric_name(k): number(v) for k, v in pairs})
    return out


PARSERS = {
    "1": training_rows,
    "1b": reduction_rows,
    "2": training_rows,
    "3": training_rows,
    "4": bacterial_rows,
    "5": metagenomics_rows,
    "6": enhancer_rows,
    "7": lncrna_rows,
}


def parse_document(text: str) -> dict[tuple[str, str], DocRow]:
    """(section, row key) -> DocRow for every row of every results table of the document."""
    out = {}
    for sec, parse in PARSERS.items():
        for key, row in parse(section(text, sec)).items():
            if row.finetune is None:
                row.finetune = FINETUNE_BY_SECTION[sec]
            out[(sec, key)] = row
    return out


# ---------------------------------------------------------------- config helpers


def config_rows(cfg: dict, experiment: str, split: str) -> list[tuple[str, dict, list[str]]]:
    """(table name, row, table metrics) of every paper.yaml table row for experiment+split."""
    return [
        (name, row, table.get("metrics", []))
        for name, table in cfg.get("tables", {}).items()
        for row in table.get("rows", [])
        if row.get("experiment") == experiment and row.get("split", "test") == split
    ]


# ---------------------------------------------------------------- fixtures and tests


@pytest.fixture(scope="module")
def doc_rows() -> dict[tuple[str, str], DocRow]:
    path = shared_data_dir().parent / "docs" / DOC_NAME
    if not path.is_file():
        pytest.skip(
            f"protocol document not found at {path} (expected in docs/ beside the shared data folder, "
            f"<checkout>/../shared/data or ${SHARED_DATA_ENV})"
        )
    return parse_document(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def paper_cfg() -> dict:
    return yaml.safe_load(PAPER.read_text())


def test_document_rows_found(doc_rows):
    missing = sorted(set(DOC_ROWS) - set(doc_rows))
    unexpected = sorted(set(doc_rows) - set(DOC_ROWS) - UNMAPPED)
    assert not missing, f"mapped rows not found in the document: {missing}"
    assert not unexpected, f"document rows with no experiment mapped: {unexpected}"
    counts = {sec: sum(1 for key in DOC_ROWS if key[0] == sec and key in doc_rows) for sec in EXPECTED_ROWS}
    assert counts == EXPECTED_ROWS
    empty = [key for key in DOC_ROWS if not doc_rows[key].values]
    assert not empty, f"rows with no printed value parsed: {empty}"


def test_paper_values_match_document(doc_rows, paper_cfg):
    problems = []
    for key, (experiment, split) in DOC_ROWS.items():
        doc = doc_rows[key].values
        where = f"§{key[0]} {key[1]!r} -> {experiment} [{split}]"
        found = config_rows(paper_cfg, experiment, split)
        published = [(name, row, metrics) for name, row, metrics in found if row.get("paper")]
        if not published:
            problems.append(f"{where}: no paper.yaml table row with published values ({len(found)} without)")
        for name, row, metrics in published:
            for metric, value in doc.items():
                got = row["paper"].get(metric, "missing")
                if got == "missing" or got != pytest.approx(value, abs=1e-12):
                    problems.append(f"{name}: {experiment} [{split}] {metric}: config {got}, document {value}")
                if metric not in metrics:
                    problems.append(f"{name}: {experiment} [{split}] {metric} not among the table's metrics {metrics}")
    assert not problems, f"{len(problems)} mismatches with {DOC_NAME}:\n" + "\n".join(problems)


def test_finetune_flags_match_document(doc_rows, paper_cfg):
    experiments = paper_cfg.get("experiments", {})
    problems = []
    for key, (experiment, _) in DOC_ROWS.items():
        if experiment not in experiments:
            problems.append(f"§{key[0]} {key[1]!r}: experiment {experiment} not in paper.yaml")
            continue
        got = bool(experiments[experiment].get("finetune", False))
        want = doc_rows[key].finetune
        if got != want:
            problems.append(f"§{key[0]} {key[1]!r}: {experiment} finetune {got}, document {want}")
    assert not problems, f"{len(problems)} fine-tune flags differ from {DOC_NAME}:\n" + "\n".join(problems)
