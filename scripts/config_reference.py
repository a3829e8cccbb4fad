"""Write config/README.md, the reference of every config key, from the config schema.

    python scripts/config_reference.py          # rewrite config/README.md
    python scripts/config_reference.py --check  # exit 1 if it is out of date (tests do this)

The schema (workflow/schemas/config.schema.yaml) is the one place keys, types, defaults and
descriptions are written; this file only lays them out, so the two cannot disagree.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
OUT = REPO / "config" / "README.md"

HEADER = """# Configuration reference

Every key of a workflow config (`config/config.yaml`, `config/test.yaml`, `config/paper.yaml`,
`config/paper_mini.yaml`, `config/deepsea_cpu.yaml`), generated from
`workflow/schemas/config.schema.yaml` by `scripts/config_reference.py` (a test checks that it
is current). A wrong or missing key stops a run, naming the key and what is allowed. `<name>`
stands for a name you choose; `[]` for the items of a list; "see X" for a definition below.

The shipped configs: `config.yaml` (the default run: E. coli, CPU, minutes per model),
`test.yaml` (the whole DAG with tiny models), `paper.yaml` (every table of the paper, each row
with its notebook's protocol), `paper_mini.yaml` (paper.yaml at reduced scale: it `extends`
paper.yaml), `deepsea_cpu.yaml` (DeepSEA on a CPU).
"""


def _type(node: dict) -> str:
    if "$ref" in node:
        return f"see {node['$ref'].rsplit('/', 1)[-1]}"
    if "oneOf" in node:
        return " or ".join(_type(n) for n in node["oneOf"])
    kind = node.get("type", "")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " or ".join(k for k in kinds if k)
    if "enum" in node:
        text += f" ({', '.join(map(str, node['enum']))})"
    if node.get("type") == "array" and isinstance(node.get("items"), dict) and "$ref" in node["items"]:
        text += f" of {_type(node['items'])[4:]}"
    return text or "any"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _rows(node: dict, path: str) -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) of `node` and everything under it."""
    rows = []
    default = f"`{json.dumps(node['default'])}`" if "default" in node else ""
    rows.append((path, _type(node), default, node.get("description", "")))
    if "$ref" in node:
        return rows
    for name, sub in node.get("properties", {}).items():
        rows += _rows(sub, f"{path}.{name}" if path else name)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and (extra.get("properties") or "$ref" in extra):
        rows += _rows(extra, f"{path}.<name>")
    items = node.get("items")
    if isinstance(items, dict) and items.get("properties"):
        rows += _rows(items, f"{path}[]")[1:]
    return rows


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    out = ["| key | type | default | meaning |", "|---|---|---|---|"]
    out += [f"| `{k}` | {_cell(t)} | {_cell(d)} | {_cell(m)} |" for k, t, d, m in rows if k]
    return out


def render(schema: dict) -> str:
    lines = [HEADER, "## Keys", ""]
    for name, node in schema["properties"].items():
        required = " (required)" if name in schema.get("required", []) else ""
        lines += [f"### `{name}`{required}", ""]
        lines += _table(_rows(node, name)) + [""]
    lines += ["## Definitions", "", "Shapes that several keys share (builder params, protocol sections, ...).", ""]
    for name, node in schema["definitions"].items():
        if not isinstance(node, dict) or not ("type" in node or "oneOf" in node):
            continue  # YAML merge-key fragments, written into the definitions that use them
        lines += [f"### {name}", ""]
        if node.get("description"):
            lines += [_cell(node["description"]), ""]
        lines += _table(_rows(node, "")[1:] or [("(value)", _type(node), "", "")]) + [""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="exit 1 if config/README.md is out of date")
    args = p.parse_args(argv)
    text = render(yaml.safe_load(SCHEMA.read_text()))
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python scripts/config_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
