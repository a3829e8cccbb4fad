"""Workflow configuration: JSON-schema validation with messages that name the
key and the allowed values, defaults filled in, and cross-references checked."""
from __future__ import annotations

import difflib
from dataclasses import fields, is_dataclass
from pathlib import Path

import jsonschema
import yaml

from .protocols import ProtocolError, Protocols
from .settings import PRESETS, ModelConfig
from .errors import GenomicUlmfitError


class ConfigError(GenomicUlmfitError, ValueError):
    """A configuration that cannot run; the message names the key."""


def merge_config(base: dict, over: dict) -> dict:
    """`over` on top of `base`: mappings merge key by key; any other value (a list too)
    replaces the base's."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = value
    return out


def resolve_extends(config: dict, repo: Path, where: str = "the config") -> dict:
    """The config with the config file it `extends` (a path relative to the repository,
    itself possibly extending another) merged beneath it, `extends` itself dropped: a
    reduced-scale config states only what differs from the config it scales down
    (config/paper_mini.yaml extends config/paper.yaml)."""
    chain, layers = [str(where)], [config]
    while layers[-1].get("extends"):
        path = Path(layers[-1]["extends"])
        path = path if path.is_absolute() else Path(repo) / path
        if str(path) in chain:
            raise ConfigError(f"config key extends: {' -> '.join(chain + [str(path)])} is a cycle")
        if not path.is_file():
            raise ConfigError(f"config key extends (in {chain[-1]}): no config file {path}")
        base = yaml.safe_load(path.read_text()) or {}
        if not isinstance(base, dict):
            raise ConfigError(f"config key extends (in {chain[-1]}): {path} is not a workflow config (a YAML mapping)")
        chain.append(str(path))
        layers.append(base)
    merged: dict = {}
    for layer in reversed(layers):
        merged = merge_config(merged, {k: v for k, v in layer.items() if k != "extends"})
    return merged


def load_config(path: str | Path, repo: Path) -> dict:
    """A workflow config file, with what it `extends` beneath it."""
    config = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: not a workflow config (a YAML mapping)")
    return resolve_extends(config, repo, str(path))


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    where = _key(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties" and isinstance(schema.get("properties"), dict):
        extra = sorted(set(error.instance) - set(schema["properties"]))
        return (f"config key {where}: unknown key(s) {extra}; allowed: "
                f"{sorted(schema['properties'])}")
    if error.validator == "required":
        return f"config key {where}: {error.message}; required keys: {schema['required']}"
    if error.validator == "enum":
        return f"config key {where}: {error.instance!r} is not allowed; allowed values: {schema['enum']}"
    return f"config key {where}: {error.message}"


def _fill_defaults(instance, schema: dict, root: dict | None = None) -> None:
    """Set the schema's defaults of absent keys, recursively: through properties,
    additionalProperties and items, `$ref`s (into `root`, the whole schema), and every
    branch of allOf/anyOf/oneOf and if's then/else (harmless where the branches differ by
    type, as one interpretation spec or a list of them: properties act on objects only,
    items on arrays only)."""
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        _fill_defaults(instance, target, root)
    branches = [sub for key in ("allOf", "anyOf", "oneOf") for sub in schema.get(key, [])]
    branches += [schema[key] for key in ("then", "else") if isinstance(schema.get(key), dict)]
    for sub in branches:
        _fill_defaults(instance, sub, root)
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            _fill_defaults(item, schema["items"], root)
    if not isinstance(instance, dict):
        return
    for name, sub in schema.get("properties", {}).items():
        if name not in instance and "default" in sub:
            instance[name] = sub["default"]
        if name in instance:
            _fill_defaults(instance[name], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for name in set(instance) - set(schema.get("properties", {})):
            _fill_defaults(instance[name], extra, root)


def validate_config(config: dict, schema_path: Path, sources: dict | None = None) -> dict:
    """Validate against the schema, fill defaults, check cross-references."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(_describe(e) for e in errors))
    _fill_defaults(config, schema)
    problems = model_setting_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    _check_references(config, sources or {})
    _check_protocols(config)
    return config


def _check_protocols(config: dict) -> None:
    """Every experiment's protocol resolves to settings its jobs accept."""
    try:
        protocols = Protocols(config)
        for name in config["experiments"]:
            protocols.tags(name)
        for name, exp in (config.get("deepsea") or {}).get("experiments", {}).items():
            if exp.get("pretrain") and exp["arch"] == "ulmfit":
                protocols.lm_document(exp["pretrain"], exp.get("protocol"),
                                      f"deepsea.experiments.{name}.protocol")
    except (ProtocolError, ValueError) as e:
        msg = str(e) if str(e).startswith("config key") else f"config key {e}"
        raise ConfigError("invalid configuration:\n  " + msg) from None


def model_setting_problems(config: dict) -> list[str]:
    """Every model setting checked against its dataclass, before any job runs: a typo in
    `model.overrides` otherwise changes the jobs' params, so Snakemake deletes the trained
    models to rerun them and the job then fails on the unknown key."""
    overrides = config["model"].get("overrides") or {}
    problems = _setting_problems(PRESETS[config["model"]["preset"]], overrides,
                                 "model.overrides", "model")
    for name, exp in ((config.get("deepsea") or {}).get("experiments") or {}).items():
        if exp.get("arch") == "capstone":
            problems += _capstone_problems(exp, f"deepsea.experiments.{name}")
    return problems


def _capstone_problems(exp: dict, where: str) -> list[str]:
    from .deepsea.settings import CAPSTONE_PRESETS, capstone_preset  # torch-free
    preset, overrides = exp.get("preset", "capstone"), exp.get("overrides") or {}
    problems = _setting_problems(CAPSTONE_PRESETS[preset], overrides, f"{where}.overrides",
                                 "capstone model")
    if not problems:
        try:  # the combinations the dataclass refuses (a width not divisible by n_heads, ...)
            capstone_preset(preset, **overrides)
        except ValueError as e:
            problems.append(f"config key {where}.overrides: {e}")
    return problems


def _setting_problems(base, values: dict, where: str, what: str) -> list[str]:
    """Keys of `values` that are not fields of the dataclass instance `base`, or whose value
    is not of the field's type (the type of `base`'s value); nested dataclasses recursively."""
    if not isinstance(values, dict):
        return [f"config key {where}: expected a mapping of {what} settings, got {values!r}"]
    known = {f.name: getattr(base, f.name) for f in fields(base)}
    problems = []
    for key, value in values.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"config key {where}.{key}: not a {what} setting; known: "
                            f"{sorted(known)}{hint}")
        elif is_dataclass(known[key]):
            problems += _setting_problems(known[key], value, f"{where}.{key}", f"{what} {key}")
        elif not _fits(value, known[key]):
            problems.append(f"config key {where}.{key}: {value!r} is not {_type_name(known[key])}")
    return problems


def _fits(value, default) -> bool:
    """Whether `value` can stand for a field whose default is `default` (ints are floats too;
    YAML lists are tuples)."""
    if isinstance(value, bool) or isinstance(default, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, tuple):
        items_fit = not default or all(_fits(v, default[0]) for v in value)
        return isinstance(value, (list, tuple)) and items_fit
    return default is None or isinstance(value, type(default))


def _type_name(default) -> str:
    if isinstance(default, tuple):
        return f"a list of {_type_name(default[0])[2:]}s" if default else "a list"
    return {int: "an integer", float: "a number", str: "a string"}.get(type(default), type(default).__name__)


def _check_references(config: dict, sources: dict) -> None:
    problems = []

    def need(cond: bool, msg: str) -> None:
        if not cond:
            problems.append(msg)

    names = sorted(sources)
    for name, task in config["tasks"].items():
        for role, src in task["inputs"].items():
            need(not sources or src in sources,
                 f"config key tasks.{name}.inputs.{role}: unknown source {src!r}; allowed: {names}")
        params = task.get("params", {})
        groups = [("classes", params.get("classes", {}))]
        groups += [(f"tests.{split}", per_label) for split, per_label in params.get("tests", {}).items()]
        for where, per_label in groups:
            for label, roles in per_label.items():
                for role in roles:
                    need(role in task["inputs"], f"config key tasks.{name}.params.{where}.{label}: "
                         f"{role!r} is not an input role; allowed: {sorted(task['inputs'])}")
    for name, corpus in config.get("corpora", {}).items():
        for src in corpus["genomes"]:
            need(not sources or src in sources,
                 f"config key corpora.{name}.genomes: unknown source {src!r}; allowed: {names}")
    for name, exp in config["experiments"].items():
        where = f"config key experiments.{name}"
        need(exp["task"] in config["tasks"],
             f"{where}.task: {exp['task']!r} is not a task; allowed: {sorted(config['tasks'])}")
        need(exp["stride"] <= exp["k"], f"{where}.stride: {exp['stride']} exceeds k={exp['k']}")
        pre = exp.get("pretrain")
        need(pre is None or pre in config.get("corpora", {}),
             f"{where}.pretrain: {pre!r} is not a corpus; allowed: {sorted(config.get('corpora', {}))}")
        need(not exp.get("finetune") or pre is not None,
             f"{where}.finetune: fine-tuning needs a pretrained LM (set pretrain)")
        ft_task = exp.get("finetune_task")
        need(ft_task is None or (exp.get("finetune") and ft_task in config["tasks"]),
             f"{where}.finetune_task: {ft_task!r} needs finetune: true and a task; allowed: "
             f"{sorted(config['tasks'])}")
    for name, table in config["tables"].items():
        for i, row in enumerate(table["rows"]):
            need(row.get("experiment", "") in config["experiments"] or "experiment" not in row,
                 f"config key tables.{name}.rows.{i}.experiment: {row.get('experiment')!r} is not an "
                 f"experiment; allowed: {sorted(config['experiments'])}")
            need("experiment" in row or row.get("paper"),
                 f"config key tables.{name}.rows.{i}: a row without an experiment needs paper values")
        runs = [config["experiments"].get(r.get("experiment")) for r in table["rows"] if r.get("experiment")]
        need(bool(runs), f"config key tables.{name}.rows: no row names an experiment")
        if table.get("curve"):
            tasks = sorted({e["task"] for e in runs if e})
            need(len(tasks) <= 1, f"config key tables.{name}.curve: the rows' experiments use tasks "
                 f"{tasks}; a training-size curve needs one task")
    need(bool(config["experiments"]) or bool(config.get("deepsea")),
         "config key experiments: no experiments; give experiments (ULMFiT classifiers) or a "
         "deepsea section")
    if config.get("deepsea"):
        _check_deepsea(config, sources, need)
    _check_interpret(config, sources, need)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def _check_deepsea(config: dict, sources: dict, need) -> None:
    ds = config["deepsea"]
    need(not sources or ds["source"] in sources,
         f"config key deepsea.source: unknown source {ds['source']!r}; allowed: {sorted(sources)}")
    corpora = config.get("corpora", {})
    for name, exp in ds["experiments"].items():
        where = f"config key deepsea.experiments.{name}"
        if exp["arch"] == "ulmfit":
            need("k" in exp and "stride" in exp, f"{where}: the ulmfit model needs k and stride")
            need(exp.get("stride", 0) <= exp.get("k", 0),
                 f"{where}.stride: {exp.get('stride')} exceeds k={exp.get('k')}")
            pre = exp.get("pretrain")
            need(pre is None or pre in corpora,
                 f"{where}.pretrain: {pre!r} is not a corpus; allowed: {sorted(corpora)}")
        else:
            extra = sorted(k for k in ("pretrain", "k", "stride") if exp.get(k) is not None)
            need(not extra, f"{where}: {extra} apply to arch ulmfit only (this one is capstone)")
    for name, table in ds.get("tables", {}).items():
        need(name not in config["tables"],
             f"config key deepsea.tables.{name}: a table of that name is also under tables")
        for i, row in enumerate(table["rows"]):
            need(row.get("experiment", "") in ds["experiments"] or "experiment" not in row,
                 f"config key deepsea.tables.{name}.rows.{i}.experiment: {row.get('experiment')!r} is "
                 f"not a deepsea experiment; allowed: {sorted(ds['experiments'])}")
            need("experiment" in row or row.get("paper"),
                 f"config key deepsea.tables.{name}.rows.{i}: a row without an experiment needs paper values")
        need(any(r.get("experiment") for r in table["rows"]),
             f"config key deepsea.tables.{name}.rows: no row names an experiment")


def interpret_specs(config: dict) -> list[tuple[str, dict]]:
    """The config's interpretation specs with their config key: `interpret` (one spec)
    or `interpret.0`, `interpret.1`, ... (a list); none when it is absent."""
    spec = config.get("interpret")
    if not spec:
        return []
    if isinstance(spec, dict):
        return [("interpret", spec)]
    return [(f"interpret.{i}", s) for i, s in enumerate(spec)]


def _check_interpret(config: dict, sources: dict, need) -> None:
    seen: dict = {}  # (experiment, seed) -> the key of the spec interpreting that classifier
    for where, spec in interpret_specs(config):
        exp = config["experiments"].get(spec["experiment"])
        need(exp is not None,
             f"config key {where}.experiment: {spec['experiment']!r} is not an experiment; "
             f"allowed: {sorted(config['experiments'])}")
        need(spec.get("seed") is None or spec["seed"] in config["seeds"],
             f"config key {where}.seed: {spec.get('seed')} is not among seeds {config['seeds']}")
        for section, key in (("motifs", "jaspar"), ("scan", "genome"), ("scan", "annotation"),
                             ("variants", "vcf"), ("variants", "genome")):
            src = (spec.get(section) or {}).get(key)
            need(src is None or not sources or src in sources,
                 f"config key {where}.{section}.{key}: unknown source {src!r}; allowed: {sorted(sources)}")
        if exp is not None:
            seed = spec["seed"] if spec.get("seed") is not None else (exp.get("seeds") or config["seeds"])[0]
            run = (spec["experiment"], seed)
            need(run not in seen, f"config key {where}: {seen.get(run)} interprets the same classifier "
                 f"(experiment {run[0]!r}, seed {seed}); give one spec per classifier run")
            seen.setdefault(run, where)


def load_sources(paths: str | Path | list, base: Path | None = None, *, lock: bool = True) -> dict:
    """The sources of one YAML file or of several (config `sources`: a path or a list),
    paths relative to `base`. `sha256: null` marks a checksum not known yet (recorded at
    the first download). A name defined in two files is an error.

    With `lock` (the default), each file's lock file beside it (`<stem>.lock.yaml`, written
    by `genomic-ulmfit sources --check`) fills that file's null sha256s, so downloads are
    verified against it; a lock entry for a source the file lacks, or one that disagrees
    with a sha256 the file sets, is an error.

    Each source is a url, or an archive member (url + `member`), an OSF file (`osf`) or an
    NCBI genome by name (`ncbi_genome`; genomic_ulmfit.sources). The last two need no url:
    without one they get a page for people (osf.io / NCBI Datasets)."""
    from .sources import apply_lock, default_url, source_kind, source_problem

    sources: dict = {}
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(base) / path if base is not None else Path(path)
        entries = yaml.safe_load(path.read_text()) or {}
        if not isinstance(entries, dict):
            raise ConfigError(f"{path}: expected a map of source name -> entry (url, sha256, mirror_path, ...)")
        if lock:
            try:
                entries = apply_lock(entries, path)
            except ValueError as e:
                raise ConfigError(str(e)) from None
        for name, src in entries.items():
            if not isinstance(src, dict):
                raise ConfigError(f"{path}: source {name!r} is not a mapping (url, sha256, mirror_path, ...)")
            problem = source_problem(src)
            if problem:
                raise ConfigError(f"{path}: source {name!r}: {problem}")
            resolved = source_kind(src) in ("osf", "ncbi_genome")
            required = ("sha256", "mirror_path") if resolved else ("url", "sha256", "mirror_path")
            missing = [k for k in required if k not in src]
            if missing:
                raise ConfigError(f"{path}: source {name!r} lacks {missing}")
            if resolved and not src.get("url"):
                src = {**src, "url": default_url(src)}
            if name in sources:
                raise ConfigError(f"{path}: source {name!r} is already defined in {sources[name]['_file']}")
            sources[name] = {**src, "_file": str(path)}
    return {name: {k: v for k, v in src.items() if k != "_file"} for name, src in sources.items()}
