# Public inputs: fetched once, sha256-verified, written atomically.

localrules: download  # needs the internet (or the mirror), not a compute node


rule download:
    output:
        "resources/downloads/{source}/{filename}",
    params:
        url=lambda w: SOURCES[w.source]["url"],
        sha256=lambda w: SOURCES[w.source]["sha256"],
        mirror=lambda w: shlex.quote(config["mirror"]) if config.get("mirror") else "''",
        mirror_path=lambda w: SOURCES[w.source]["mirror_path"],
    log:
        "logs/download/{source}/{filename}.log",
    conda:
        "../../envs/data.yaml"
    shell:
        "{PY} fetch --url {params.url:q} --sha256 {params.sha256} --out {output:q} "
        "--mirror {params.mirror} --mirror-path {params.mirror_path:q} > {log} 2>&1"
