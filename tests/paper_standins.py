"""Small stand-ins, in the real upstream formats, for every public source config/paper.yaml
reads, and one local server for them: the paper's whole DAG can then run offline at reduced
scale, through every download, archive and API code path of genomic_ulmfit.sources.

`build_paper_mirror(shared, out, sources, uses)` writes `out/mirror/` (each used source at its
`mirror_path`) and the files the API stand-ins serve (`out/api/`); `serve_paper_standins(...)`
serves both on 127.0.0.1 (one ThreadingHTTPServer, ephemeral port) and yields the mirror's base
URL and the environment variables that redirect the OSF and NCBI endpoints
(GULMFIT_OSF_API, GULMFIT_NCBI_DATASETS_API, GULMFIT_NCBI_FTP) to it.

What is where, and which upstream format each stand-in mimics (all deterministic: seeded
numpy generators, gzip/tar/zip with fixed timestamps, so a rebuild is byte-identical):

* sources whose file is in the shared real data (/work/shared/data, at the same mirror_path:
  E. coli genome/GenBank/GFF, CNNPromoterData E. coli and B. subtilis sets, MetagenomicDC
  1000seq.fasta + taxonomy.txt, the eukaryote slices, JASPAR): a symlink to it.
* bacterial ensemble genomes, plain url (`*_fna`, RefSeq genomes/all FTP files): gzipped
  FASTA, NCBI headers (`>NC_012345.1 <organism> chromosome, complete genome`, sometimes a
  plasmid record), 20-30 kb slices of the real E. coli K-12 genome at distinct offsets with
  8-12 % substitutions each, 80 columns.
* bacterial ensemble genomes by name (`ncbi_genome: {taxon}`), not in the mirror: NCBI
  Datasets v2 `genome/taxon/<taxon>/dataset_report` JSON (v2reportsAssemblyDataReport: a
  RefSeq reference or representative genome for some taxa, several RefSeq assemblies of
  other levels and dates, GenBank-only and child-taxon assemblies for others) and, at the
  genomes FTP path `GCF/ddd/ddd/ddd/<acc>_<asm>/<acc>_<asm>_genomic.fna.gz` of the assembly
  the resolver should pick, its genome as above (`NZ_` records; contig assemblies in two
  `whole genome shotgun sequence` records).
* human GRCh38 (`human_grch38_fna`): the real A. thaliana slices (the eukaryote with the most
  annotated TSSs here) renamed to the GRCh38 RefSeq chromosomes (NC_000001.11 ...
  NC_000005.10, mitochondrion NC_012920.1) plus an unlocalized NT_ and an alt-locus NW_
  scaffold (what `records: "^NC_"` drops), soft-masked runs in lowercase as NCBI ships it.
  `human_grch38_report`: NCBI `*_assembly_report.txt` (`#` metadata, the `# Sequence-Name
  Sequence-Role ... UCSC-style-name` header, one tab-separated row per sequence).
  `epdnew_hs006_sga`: EPDnew SGA (`NC_000001.11<TAB>TSS<TAB>959256<TAB>-<TAB>1<TAB>NOC2L_1`:
  RefSeq chromosome, feature, 1-based position, strand, count, promoter name), one TSS per
  distinct mRNA 5' end of the A. thaliana GFF, moved onto the renamed chromosomes.
* chimp / bonobo / gorilla: gzipped NCBI FASTA of NC_ chromosomes from C. elegans and
  D. melanogaster slices (40 kb each, 2 % substitutions) and one unplaced NW_ scaffold.
* CNNPromoterData human (`human_non_tata.fa`, `human_nonprom_big.fa`): FASTA as its E. coli
  files (`>name__chrom__forward__pos`, 60 columns / `> 6400`, one line), 251 nt: promoters
  -200/+50 around the stand-in human TSSs, non-promoters from gene bodies after the TSS.
* enhancer_CNN `Enhancers_vs_negative.tgz` (Cohn et al. 2018): one top-level folder
  `Enhancers_vs_negative/` holding a folder per species (Human, Mouse, Dog, Opossum, Cow, Rat,
  Macaque) with `positive_samples` / `negative_samples` (one 500 nt uppercase sequence a line,
  no headers; positives are windows near real TSSs with liver TF motifs planted) and a
  `peaks_fasta_files/` folder of FASTA peaks (what the notebooks skip).
* MetagenomicDC `16S-AMP-trimmed.fa.zip` (member `16S-trimmed.fa`) and `16S-SG-reads.fa.zip`
  (`16S-reads.fa`), each with a `__MACOSX/._<member>` AppleDouble entry: Grinder reads
  (`>7 reference=S003747738 amplicon=301..785 position=1..431 errors=88%T
  description="Alphaproteobacteria Rhodobacterales Rhodobacteraceae Rhodobaca"`) simulated
  from the real 1000seq.fasta: amplicons between the V3-V4 primers, 400-450 nt reads;
  shotgun 250 nt reads on either strand; 10 genera x 30 reads; substitutions, a few N.
* lncRNA (OSF node 4htpy, not in the mirror): the OSF API v2 JSON:API listing of the node's
  osfstorage (paginated, links.next; items with attributes.kind/name/materialized_path/
  extra.hashes.sha256 and links.download, which redirects to the bytes), holding the eight
  FASTA files with GENCODE transcript headers (`>ENST...|ENSG...|OTTHUMG...|OTTHUMT...|SYM-201|
  SYM|len|UTR5:1-a|CDS:b-c|UTR3:d-len|`, 60 columns): mRNAs with a codon-biased ORF,
  lncRNAs without one (the challenge sets swap that: short CDSs, long ORFs); the two
  full-length TRAIN files sit in a `full_length/` folder (a bare osf.path finds them there).
* DeepSEA `deepsea_train_bundle.v0.9.tar.gz`: tests/deepsea_bundle.py's bundle
  (deepsea_train/train.mat MATLAB 7.3 / HDF5, valid.mat and test.mat MATLAB 5), small.

The handlers and layouts that tests/test_resolved_sources.py uses as well: `JsonApiHandler`,
`OsfNode` / `OsfHandler` (the OSF JSON:API layout), `ncbi_report` (one Datasets assembly
report), `dataset_report_answer` / `DatasetsHandler` (dataset_report with its filters and
pages, and the genomes FTP).

    python tests/paper_standins.py OUT [--shared DIR] [--serve]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = [
    "PaperStandIns", "ServedStandIns", "build_paper_mirror", "serve_paper_standins", "paper_sources_and_uses",
    "JsonApiHandler", "Reply", "OsfNode", "OsfHandler", "ncbi_report", "dataset_report_answer",
    "DatasetsHandler", "ncbi_ftp_path", "REFERENCE_CATEGORIES",
]

REPO = Path(__file__).resolve().parents[1]
_SHARED_DEFAULT = REPO.parent / "shared" / "data"


# =========================================================================== HTTP stand-ins


class Reply(NamedTuple):
    code: int
    body: bytes
    ctype: str = "application/json"
    headers: dict | None = None


def _json_reply(doc: object, code: int = 200, ctype: str = "application/json") -> Reply:
    return Reply(code, json.dumps(doc).encode(), ctype)


class JsonApiHandler(BaseHTTPRequestHandler):
    """A stand-in API server: answers with a body of `content_type` (or another type)."""

    content_type = "application/json"

    def _send(self, code: int, body: bytes, ctype: str | None = None, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype or self.content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _reply(self, reply: Reply) -> None:
        self._send(reply.code, reply.body, reply.ctype, reply.headers)

    def _root(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


# -- OSF ----------------------------------------------------------------------------------


class OsfNode:
    """One OSF project's osfstorage in the API v2 JSON:API layout (osfclient's fixtures):
    `files` maps a path in osfstorage ("a.fa", "folder/b.fa") to its bytes (or a file);
    folders are listed where their first file comes, `per_page` items a page.

    Paths answered, relative to `root` (the server's URL + where it is mounted):
      /v2/nodes/<node>/files/osfstorage/[<folder id>/][?page=N]   listing (links.next)
      /download/<file id>/                                        302 to the file server
      /wb/v1/resources/<node>/providers/osfstorage/<file id>      the bytes
    A name in `bad_hash` (file name or path) reports a wrong sha256 in extra.hashes."""

    content_type = "application/vnd.api+json"  # JSON:API

    def __init__(self, node: str, files: dict[str, bytes | Path], per_page: int = 10,
                 bad_hash: set[str] | tuple = ()) -> None:
        self.node = node
        self.files = {p.strip("/"): d for p, d in files.items()}
        self.per_page = per_page
        self.bad_hash = set(bad_hash)

    @staticmethod
    def file_id(path: str) -> str:
        return hashlib.md5(path.encode()).hexdigest()[:24]

    @staticmethod
    def folder_id(path: str) -> str:
        return hashlib.md5(("folder:" + path).encode()).hexdigest()[:24]

    def data(self, path: str) -> bytes:
        value = self.files[path]
        return value if isinstance(value, bytes) else Path(value).read_bytes()

    def _children(self, folder: str) -> list[tuple[str, str]]:
        """('file' | 'folder', path) directly inside `folder` ('' = root), in order."""
        prefix = folder + "/" if folder else ""
        out: dict[tuple[str, str], None] = {}
        for path in self.files:
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            if "/" in rest:
                out[("folder", prefix + rest.split("/", 1)[0])] = None
            else:
                out[("file", path)] = None
        return list(out)

    def _listing_url(self, root: str, folder: str) -> str:
        base = f"{root}/v2/nodes/{self.node}/files/osfstorage/"
        return base + (f"{self.folder_id(folder)}/" if folder else "")

    def _file_item(self, root: str, path: str) -> dict:
        data = self.data(path)
        fid = self.file_id(path)
        name = path.rsplit("/", 1)[-1]
        sha = "f" * 64 if (name in self.bad_hash or path in self.bad_hash) else hashlib.sha256(data).hexdigest()
        return {
            "id": fid, "type": "files",
            "attributes": {"kind": "file", "name": name, "materialized_path": f"/{path}",
                           "path": f"/{fid}", "provider": "osfstorage", "size": len(data),
                           "extra": {"hashes": {"sha256": sha, "md5": hashlib.md5(data).hexdigest()},
                                     "downloads": 0},
                           "current_version": 1, "date_created": "2018-03-01T00:00:00.000000",
                           "date_modified": "2018-03-01T00:00:00.000000"},
            "links": {"info": f"{root}/v2/files/{fid}/", "self": f"{root}/v2/files/{fid}/",
                      "move": f"{root}/wb/v1/resources/{self.node}/providers/osfstorage/{fid}",
                      "upload": f"{root}/wb/v1/resources/{self.node}/providers/osfstorage/{fid}",
                      "delete": f"{root}/wb/v1/resources/{self.node}/providers/osfstorage/{fid}",
                      "download": f"{root}/download/{fid}/",
                      "html": f"https://osf.io/{self.node}/files/osfstorage/{fid}"},
            "relationships": {"node": {"links": {"related": {"href": f"{root}/v2/nodes/{self.node}/",
                                                             "meta": {}}}}},
        }

    def _folder_item(self, root: str, folder: str) -> dict:
        fid = self.folder_id(folder)
        return {
            "id": fid, "type": "files",
            "attributes": {"kind": "folder", "name": folder.rsplit("/", 1)[-1], "materialized_path": f"/{folder}/",
                           "path": f"/{fid}/", "provider": "osfstorage", "size": None,
                           "extra": {"hashes": {"sha256": None, "md5": None}}},
            "links": {"info": f"{root}/v2/files/{fid}/",
                      "new_folder": f"{root}/wb/v1/resources/{self.node}/providers/osfstorage/{fid}/?kind=folder",
                      "upload": f"{root}/wb/v1/resources/{self.node}/providers/osfstorage/{fid}/"},
            "relationships": {"files": {"links": {"related": {"href": self._listing_url(root, folder), "meta": {}}}},
                              "node": {"links": {"related": {"href": f"{root}/v2/nodes/{self.node}/", "meta": {}}}}},
        }

    def _folders(self) -> dict[str, str]:
        """folder id -> folder path, for every folder."""
        folders = {}
        for path in self.files:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                folder = "/".join(parts[:i])
                folders[self.folder_id(folder)] = folder
        return folders

    def answer(self, root: str, path: str, query: dict[str, str]) -> Reply | None:
        """The reply to GET `path` (relative to `root`), or None when it is not this node's."""
        listing = f"/v2/nodes/{self.node}/files/osfstorage/"
        if path.startswith(listing):
            rest = path[len(listing):].strip("/")
            if rest and rest not in self._folders():
                return _json_reply({"errors": [{"detail": "Not found."}]}, 404, self.content_type)
            folder = self._folders().get(rest, "")
            items = [self._file_item(root, p) if kind == "file" else self._folder_item(root, p)
                     for kind, p in self._children(folder)]
            page = max(1, int(query.get("page", "1") or 1))
            url = self._listing_url(root, folder)
            pages = max(1, -(-len(items) // self.per_page))
            doc = {"data": items[(page - 1) * self.per_page: page * self.per_page],
                   "links": {"first": None if page == 1 else url,
                             "last": None if pages == 1 else f"{url}?page={pages}",
                             "prev": None if page == 1 else (url if page == 2 else f"{url}?page={page - 1}"),
                             "next": f"{url}?page={page + 1}" if page < pages else None,
                             "meta": {"total": len(items), "per_page": self.per_page}},
                   "meta": {"version": "2.0"}}
            return _json_reply(doc, 200, self.content_type)
        ids = {self.file_id(p): p for p in self.files}
        if path.startswith("/download/"):
            fid = path[len("/download/"):].strip("/")
            if fid in ids:
                # osf.io/download/<id>/ redirects to the file server, as the real one does
                location = f"{root}/wb/v1/resources/{self.node}/providers/osfstorage/{fid}"
                return Reply(302, b"", "text/html", {"Location": location})
            return None
        storage = f"/wb/v1/resources/{self.node}/providers/osfstorage/"
        if path.startswith(storage) and path[len(storage):].strip("/") in ids:
            return Reply(200, self.data(ids[path[len(storage):].strip("/")]), "application/octet-stream")
        return None


class OsfHandler(JsonApiHandler):
    """api.osf.io/v2 + osf.io/download + files.osf.io stand-in for the nodes in `nodes`,
    mounted at `prefix` (the API is then at <server>/<prefix>/v2)."""

    nodes: tuple[OsfNode, ...] = ()
    prefix = ""
    content_type = OsfNode.content_type

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        if not parts.path.startswith(self.prefix + "/"):
            return self._reply(_json_reply({"errors": [{"detail": "Not found."}]}, 404))
        rel = parts.path[len(self.prefix):]
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        for node in self.nodes:
            reply = node.answer(self._root() + self.prefix, rel, query)
            if reply is not None:
                return self._reply(reply)
        return self._reply(_json_reply({"errors": [{"detail": "Not found."}]}, 404, self.content_type))


# -- NCBI Datasets v2 and the genomes FTP ---------------------------------------------------


# What filters.reference_only=true keeps: NCBI documents it as "only return reference and
# representative (GCF_ and GCA_) genome assemblies".
REFERENCE_CATEGORIES = ("reference genome", "representative genome")


def ncbi_report(accession: str, organism: str, asm: str, level: str, category: str | None, released: str,
                tax_id: int = 1, *, length: int = 5_000_000, contigs: int = 10, strain: str | None = None) -> dict:
    """One genome assembly report of NCBI Datasets v2 (v2reportsAssemblyDataReport)."""
    info = {"assembly_level": level, "assembly_status": "current", "assembly_name": asm,
            "assembly_type": "haploid", "bioproject_accession": "PRJNA224116", "release_date": released,
            "submitter": "Test Center", "paired_assembly": {"accession": "GCA_" + accession[4:], "status": "current"}}
    if category:
        info["refseq_category"] = category
    organism_info = {"tax_id": tax_id, "organism_name": organism}
    if strain:
        organism_info["infraspecific_names"] = {"strain": strain}
    return {"accession": accession, "current_accession": accession, "paired_accession": "GCA_" + accession[4:],
            "source_database": "SOURCE_DATABASE_REFSEQ" if accession.startswith("GCF_") else "SOURCE_DATABASE_GENBANK",
            "organism": organism_info,
            "assembly_info": info,
            "assembly_stats": {"total_number_of_chromosomes": 1, "total_sequence_length": str(length),
                               "number_of_contigs": contigs, "gc_percent": 50.5}}


def dataset_report_answer(reports: dict[str, list[dict]], path: str, query: dict[str, str],
                          max_page_size: int = 1000) -> Reply | None:
    """GET <datasets/v2>`path`: genome/taxon/<taxon>/dataset_report or
    genome/accession/<accession>/dataset_report, with filters.reference_only,
    filters.assembly_source, tax_exact_match, page_size and page_token; at most
    `max_page_size` reports a page. An unknown taxon answers 400 as NCBI does. None when
    `path` is not a dataset_report."""
    segs = path.strip("/").split("/")
    if len(segs) != 4 or segs[0] != "genome" or segs[3] != "dataset_report" or segs[1] not in ("taxon", "accession"):
        return None
    by, key = segs[1], urllib.parse.unquote(segs[2])
    if by == "taxon":
        if key not in reports:
            body = {"error": "Bad Request", "code": 400,
                    "message": f"Invalid taxon: '{key}' is not a recognized taxonomic name"}
            return _json_reply(body, 400)
        found = reports[key]
        if query.get("filters.reference_only") == "true":
            found = [r for r in found if str(r["assembly_info"].get("refseq_category", "")).lower()
                     in REFERENCE_CATEGORIES]
        if query.get("tax_exact_match") == "true":
            found = [r for r in found if r["organism"]["organism_name"] == key]
    else:
        found = [r for rs in reports.values() for r in rs if r["accession"] == key]
        found = list({r["accession"]: r for r in found}.values())
    if query.get("filters.assembly_source") == "refseq":
        found = [r for r in found if r["accession"].startswith("GCF_")]
    size = min(int(query.get("page_size", 20)), max_page_size)
    start = int(query.get("page_token", "0"))
    doc = {"reports": found[start:start + size], "total_count": len(found)} if found else {}
    if start + size < len(found):
        doc["next_page_token"] = str(start + size)
    return _json_reply(doc)


def ncbi_ftp_path(accession: str, assembly_name: str) -> str:
    """GCF/ddd/ddd/ddd/<acc>_<asm>/<acc>_<asm>_genomic.fna.gz: the path under genomes/all
    (the layout genomic_ulmfit.sources.ncbi_ftp_url builds on)."""
    m = re.match(r"^(GC[AF])_(\d{3})(\d{3})(\d{3})\.\d+$", accession)
    if not m:
        raise ValueError(f"not an assembly accession: {accession!r}")
    stem = f"{accession}_{re.sub(r'[^A-Za-z0-9._-]', '_', assembly_name)}"
    return f"{m[1]}/{m[2]}/{m[3]}/{m[4]}/{stem}/{stem}_genomic.fna.gz"


class DatasetsHandler(JsonApiHandler):
    """api.ncbi.nlm.nih.gov/datasets/v2 (dataset_report, see dataset_report_answer) at
    `datasets_prefix` and ftp.ncbi.nlm.nih.gov/genomes/all at `genomes` (full request path
    -> bytes). Every request path is appended to `calls`."""

    reports: dict[str, list[dict]] = {}
    genomes: dict[str, bytes] = {}
    calls: list[str] = []
    datasets_prefix = "/datasets/v2"
    max_page_size = 2

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        self.calls.append(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        if parts.path.startswith(self.datasets_prefix + "/"):
            reply = dataset_report_answer(self.reports, parts.path[len(self.datasets_prefix):], q, self.max_page_size)
            if reply is not None:
                return self._reply(reply)
        if parts.path in self.genomes:
            return self._send(200, self.genomes[parts.path], "application/octet-stream")
        return self._send(404, b"Not Found", "text/plain")


# =========================================================================== sequences


_COMPLEMENT = str.maketrans("ACGTacgtNn", "TGCAtgcaNn")
_BASES = np.array(list("ACGT"))


def _revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def _rng(*keys: object) -> np.random.Generator:
    """A generator seeded by the keys (stable across runs and Python versions)."""
    return np.random.default_rng([zlib.crc32(str(k).encode()) for k in keys])


def _random_dna(rng: np.random.Generator, n: int, gc: float = 0.42) -> str:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(_BASES[rng.choice(4, size=n, p=p)])


def _mutate(seq: str, rate: float, rng: np.random.Generator) -> str:
    """`seq` with a fraction `rate` of its ACGT bases substituted by another base."""
    arr = np.frombuffer(seq.encode(), dtype=np.uint8).copy()
    hit = (rng.random(arr.size) < rate) & np.isin(arr, np.frombuffer(b"ACGT", dtype=np.uint8))
    codes = np.frombuffer(b"ACGT", dtype=np.uint8)
    idx = np.searchsorted(codes, arr[hit])
    arr[hit] = codes[(idx + rng.integers(1, 4, size=idx.size)) % 4]
    return arr.tobytes().decode()


def _soft_mask(seq: str, rng: np.random.Generator, fraction: float = 0.08) -> str:
    """Lowercase runs of 80-400 bases (NCBI's soft-masked repeats), about `fraction` of it."""
    chars = list(seq)
    for _ in range(int(len(seq) * fraction / 240)):
        start = int(rng.integers(0, max(1, len(seq) - 400)))
        end = start + int(rng.integers(80, 400))
        chars[start:end] = [c.lower() for c in chars[start:end]]
    return "".join(chars)


def _fasta_text(records: list[tuple[str, str]], width: int | None = 80) -> str:
    out = []
    for header, seq in records:
        out.append(f">{header}\n")
        if width:
            out.extend(seq[i:i + width] + "\n" for i in range(0, len(seq), width))
        else:
            out.append(seq + "\n")
    return "".join(out)


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


def _read_fasta(path: Path) -> dict[str, str]:
    """name -> sequence (uppercase) of a (gzipped) FASTA."""
    from genomic_ulmfit.fasta import iter_fasta_records

    return {r.name: r.sequence.upper() for r in iter_fasta_records(path)}


def _read_fasta_records(path: Path) -> list[tuple[str, str, str]]:
    from genomic_ulmfit.fasta import iter_fasta_records

    return [(r.name, r.header, r.sequence.upper()) for r in iter_fasta_records(path)]


@dataclass
class _Tss:
    chrom: str
    pos: int        # 0-based position of the TSS base
    strand: str
    gene: str


def _gff_mrna_tss(path: Path) -> list[_Tss]:
    """Distinct 5' ends of the mRNA features of a GFF3 (gene = the Parent), in file order."""
    seen, out = set(), []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) != 9 or f[2] != "mRNA" or f[6] not in "+-":
                continue
            pos = int(f[3]) - 1 if f[6] == "+" else int(f[4]) - 1
            if (f[0], pos, f[6]) in seen:
                continue
            seen.add((f[0], pos, f[6]))
            attrs = dict(kv.split("=", 1) for kv in f[8].split(";") if "=" in kv)
            gene = attrs.get("Parent") or attrs.get("ID") or f"{f[0]}_{pos}"
            out.append(_Tss(f[0], pos, f[6], gene.split(",")[0]))
    return out


def _gff_genes(path: Path) -> list[tuple[str, int, int, str]]:
    """(chrom, start 0-based, end, strand) of the gene features of a GFF3."""
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if len(f) == 9 and f[2] == "gene" and f[6] in "+-":
                out.append((f[0], int(f[3]) - 1, int(f[4]), f[6]))
    return out


def _window(seq: str, start: int, end: int, strand: str) -> str | None:
    if start < 0 or end > len(seq):
        return None
    w = seq[start:end].upper()
    if not re.fullmatch(r"[ACGT]+", w):
        return None
    return w if strand == "+" else _revcomp(w)


# =========================================================================== the stand-ins


@dataclass
class PaperStandIns:
    """What build_paper_mirror wrote and what the server needs.

    mirror: the mirror directory (each source at its mirror_path).
    sources: the used source entries, name -> entry.
    provided: name -> how it is provided: "shared" (a link to the real data), "stand-in"
      (a file in the mirror), "archive" (a member: its archive is in the mirror), "osf" or
      "ncbi" (served by the API stand-ins only).
    expected: name -> the file (under `root`) whose bytes a fetch of the source must give
      (for a member: the member itself; for osf / ncbi: the served file), and for ncbi the
      accession / assembly_name the resolver must pick.
    osf_files: node -> {path in osfstorage: file}; ncbi_reports: taxon -> dataset reports;
    ncbi_files: path under genomes/all -> file.
    """

    root: Path
    mirror: Path
    sources: dict[str, dict] = field(default_factory=dict)
    provided: dict[str, str] = field(default_factory=dict)
    expected: dict[str, dict] = field(default_factory=dict)
    osf_files: dict[str, dict[str, Path]] = field(default_factory=dict)
    ncbi_reports: dict[str, list[dict]] = field(default_factory=dict)
    ncbi_files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    MANIFEST = "standins.json"

    def expected_file(self, name: str) -> Path:
        return self.root / self.expected[name]["file"]

    def save(self) -> Path:
        doc = {
            "sources": self.sources, "provided": self.provided, "expected": self.expected,
            "osf_files": {n: {p: str(f.relative_to(self.root)) for p, f in fs.items()} for n, fs in self.osf_files.items()},
            "ncbi_reports": self.ncbi_reports,
            "ncbi_files": {p: str(f.relative_to(self.root)) for p, f in self.ncbi_files.items()},
            "seconds": self.seconds,
        }
        path = self.root / self.MANIFEST
        path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, root: str | os.PathLike[str]) -> PaperStandIns:
        """The stand-ins a build_paper_mirror(out=root) wrote, from its manifest."""
        root = Path(root)
        doc = json.loads((root / cls.MANIFEST).read_text())
        return cls(root=root, mirror=root / "mirror", sources=doc["sources"], provided=doc["provided"],
                   expected=doc["expected"],
                   osf_files={n: {p: root / f for p, f in fs.items()} for n, fs in doc["osf_files"].items()},
                   ncbi_reports=doc["ncbi_reports"],
                   ncbi_files={p: root / f for p, f in doc["ncbi_files"].items()}, seconds=doc.get("seconds", 0.0))

    def mirror_files(self) -> dict[str, int]:
        """mirror_path -> size in bytes of everything in the mirror (links followed)."""
        return {str(p.relative_to(self.mirror)): p.stat().st_size
                for p in sorted(self.mirror.rglob("*")) if p.is_file()}


class _Builder:
    """Writes the stand-ins; each group of sources is built once, from the shared data."""

    def __init__(self, shared: Path, out: Path, sources: dict, uses: dict) -> None:
        self.shared = Path(shared)
        self.out = Path(out)
        self.sources = sources
        self.uses = uses
        self.st = PaperStandIns(root=self.out, mirror=self.out / "mirror")
        self._cache: dict[str, object] = {}

    # -- small helpers --------------------------------------------------------------------

    def shared_file(self, rel: str) -> Path:
        path = self.shared / rel
        if not path.is_file():
            raise FileNotFoundError(f"{path}: needed to build the paper stand-ins; expected the shared real data "
                                    f"(see its README.md / MANIFEST.tsv)")
        return path

    def write(self, rel: str, data: bytes | str, under: str = "mirror") -> Path:
        path = self.out / under / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def put(self, name: str, data: bytes | str, how: str = "stand-in") -> Path:
        """The stand-in of a plain source, at its mirror_path."""
        path = self.write(self.sources[name]["mirror_path"], data)
        self.st.provided[name] = how
        self.st.expected[name] = {"file": str(path.relative_to(self.out))}
        return path

    def genome(self, organism: str) -> dict[str, str]:
        key = f"genome:{organism}"
        if key not in self._cache:
            self._cache[key] = _read_fasta(self.shared_file(f"model_organisms/{organism}.fa.gz"))
        return self._cache[key]

    def ecoli(self) -> str:
        if "ecoli" not in self._cache:
            path = self.shared_file("ncbi/genomes/all/GCF/000/005/845/GCF_000005845.2_ASM584v2/"
                                    "GCF_000005845.2_ASM584v2_genomic.fna.gz")
            self._cache["ecoli"] = next(iter(_read_fasta(path).values()))
        return self._cache["ecoli"]

    # -- bacteria -------------------------------------------------------------------------

    def _bacterial_slice(self, index: int, rng: np.random.Generator, length: int) -> str:
        ecoli = self.ecoli()
        stride = (len(ecoli) - 40_000) // 64
        start = (index % 64) * stride + int(rng.integers(0, 5_000))
        return _mutate(ecoli[start:start + length], float(rng.uniform(0.08, 0.12)), rng)

    def bacterial_records(self, key: str, index: int, organism: str, level: str, prefix: str) -> list[tuple[str, str]]:
        """FASTA records (header, sequence) of one bacterial genome stand-in."""
        rng = _rng("bacterium", key)
        acc = int(rng.integers(10_000, 999_999))
        if level in ("Complete Genome", "Chromosome"):
            records = [(f"{prefix}{acc:06d}.1 {organism} chromosome, complete genome",
                        self._bacterial_slice(index, rng, int(rng.integers(20_000, 30_000))))]
            if rng.random() < 0.35:
                records.append((f"{prefix}{acc + 1:06d}.1 {organism} plasmid p{key[:3].upper()}1, complete sequence",
                                self._bacterial_slice(index + 31, rng, int(rng.integers(3_000, 8_000)))))
        else:
            wgs = "".join(chr(65 + int(c)) for c in rng.integers(0, 26, size=4))
            records = [(f"NZ_{wgs}01{i:06d}.1 {organism} contig{i:05d}, whole genome shotgun sequence",
                        self._bacterial_slice(index + 17 * (i - 1), rng, int(rng.integers(10_000, 16_000))))
                       for i in (1, 2)]
        # an assembly gap in some genomes, as NCBI writes it (a run of N)
        if rng.random() < 0.3:
            header, seq = records[0]
            at = len(seq) // 3
            records[0] = (header, seq[:at] + "N" * 100 + seq[at + 100:])
        return records

    def plain_bacterium(self, name: str, index: int) -> None:
        entry = self.sources[name]
        desc = str(entry.get("description") or name)
        organism = re.sub(r"\s*\([^)]*\)", "", desc.split(", bacterial ensemble")[0]).strip() or name
        records = self.bacterial_records(name, index, organism, "Complete Genome", "NC_")
        self.put(name, _gzip(_fasta_text(records).encode()))

    def ncbi_bacteria(self, names: list[str]) -> None:
        """Datasets reports for every taxon and, at its FTP path, the genome the resolver
        should pick."""
        levels = ("Complete Genome", "Chromosome", "Scaffold", "Contig")
        for i, name in enumerate(names):
            spec = self.sources[name]["ncbi_genome"]
            taxon = spec.get("taxon") or spec["accession"]
            rng = _rng("taxon", taxon)
            tax_id = 1_000_000 + int(rng.integers(0, 8_000_000))
            base = 20_000_000 + i * 10_000

            def acc(j: int, db: str = "GCF", version: int = 1) -> str:
                return f"{db}_{base + j * 37:09d}.{version}"

            def asm(j: int) -> str:
                return f"ASM{(base + j * 37) // 100 % 10_000_000}v{1 + j % 2}"

            pattern = "many" if taxon.endswith(" sp.") else ("reference", "no_reference", "single", "representative")[i % 4]
            if pattern == "reference":
                reports = [
                    ncbi_report(acc(1), taxon, asm(1), "Complete Genome", "reference genome", "2016-05-12", tax_id),
                    ncbi_report(acc(1, "GCA"), taxon, asm(1), "Complete Genome", None, "2016-05-12", tax_id),
                    ncbi_report(acc(2), taxon, asm(2), "Contig", None, "2022-11-03", tax_id),
                ]
                pick = reports[0]
            elif pattern == "representative":
                reports = [
                    ncbi_report(acc(1), taxon, asm(1), "Complete Genome", None, "2023-02-01", tax_id),
                    ncbi_report(acc(2), taxon, asm(2), "Chromosome", "representative genome", "2019-08-20", tax_id),
                    ncbi_report(acc(2, "GCA"), taxon, asm(2), "Chromosome", None, "2019-08-20", tax_id),
                ]
                pick = reports[1]
            elif pattern == "single":  # an assembly name with a space, as some submitters write it
                own = f"{taxon.split()[-1]} v1.0"
                reports = [
                    ncbi_report(acc(1, "GCA"), taxon, own, "Contig", None, "2017-03-30", tax_id),
                    ncbi_report(acc(1), taxon, own, "Contig", None, "2017-03-30", tax_id, contigs=2),
                ]
                pick = reports[1]
            else:  # no reference: exact-name RefSeq assemblies, a GenBank-only one, a child taxon
                n = 6 if pattern == "many" else 2
                reports = [ncbi_report(acc(j), taxon, asm(j), levels[2 + j % 2], None, f"20{14 + j}-0{1 + j % 9}-15",
                                       tax_id, contigs=20 + j) for j in range(1, n + 1)]
                reports.append(ncbi_report(acc(n + 1, "GCA"), taxon, asm(n + 1), "Complete Genome", None,
                                           "2023-06-01", tax_id))
                reports.append(ncbi_report(acc(n + 2), f"{taxon} strain X{i}", asm(n + 2), "Complete Genome", None,
                                           "2024-01-10", tax_id + 1, strain=f"X{i}"))
                scaffolds = [r for r in reports[:n] if r["assembly_info"]["assembly_level"] == "Scaffold"]
                pick = max(scaffolds, key=lambda r: r["assembly_info"]["release_date"])
            order = list(rng.permutation(len(reports)))
            reports = [reports[j] for j in order]
            self.st.ncbi_reports[taxon] = reports
            a, n_ = pick["accession"], pick["assembly_info"]["assembly_name"]
            level = pick["assembly_info"]["assembly_level"]
            records = self.bacterial_records(name, 15 + i, taxon, level, "NZ_CP")
            rel = ncbi_ftp_path(a, n_)
            path = self.write(rel, _gzip(_fasta_text(records).encode()), under="api/ncbi_ftp/genomes/all")
            self.st.ncbi_files[rel] = path
            self.st.provided[name] = "ncbi"
            self.st.expected[name] = {"file": str(path.relative_to(self.out)), "accession": a, "assembly_name": n_,
                                      "ftp_path": rel}

    # -- human ----------------------------------------------------------------------------

    _HUMAN = (  # A. thaliana slice -> GRCh38 chromosome
        ("Chr1", "1", "assembled-molecule", "1", "Chromosome", "CM000663.2", "NC_000001.11", "Primary Assembly", "chr1"),
        ("Chr2", "2", "assembled-molecule", "2", "Chromosome", "CM000664.2", "NC_000002.12", "Primary Assembly", "chr2"),
        ("Chr3", "3", "assembled-molecule", "3", "Chromosome", "CM000665.2", "NC_000003.12", "Primary Assembly", "chr3"),
        ("Chr4", "4", "assembled-molecule", "4", "Chromosome", "CM000666.2", "NC_000004.12", "Primary Assembly", "chr4"),
        ("Chr5", "5", "assembled-molecule", "5", "Chromosome", "CM000667.2", "NC_000005.10", "Primary Assembly", "chr5"),
        ("ChrM", "MT", "assembled-molecule", "MT", "Mitochondrion", "J01415.2", "NC_012920.1", "non-nuclear", "chrM"),
        ("ChrC", "HSCHR1_RANDOM_CTG5", "unlocalized-scaffold", "1", "Chromosome", "KI270706.1", "NT_187361.1",
         "Primary Assembly", "chr1_KI270706v1_random"),
    )
    _HUMAN_ALT = ("HSCHR1_1_CTG3", "alt-scaffold", "1", "Chromosome", "KI270762.1", "NW_011332687.1",
                  "ALT_REF_LOCI_1", "chr1_KI270762v1_alt")

    def human(self) -> dict:
        """The human stand-in: records (header, seq), plain names -> seq, TSSs on them."""
        if "human" in self._cache:
            return self._cache["human"]
        ath = self.genome("A.thaliana")
        rng = _rng("human")
        records, seqs = [], {}
        for src, seq_name, role, mol, loc, gb, rs, unit, ucsc in self._HUMAN:
            seq = ath[src]
            if role == "assembled-molecule" and mol != "MT":
                header = f"{rs} Homo sapiens chromosome {mol}, GRCh38.p12 Primary Assembly"
            elif mol == "MT":
                header = f"{rs} Homo sapiens mitochondrion, complete genome"
            else:
                header = f"{rs} Homo sapiens chromosome {mol} unlocalized genomic scaffold, GRCh38.p12 Primary " \
                         f"Assembly {seq_name}"
            records.append((header, _soft_mask(seq, rng)))
            seqs[rs] = seq
        alt = _mutate(ath["Chr1"][50_000:70_000], 0.01, rng)
        records.append((f"{self._HUMAN_ALT[5]} Homo sapiens chromosome 1 genomic scaffold, GRCh38.p12 alternate "
                        f"locus group {self._HUMAN_ALT[6]} {self._HUMAN_ALT[0]}", _soft_mask(alt, rng)))
        seqs[self._HUMAN_ALT[5]] = alt
        to_nc = {row[0]: row[6] for row in self._HUMAN if row[6].startswith("NC_") and row[1] != "MT"}
        tss = [_Tss(to_nc[t.chrom], t.pos, t.strand, t.gene)
               for t in _gff_mrna_tss(self.shared_file("model_organisms/A.thaliana.gff.gz")) if t.chrom in to_nc]
        genes = [(to_nc[c], s, e, st) for c, s, e, st in _gff_genes(self.shared_file("model_organisms/A.thaliana.gff.gz"))
                 if c in to_nc]
        self._cache["human"] = {"records": records, "seqs": seqs, "tss": tss, "genes": genes}
        return self._cache["human"]

    def human_genome(self, name: str) -> None:
        self.put(name, _gzip(_fasta_text(self.human()["records"]).encode()))

    def human_report(self, name: str) -> None:
        seqs = self.human()["seqs"]
        lines = [
            "# Assembly name:  GRCh38.p12",
            "# Description:    Genome Reference Consortium Human Build 38 patch release 12 (GRCh38.p12)",
            "# Organism name:  Homo sapiens (human)",
            "# Taxid:          9606",
            "# BioProject:     PRJNA31257",
            "# Submitter:      Genome Reference Consortium",
            "# Date:           2017-12-21",
            "# Assembly type:  haploid-with-alt-loci",
            "# Release type:   patch",
            "# Assembly level: Chromosome",
            "# Genome representation: full",
            "# RefSeq category: Reference Genome",
            "# GenBank assembly accession: GCA_000001405.27",
            "# RefSeq assembly accession: GCF_000001405.38",
            "# RefSeq assembly and GenBank assemblies identical: no",
            "#",
            "## Assembly-Units:",
            "## GenBank Unit Accession\tRefSeq Unit Accession\tAssembly-Unit name",
            "## GCA_000001305.2\tGCF_000001305.14\tPrimary Assembly",
            "## GCA_000001315.2\tGCF_000001315.2\tALT_REF_LOCI_1",
            "## GCA_000001325.2\tGCF_000001325.2\tnon-nuclear",
            "#",
            "# Ordered by chromosome/plasmid; the chromosomes/plasmids are followed by",
            "# unlocalized scaffolds.",
            "# Unplaced scaffolds are listed at the end.",
            "# RefSeq is equal or derived from GenBank object.",
            "#",
            "# Sequence-Name\tSequence-Role\tAssigned-Molecule\tAssigned-Molecule-Location/Type\tGenBank-Accn\t"
            "Relationship\tRefSeq-Accn\tAssembly-Unit\tSequence-Length\tUCSC-style-name",
        ]
        for _, seq_name, role, mol, loc, gb, rs, unit, ucsc in self._HUMAN:
            lines.append("\t".join([seq_name, role, mol, loc, gb, "=", rs, unit, str(len(seqs[rs])), ucsc]))
        seq_name, role, mol, loc, gb, rs, unit, ucsc = self._HUMAN_ALT
        lines.append("\t".join([seq_name, role, mol, loc, gb, "=", rs, unit, str(len(seqs[rs])), ucsc]))
        # a GenBank-only unplaced scaffold: RefSeq-Accn na (the name map skips it)
        lines.append("\t".join(["HSCHRUN_RANDOM_CTG29", "unplaced-scaffold", "na", "na", "KI270302.1", "<>", "na",
                                "Primary Assembly", "2274", "chrUn_KI270302v1"]))
        self.put(name, ("\r\n".join(lines) + "\r\n").encode())  # NCBI writes its reports with CRLF

    def epdnew_sga(self, name: str) -> None:
        used: dict[str, int] = {}
        rows = []
        for t in sorted(self.human()["tss"], key=lambda t: (t.chrom, t.pos)):
            used[t.gene] = used.get(t.gene, 0) + 1
            rows.append(f"{t.chrom}\tTSS\t{t.pos + 1}\t{t.strand}\t1\t{t.gene}_{used[t.gene]}\n")
        self.put(name, "".join(rows))

    def cnn_human(self, name: str, kind: str) -> None:
        human = self.human()
        seqs = human["seqs"]
        rng = _rng("cnn_human", kind)
        if kind == "prom":
            records, seen = [], set()
            for t in human["tss"]:
                start, end = (t.pos - 200, t.pos + 51) if t.strand == "+" else (t.pos - 50, t.pos + 201)
                w = _window(seqs[t.chrom], start, end, t.strand)
                if w and w not in seen:
                    seen.add(w)
                    records.append((f"{t.gene}_1__{t.chrom}__{'forward' if t.strand == '+' else 'reverse'}__"
                                    f"{t.pos + 1}", w))
            keep = sorted(rng.choice(len(records), size=min(250, len(records)), replace=False))
            self.put(name, _fasta_text([records[i] for i in keep], width=60))
            return
        # non-promoters: 251 nt from gene bodies after the first exon (here: >= 400 nt past the
        # gene's start), on the gene's strand
        records, seen = [], set()
        ids = rng.permutation(9000)[:1000] + 1
        for chrom, start, end, strand in human["genes"]:
            for offset in (400, 1400):
                if end - start < offset + 400:
                    continue
                a = start + offset if strand == "+" else end - offset - 251
                w = _window(seqs[chrom], a, a + 251, strand)
                if w and w not in seen and len(records) < 300:
                    seen.add(w)
                    records.append((f" {ids[len(records)]}", w))
        self.put(name, _fasta_text(records, width=None))

    # -- primates -------------------------------------------------------------------------

    _PRIMATES = {
        "chimp_pantro3_fna": ("Pan troglodytes", "Pan_tro 3.0", "isolate Yerkes chimp pedigree #C0471 (Clint) ",
                              [("C.elegans", "I", "NC_006468.4", "1"), ("C.elegans", "II", "NC_006469.4", "2A"),
                               ("C.elegans", "III", "NC_006470.4", "2B")], ("C.elegans", "X", "NW_003456791.1")),
        "bonobo_panpan1_fna": ("Pan paniscus", "panpan1.1", "",
                               [("D.melanogaster", "2L", "NC_027868.1", "1"), ("D.melanogaster", "3L", "NC_027869.1", "2A"),
                                ("D.melanogaster", "X", "NC_027870.1", "2B")], ("D.melanogaster", "3R", "NW_014024305.1")),
        "gorilla_gorgor4_fna": ("Gorilla gorilla gorilla", "gorGor4", "isolate Kamilah ",
                                [("C.elegans", "IV", "NC_018425.2", "1"), ("C.elegans", "V", "NC_018426.2", "2A"),
                                 ("D.melanogaster", "2R", "NC_018427.2", "2B")], ("C.elegans", "II", "NW_017296912.1")),
    }

    def primate(self, name: str) -> None:
        if name not in self._PRIMATES:
            raise ValueError(f"no primate stand-in for source {name!r}; add it to _Builder._PRIMATES")
        organism, assembly, isolate, chroms, unplaced = self._PRIMATES[name]
        rng = _rng("primate", name)
        records = []
        for org, src, acc, chrom in chroms:
            seq = _mutate(self.genome(org)[src][:40_000], 0.02, rng)
            records.append((f"{acc} {organism} {isolate}chromosome {chrom}, {assembly}, whole genome shotgun sequence",
                            _soft_mask(seq, rng)))
        org, src, acc = unplaced
        seq = _mutate(self.genome(org)[src][60_000:70_000], 0.02, rng)
        records.append((f"{acc} {organism} {isolate}unplaced genomic scaffold, {assembly} chrUn_{acc.split('.')[0]}, "
                        f"whole genome shotgun sequence", _soft_mask(seq, rng)))
        self.put(name, _gzip(_fasta_text(records).encode()))

    # -- archives -------------------------------------------------------------------------

    @staticmethod
    def _tgz(files: dict[str, bytes], mtime: int = 1_525_132_800, owner: tuple[str, str] = ("tommy", "staff")) -> bytes:
        """A deterministic .tgz (directory entries first, fixed mtime / owner)."""
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
            dirs = sorted({"/".join(n.split("/")[:i]) for n in files for i in range(1, n.count("/") + 1)})
            for d in dirs:
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime, (info.uname, info.gname) = tarfile.DIRTYPE, 0o755, mtime, owner
                tar.addfile(info)
            for n, data in files.items():
                info = tarfile.TarInfo(n)
                info.size, info.mode, info.mtime, (info.uname, info.gname) = len(data), 0o644, mtime, owner
                tar.addfile(info, io.BytesIO(data))
        return _gzip(raw.getvalue())

    @staticmethod
    def _zip(files: dict[str, bytes]) -> bytes:
        raw = io.BytesIO()
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for n, data in files.items():
                info = zipfile.ZipInfo(n, date_time=(2017, 6, 7, 12, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        return raw.getvalue()

    def put_archive(self, names: list[str], files: dict[str, bytes], fmt: str) -> None:
        """One archive holding `files` at the mirror_path of the member sources `names`; each
        must name a member of it (at the root, or under its one top-level folder)."""
        paths = {self.sources[n]["mirror_path"] for n in names}
        if len(paths) != 1:
            raise ValueError(f"member sources of one archive name different mirror paths: {sorted(paths)}")
        data = self._tgz(files) if fmt == "tgz" else self._zip(files)
        archive = self.write(paths.pop(), data)
        tops = {n.split("/", 1)[0] for n in files}
        for n in names:
            member = self.sources[n]["member"].strip("/")
            found = member if member in files else (f"{next(iter(tops))}/{member}" if len(tops) == 1 else None)
            if found not in files:
                raise ValueError(f"source {n!r}: member {member!r} is not in the stand-in {archive.name}")
            copy = self.write(f"{archive.name}/{found}", files[found], under="members")
            self.st.provided[n] = "archive"
            self.st.expected[n] = {"file": str(copy.relative_to(self.out)), "archive": str(archive.relative_to(self.out)),
                                   "member": found}

    _LIVER_MOTIFS = ("GGTCAAAGGTCA", "ATTGCGCAAT", "TGTTTACTTAG", "GTTAATCATTAAC", "TGACTCA")

    def enhancers(self, names: list[str]) -> None:
        """enhancer_CNN's Enhancers_vs_negative.tgz."""
        species = {"Human": ("A.thaliana", 150), "Mouse": ("C.elegans", 150), "Dog": ("D.melanogaster", 150),
                   "Opossum": ("A.thaliana", 150), "Cow": ("C.elegans", 60), "Rat": ("D.melanogaster", 60),
                   "Macaque": ("A.thaliana", 60)}
        for n in names:  # a species the config names but the table lacks: a full-size one
            species.setdefault(self.sources[n]["member"].split("/")[0], ("C.elegans", 150))
        top = "Enhancers_vs_negative"
        files: dict[str, bytes] = {}
        peaks = []
        for sp, (org, count) in species.items():
            genome = self.genome(org)
            tss = [t for t in _gff_mrna_tss(self.shared_file(f"model_organisms/{org}.gff.gz")) if t.chrom in genome]
            rng = _rng("enhancer", sp)
            pos, neg = [], []
            while len(pos) < count:
                t = tss[int(rng.integers(len(tss)))]
                a = t.pos + int(rng.integers(-1500, 1000))
                w = _window(genome[t.chrom], a, a + 500, "+-"[int(rng.integers(2))])
                if not w:
                    continue
                w = list(_mutate(w, 0.03, rng))
                for _ in range(int(rng.integers(2, 5))):
                    m = self._LIVER_MOTIFS[int(rng.integers(len(self._LIVER_MOTIFS)))]
                    at = int(rng.integers(0, 500 - len(m)))
                    w[at:at + len(m)] = m
                pos.append("".join(w))
            chroms = [c for c in genome if len(genome[c]) > 20_000]
            starts = {c: np.array(sorted(t.pos for t in tss if t.chrom == c)) for c in chroms}
            while len(neg) < count:
                c = chroms[int(rng.integers(len(chroms)))]
                a = int(rng.integers(0, len(genome[c]) - 500))
                near = starts[c]
                if near.size and np.min(np.abs(near - (a + 250))) < 2_000:
                    continue
                w = _window(genome[c], a, a + 500, "+-"[int(rng.integers(2))])
                if w:
                    neg.append(_mutate(w, 0.03, rng))
            files[f"{top}/{sp}/positive_samples"] = ("\n".join(pos) + "\n").encode()
            files[f"{top}/{sp}/negative_samples"] = ("\n".join(neg) + "\n").encode()
            peaks.append((sp, pos[:5]))
        for sp, seqs in peaks:
            files[f"{top}/peaks_fasta_files/{sp}_liver_H3K27ac_peaks.fa"] = _fasta_text(
                [(f"chr{i + 1}:{10_000 * (i + 1)}-{10_000 * (i + 1) + 500}", s) for i, s in enumerate(seqs)],
                width=None).encode()
        self.put_archive(names, files, "tgz")

    def _grinder_references(self) -> tuple[list[tuple[str, str, str]], list[str]]:
        """(id, description, sequence) of the 16S sequences of 10 genera, and the genera."""
        if "16s" not in self._cache:
            recs = _read_fasta_records(self.shared_file("metagenomicdc/1000seq.fasta"))
            by_genus: dict[str, list] = {}
            for rid, header, seq in recs:
                desc = header.split(maxsplit=1)[1]
                by_genus.setdefault(desc.split()[-1], []).append((rid, desc, seq))
            genera = sorted(by_genus)
            rng = _rng("16s")
            chosen = [genera[i] for i in sorted(rng.choice(len(genera), size=10, replace=False))]
            self._cache["16s"] = ([r for g in chosen for r in by_genus[g]], chosen)
        return self._cache["16s"]

    _FWD = re.compile("CCTACGGGAGGCAGCAG")
    _REV_RC = re.compile("ACT[CT]AAA[GT]GAATTGACGG")  # reverse complement of CCGTCAATTCMTTTRAGT

    @staticmethod
    def _errors(read: str, rng: np.random.Generator, rate: float, n_rate: float) -> tuple[str, str]:
        """Substitutions (and sometimes one N) in Grinder's notation: errors=12%A,300%N."""
        chars, errs = list(read), []
        for i in np.flatnonzero(rng.random(len(chars)) < rate):
            new = "ACGT"[("ACGT".index(chars[i]) + int(rng.integers(1, 4))) % 4] if chars[i] in "ACGT" else "A"
            chars[i] = new
            errs.append(f"{i + 1}%{new}")
        if rng.random() < n_rate:
            i = int(rng.integers(len(chars)))
            chars[i] = "N"
            errs.append(f"{i + 1}%N")
        return "".join(chars), ",".join(sorted(errs, key=lambda e: int(e.split("%")[0])))

    def grinder_reads(self, mode: str) -> bytes:
        refs, genera = self._grinder_references()
        rng = _rng("grinder", mode)
        reads = []
        for genus in genera:
            pool = [r for r in refs if r[1].split()[-1] == genus]
            if mode == "amplicon":
                pool = [r for r in pool if self._FWD.search(r[2]) and self._REV_RC.search(r[2])] or pool
            for _ in range(30):
                rid, desc, seq = pool[int(rng.integers(len(pool)))]
                if mode == "amplicon":
                    f, r = self._FWD.search(seq), self._REV_RC.search(seq)
                    a, b = (f.start(), r.end()) if f and r and r.end() > f.start() + 450 else (0, len(seq))
                    length = min(int(rng.integers(400, 451)), b - a)
                    read = seq[a:a + length]
                    fields = f"amplicon={a + 1}..{b} position=1..{length}"
                    read, errors = self._errors(read, rng, 0.004, 0.05)
                else:
                    length = 250
                    a = int(rng.integers(0, len(seq) - length))
                    read = seq[a:a + length]
                    if rng.random() < 0.5:
                        read = _revcomp(read)
                        fields = f"position=complement({a + 1}..{a + length})"
                    else:
                        fields = f"position={a + 1}..{a + length}"
                    read, errors = self._errors(read, rng, 0.006, 0.08)
                header = f"reference={rid} {fields}" + (f" errors={errors}" if errors else "") + f' description="{desc}"'
                reads.append((header, read))
        order = rng.permutation(len(reads))
        return _fasta_text([(f"{k + 1} {reads[j][0]}", reads[j][1]) for k, j in enumerate(order)], width=None).encode()

    def metagenomic_zip(self, names: list[str]) -> None:
        members = {self.sources[n]["member"] for n in names}
        (member,) = members
        mode = "amplicon" if "AMP" in self.sources[names[0]]["url"] or "trimmed" in member else "shotgun"
        apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 58
        files = {member: self.grinder_reads(mode), f"__MACOSX/._{member}": apple_double}
        self.put_archive(names, files, "zip")

    # -- lncRNA (OSF) ---------------------------------------------------------------------

    _STOPS = ("TAA", "TAG", "TGA")
    _SENSE = tuple(a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in ("TAA", "TAG", "TGA"))

    def lncrna_files(self) -> dict[str, bytes]:
        """The eight FASTA files of Hill et al. 2018, by file name."""
        rng = _rng("lncrna")
        codon_p = rng.dirichlet(np.full(len(self._SENSE), 0.7))
        counter = iter(range(400_000, 10_000_000, 7))

        def ids(kind: str, length: int, extra: str) -> str:
            t, g = next(counter), next(counter)
            sym = f"ZNF{t % 900 + 100}" if kind == "mRNA" else f"LINC{t % 9000 + 1000:05d}"
            return (f"ENST00000{t:06d}.{1 + t % 3}|ENSG00000{g:06d}.{1 + g % 5}|OTTHUMG00000{g % 200000:06d}.1|"
                    f"OTTHUMT00000{t % 400000:06d}.1|{sym}-201|{sym}|{length}|{extra}")

        def utr(n: int) -> str:
            return _random_dna(rng, n, gc=0.45)

        def mrna(lo: int, hi: int, cds_frac: tuple[float, float]) -> tuple[str, str]:
            length = int(rng.integers(lo, hi + 1))
            codons = max(10, int(length * rng.uniform(*cds_frac) / 3) - 2)
            cds = "ATG" + "".join(self._SENSE[i] for i in rng.choice(len(self._SENSE), size=codons, p=codon_p)) \
                + self._STOPS[int(rng.integers(3))]
            rest = max(0, length - len(cds))
            u5 = int(rng.integers(0, rest + 1)) if rest else 0
            u5 = min(u5, rest // 2 + 40, rest)
            seq = utr(u5) + cds + utr(rest - u5)
            parts = (f"UTR5:1-{u5}|" if u5 else "") + f"CDS:{u5 + 1}-{u5 + len(cds)}|" + \
                (f"UTR3:{u5 + len(cds) + 1}-{len(seq)}|" if rest - u5 else "")
            return ids("mRNA", len(seq), parts), seq

        def lncrna(lo: int, hi: int, orf_codons: tuple[int, int] | None = None) -> tuple[str, str]:
            length = int(rng.integers(lo, hi + 1))
            seq = utr(length)
            if orf_codons:  # the challenge set: a long ORF in a lncRNA
                n = int(rng.integers(*orf_codons))
                orf = "ATG" + "".join(self._SENSE[i] for i in rng.integers(0, len(self._SENSE), size=n)) + "TAA"
                at = int(rng.integers(0, max(1, length - len(orf))))
                seq = (seq[:at] + orf + seq[at + len(orf):])[:max(length, len(orf))]
            return ids("lncRNA", len(seq), "lncRNA|"), seq

        def fa(records: list[tuple[str, str]]) -> bytes:
            return _fasta_text(records, width=60).encode()

        m16 = [mrna(200, 1000, (0.4, 0.7)) for _ in range(150)]
        l16 = [lncrna(200, 1000) for _ in range(150)]
        m_long = [mrna(1000, 2000, (0.3, 0.6)) for _ in range(25)]
        l_long = [lncrna(1000, 2000) for _ in range(25)]
        return {
            "mRNAs.train16K.fa": fa(m16), "lncRNAs.train16K.fa": fa(l16),
            # the full-length training sets: the 200-1000 nt records and longer ones
            "mRNAs.TRAIN.fa": fa(m16[:75] + m_long + m16[75:]), "lncRNAs.TRAIN.fa": fa(l16[:75] + l_long + l16[75:]),
            "mRNAs.TEST500.fa": fa([mrna(200, 1000, (0.4, 0.7)) for _ in range(50)]),
            "lncRNAs.TEST500.fa": fa([lncrna(200, 1000) for _ in range(50)]),
            "mRNAs.CHALLENGE500.fa": fa([mrna(400, 1000, (0.08, 0.2)) for _ in range(50)]),
            "lncRNAs.CHALLENGE500.fa": fa([lncrna(400, 1000, (80, 130)) for _ in range(50)]),
        }

    def osf(self, names: list[str]) -> None:
        nodes: dict[str, list[str]] = {}
        for n in names:
            nodes.setdefault(self.sources[n]["osf"]["node"], []).append(n)
        for node, members in nodes.items():
            if node != "4htpy":
                raise ValueError(f"no stand-in for OSF node {node!r} (sources {members})")
            files = self.lncrna_files()
            layout = {  # osfstorage as the stand-in lays it out; a bare osf.path finds the folder's files
                "README.txt": b"Hill et al. 2018, mRNN: training and test sets (GENCODE v25 transcripts).\n",
                **{k: v for k, v in files.items() if ".TRAIN." not in k},
                "full_length/mRNAs.TRAIN.fa": files["mRNAs.TRAIN.fa"],
                "full_length/lncRNAs.TRAIN.fa": files["lncRNAs.TRAIN.fa"],
                "models/README.md": b"Trained mRNN weights are in the GitHub release.\n",
            }
            stored = {p: self.write(p, d, under=f"api/osf/{node}") for p, d in layout.items()}
            self.st.osf_files[node] = stored
            for n in members:
                want = self.sources[n]["osf"]["path"].strip("/")
                hits = [p for p in stored if p == want or ("/" not in want and p.rsplit("/", 1)[-1] == want)]
                if len(hits) != 1:
                    raise ValueError(f"source {n!r}: OSF path {want!r} matches {hits} in the stand-in node {node}")
                self.st.provided[n] = "osf"
                self.st.expected[n] = {"file": str(stored[hits[0]].relative_to(self.out)), "osf_path": hits[0]}

    # -- DeepSEA --------------------------------------------------------------------------

    def deepsea(self, name: str, sizes=(300, 60, 100), length: int = 200) -> None:
        here = str(Path(__file__).resolve().parent)
        if here not in sys.path:
            sys.path.insert(0, here)
        from deepsea_bundle import make_bundle

        with tempfile.TemporaryDirectory(dir=self.out) as tmp:
            make_bundle(Path(tmp), sizes=sizes, length=length)
            mats = Path(tmp) / "deepsea_train"
            for split in ("valid", "test"):  # MATLAB 5 headers carry the time of writing: fix it
                path = mats / f"{split}.mat"
                data = bytearray(path.read_bytes())
                data[:116] = b"MATLAB 5.0 MAT-file Platform: posix, Created on: Fri Jan  9 00:00:00 2015".ljust(116)
                path.write_bytes(bytes(data))
            files = {f"deepsea_train/{p.name}": p.read_bytes() for p in sorted(mats.iterdir())}
            self.put(name, self._tgz(files, mtime=1_430_000_000, owner=("", "")))

    # -- all ------------------------------------------------------------------------------

    def build(self) -> PaperStandIns:
        from genomic_ulmfit.sources import source_kind

        started = time.monotonic()
        names = [n for n in self.sources if n in self.uses]
        missing = sorted(set(self.uses) - set(self.sources))
        if missing:
            raise ValueError(f"the config uses sources the sources files lack: {missing}")
        self.st.sources = {n: self.sources[n] for n in names}
        archives: dict[str, list[str]] = {}
        osf, ncbi, unknown = [], [], []
        bacteria = 0
        for n in names:
            entry, kind = self.sources[n], source_kind(self.sources[n])
            where = " ".join(self.uses[n])
            if kind == "member":
                archives.setdefault(entry["url"], []).append(n)
            elif kind == "osf":
                osf.append(n)
            elif kind == "ncbi_genome":
                ncbi.append(n)
            elif (self.shared / entry["mirror_path"]).is_file():
                link = self.st.mirror / entry["mirror_path"]
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to((self.shared / entry["mirror_path"]).resolve())
                self.st.provided[n] = "shared"
                self.st.expected[n] = {"file": str(link.relative_to(self.out))}
            elif n == "human_grch38_fna":
                self.human_genome(n)
            elif n == "human_grch38_report":
                self.human_report(n)
            elif n == "epdnew_hs006_sga":
                self.epdnew_sga(n)
            elif n == "cnn_human_non_tata":
                self.cnn_human(n, "prom")
            elif n == "cnn_human_nonprom_big":
                self.cnn_human(n, "nonprom")
            elif n == "deepsea_bundle":
                self.deepsea(n)
            elif n in self._PRIMATES:
                self.primate(n)
            elif "corpora.bacterial_ensemble.genomes" in where:
                self.plain_bacterium(n, bacteria)
                bacteria += 1
            else:
                unknown.append(n)
        for url, members in archives.items():
            archive = Path(urllib.parse.urlsplit(url).path).name
            if archive == "Enhancers_vs_negative.tgz":
                self.enhancers(members)
            elif archive in ("16S-AMP-trimmed.fa.zip", "16S-SG-reads.fa.zip"):
                self.metagenomic_zip(members)
            else:
                unknown += members
        if osf:
            self.osf(osf)
        if ncbi:
            self.ncbi_bacteria(ncbi)
        if unknown:
            raise ValueError(f"no stand-in for the sources {sorted(unknown)} (used by "
                             f"{[self.uses[n][0] for n in sorted(unknown)]}): add one to tests/paper_standins.py")
        self.st.seconds = round(time.monotonic() - started, 2)
        self.st.save()
        return self.st


def build_paper_mirror(shared: str | os.PathLike[str], out: str | os.PathLike[str], sources: dict,
                       uses: dict) -> PaperStandIns:
    """Write the stand-ins of the used sources (`uses`: config_source_uses(config), `sources`:
    load_sources of the config's sources files) under `out`: `out/mirror/<mirror_path>` for
    plain sources (a symlink into `shared` where the real file is there) and for archive
    members (the archive), `out/api/` for what the OSF and NCBI stand-ins serve, `out/members/`
    the members' expected bytes, `out/standins.json` the manifest (PaperStandIns.load).
    `out/mirror` must not exist yet."""
    out = Path(out)
    if (out / "mirror").exists():
        raise FileExistsError(f"{out / 'mirror'} exists; build the stand-ins into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    return _Builder(Path(shared), out, sources, uses).build()


def paper_sources_and_uses(config: str | os.PathLike[str] = REPO / "config" / "paper.yaml") -> tuple[dict, dict]:
    """(load_sources of the config's sources files, config_source_uses of the config)."""
    import yaml

    from genomic_ulmfit.config import load_sources
    from genomic_ulmfit.sources import config_source_uses

    cfg = yaml.safe_load(Path(config).read_text())
    files = cfg.get("sources") or "resources/sources.yaml"
    return load_sources(files if isinstance(files, list) else [files], base=REPO), config_source_uses(cfg)


# =========================================================================== the server


@dataclass
class ServedStandIns:
    """base: the server's URL; mirror: the mirror's base URL; env: the endpoint variables;
    requests: every request path, in order."""

    base: str
    mirror: str
    env: dict[str, str]
    requests: list[str]

    def __getitem__(self, key: str):
        return getattr(self, key)


class _PaperHandler(JsonApiHandler):
    standins: PaperStandIns
    osf_nodes: tuple[OsfNode, ...] = ()
    requests: list[str] = []

    def _file(self, path: Path | None, body: bool = True) -> None:
        if path is None or not path.is_file():
            return self._send(404, b"Not Found", "text/plain")
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if body:
            with open(path, "rb") as fh:
                shutil.copyfileobj(fh, self.wfile, 1 << 20)

    def do_HEAD(self) -> None:
        """Size of a mirror or FTP file (for curl -I, wget -N); the APIs answer GET only."""
        path = urllib.parse.urlsplit(self.path).path
        for mount, lookup in (("/mirror/", lambda rel: self.standins.mirror / rel),
                              ("/genomes/all/", self.standins.ncbi_files.get)):
            if path.startswith(mount):
                rel = self._safe(path[len(mount):])
                return self._file(lookup(rel) if rel else None, body=False)
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    @staticmethod
    def _safe(rel: str) -> str | None:
        rel = urllib.parse.unquote(rel)
        parts = rel.split("/")
        return None if not rel or any(p in ("", ".", "..") for p in parts) or "\\" in rel else rel

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        self.requests.append(self.path)
        path = parts.path
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        if path.startswith("/mirror/"):
            rel = self._safe(path[len("/mirror/"):])
            return self._file(self.standins.mirror / rel if rel else None)
        if path.startswith("/osf/"):
            for node in self.osf_nodes:
                reply = node.answer(self._root() + "/osf", path[len("/osf"):], query)
                if reply is not None:
                    return self._reply(reply)
            return self._reply(_json_reply({"errors": [{"detail": "Not found."}]}, 404, OsfNode.content_type))
        if path.startswith("/datasets/v2/"):
            reply = dataset_report_answer(self.standins.ncbi_reports, path[len("/datasets/v2"):], query, 3)
            return self._reply(reply or _json_reply({"error": "Not Found", "code": 404}, 404))
        if path.startswith("/genomes/all/"):
            rel = self._safe(path[len("/genomes/all/"):])
            return self._file(self.standins.ncbi_files.get(rel) if rel else None)
        return self._send(404, b"Not Found", "text/plain")


@contextmanager
def serve_paper_standins(standins: PaperStandIns | str | os.PathLike[str]) -> Iterator[ServedStandIns]:
    """Serve the stand-ins on 127.0.0.1 (ephemeral port): /mirror/ (the mirror directory),
    /osf/ (OSF API v2 + downloads), /datasets/v2/ (NCBI Datasets), /genomes/all/ (NCBI FTP)."""
    if not isinstance(standins, PaperStandIns):
        standins = PaperStandIns.load(standins)

    class Handler(_PaperHandler):
        pass

    Handler.standins = standins
    Handler.osf_nodes = tuple(OsfNode(node, files, per_page=4) for node, files in standins.osf_files.items())
    Handler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield ServedStandIns(base=base, mirror=f"{base}/mirror", requests=Handler.requests, env={
            "GULMFIT_OSF_API": f"{base}/osf/v2",
            "GULMFIT_NCBI_DATASETS_API": f"{base}/datasets/v2",
            "GULMFIT_NCBI_FTP": f"{base}/genomes/all",
        })
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# =========================================================================== command line


def _run_paper_mini(standins: "PaperStandIns", workdir: Path, snakemake_args: list[str]) -> int:
    """config/paper_mini.yaml in `workdir`, its sources served from the stand-ins."""
    import subprocess

    workdir.mkdir(parents=True, exist_ok=True)
    with serve_paper_standins(standins) as served:
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
               "--directory", str(workdir), "--configfile", str(REPO / "config" / "paper_mini.yaml"),
               "--config", f"mirror={served.mirror}", *(snakemake_args or ["--cores", "all"])]
        print(" ".join(cmd), file=sys.stderr, flush=True)
        return subprocess.run(cmd, env={**os.environ, **served.env}).returncode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build (and optionally serve) the stand-ins of config/paper.yaml's sources.")
    p.add_argument("out", type=Path, help="folder to write (out/mirror must not exist; with --serve an existing "
                                          "build there is served as it is)")
    p.add_argument("--shared", type=Path, default=Path(os.environ.get("GULMFIT_SHARED_DATA") or _SHARED_DEFAULT),
                   help="the shared real data (default: $GULMFIT_SHARED_DATA or ../shared/data)")
    p.add_argument("--config", type=Path, default=REPO / "config" / "paper.yaml")
    p.add_argument("--serve", action="store_true", help="then serve them until interrupted")
    p.add_argument("--run", type=Path, metavar="WORKDIR",
                   help="then run config/paper_mini.yaml in WORKDIR from them (Snakemake's arguments after --)")
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = p.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if (args.serve or args.run) and (args.out / PaperStandIns.MANIFEST).is_file():
        standins = PaperStandIns.load(args.out)
    else:
        sources, uses = paper_sources_and_uses(args.config)
        standins = build_paper_mirror(args.shared, args.out, sources, uses)
        files = standins.mirror_files()
        print(f"built {len(standins.provided)} sources in {standins.seconds} s: {len(files)} files in "
              f"{standins.mirror} ({sum(files.values()) / 1e6:.1f} MB, links to the shared data included); "
              f"{len(standins.ncbi_files)} NCBI genomes and "
              f"{sum(len(f) for f in standins.osf_files.values())} OSF files for the API stand-ins", file=sys.stderr)
    if args.run:
        return _run_paper_mini(standins, args.run, extra)
    if not args.serve:
        print(f"mirror: {standins.mirror}")
        print("# serve it with --serve to get the URL and these variables:")
        for var in ("GULMFIT_OSF_API", "GULMFIT_NCBI_DATASETS_API", "GULMFIT_NCBI_FTP"):
            print(f"# export {var}=http://127.0.0.1:PORT/...")
        return 0
    with serve_paper_standins(standins) as served:
        print(f"mirror: {served.mirror}")
        for key, value in served.env.items():
            print(f"export {key}={value}")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    raise SystemExit(main())
