# Public inputs: fetched once, sha256-verified, written atomically. One rule for every kind
# of source (genomic_ulmfit.sources): a url, an archive member (url + member; the archive is
# cached once in resources/downloads/_archives), an OSF file (osf) or an NCBI genome by name
# (ncbi_genome). The entry travels to `genomic-ulmfit fetch` as one JSON object.

import json

from genomic_ulmfit.sources import FETCH_KEYS

localrules: download, download_directory  # need the internet (or the mirror), not a compute node

ARCHIVE_CACHE = "resources/downloads/_archives"
# The mirror says where a file is read from, not what it is (its sha256 does): it reaches
# `fetch` through the environment, so a new mirror (or none) reruns nothing.
os.environ["GULMFIT_MIRROR"] = config.get("mirror") or ""


def fetch_entry(w):
    """The keys of the source that decide what is downloaded, as JSON (a description edit
    does not re-run a download)."""
    entry = {k: v for k, v in SOURCES[w.source].items() if k in FETCH_KEYS}
    return json.dumps({"name": w.source, **entry}, sort_keys=True)


# Sources whose member names a directory ("member: Species/" ends in "/") become directory outputs.
DIRECTORY_SOURCES = sorted(n for n, s in SOURCES.items() if str(s.get("member") or "").endswith("/"))

FETCH_SHELL = (
    "{PY} fetch --source {params.source:q} --out {output:q} "
    "--cache-dir " + ARCHIVE_CACHE + " > {log} 2>&1"
)


rule download:
    output:
        "resources/downloads/{source}/{filename}",
    params:
        source=fetch_entry,
    log:
        "logs/download/{source}/{filename}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        FETCH_SHELL


rule download_directory:
    output:
        directory("resources/downloads/{source}/{filename}"),
    wildcard_constraints:
        source="|".join(re.escape(n) for n in DIRECTORY_SOURCES) or "(?!)",  # no such source: matches nothing
    params:
        source=fetch_entry,
    log:
        "logs/download/{source}/{filename}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        FETCH_SHELL


ruleorder: download_directory > download
