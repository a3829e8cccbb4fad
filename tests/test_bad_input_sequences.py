"""Bad input, one case per test: each must end in the named error with file, record or
position in its message, and leave nothing partial behind (or beside the inputs)."""
from __future__ import annotations

import gzip
import hashlib
import io
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from genomic_ulmfit.errors import InputError
from genomic_ulmfit.sources import FetchError, fetch

# ----------------------------------------------------------------- downloads without a length


def _handler(body: bytes, *, chunked: bool, cut: int | None) -> type[BaseHTTPRequestHandler]:
    """Serves `body` with no Content-Length: chunked (with its terminating chunk) or as an
    HTTP/1.0 identity stream ended by closing the connection, after `cut` bytes if given."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if chunked else "HTTP/1.0"

        def do_GET(self) -> None:
            self.send_response(200)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            data = body if cut is None else body[:cut]
            if chunked:
                for i in range(0, len(data), 4096):
                    piece = data[i : i + 4096]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                if cut is None:
                    self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(data)
            self.wfile.flush()
            self.close_connection = True
            if cut is not None:  # a dropped connection, not an orderly end
                self.connection.shutdown(socket.SHUT_RDWR)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("name", ["prom.fa.gz", "prom.fa"])
def test_unknown_checksum_download_cut_without_length_is_refused(name: str, shared_data: Path,
                                                                 tmp_path: Path) -> None:
    """sha256: null, no Content-Length, connection closed midway: a .gz without its trailer and a
    plain file (nothing can prove it whole) are refused, naming the source and the URL."""
    plain = (shared_data / "cnnpromoterdata" / "Ecoli_prom.fa").read_bytes()
    body = gzip.compress(plain) if name.endswith(".gz") else plain
    with _serve(_handler(body, chunked=False, cut=len(body) // 2)) as base:
        url = f"{base}/{name}"
        with pytest.raises(FetchError, match=rf"source 'prom': download of {re.escape(url)} cannot be "
                                             r"shown complete.*set the source's sha256"):
            fetch(url, tmp_path / name, None, name="prom")
    assert list(tmp_path.iterdir()) == []  # neither the half file nor its .sha256 record


def test_unknown_checksum_download_ended_cleanly_is_accepted_and_enforced(shared_data: Path,
                                                                          tmp_path: Path) -> None:
    """A whole gzip ended by connection close and a chunked plain file with its last chunk are
    accepted; the recorded sha256 then refuses a different file under the same name."""
    plain = (shared_data / "cnnpromoterdata" / "Ecoli_prom.fa").read_bytes()
    gz = gzip.compress(plain)
    with _serve(_handler(gz, chunked=False, cut=None)) as base:
        got = fetch(f"{base}/prom.fa.gz", tmp_path / "prom.fa.gz", None, name="prom")
    assert got.read_bytes() == gz
    with _serve(_handler(plain, chunked=True, cut=None)) as base:
        dest = fetch(f"{base}/prom.fa", tmp_path / "prom.fa", None, name="prom")
    sha = hashlib.sha256(plain).hexdigest()
    assert (tmp_path / "prom.fa.sha256").read_text() == f"{sha}  prom.fa\n"
    dest.unlink()
    with _serve(_handler(plain[:-81], chunked=True, cut=None)) as base:  # upstream changed
        with pytest.raises(FetchError, match=rf"expected sha256 {sha} \(recorded at its first download"):
            fetch(f"{base}/prom.fa", dest, None, name="prom")
    assert not dest.exists()


def test_chunked_download_without_its_last_chunk_is_refused(shared_data: Path, tmp_path: Path) -> None:
    plain = (shared_data / "cnnpromoterdata" / "Ecoli_prom.fa").read_bytes()
    with _serve(_handler(plain, chunked=True, cut=len(plain) // 2)) as base:
        with pytest.raises(FetchError, match=rf"could not fetch {re.escape(base)}/prom.fa"):
            fetch(f"{base}/prom.fa", tmp_path / "prom.fa", None, name="prom")
    assert list(tmp_path.iterdir()) == []


def test_tar_gz_ended_cleanly_is_accepted(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("a.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with _serve(_handler(buf.getvalue(), chunked=False, cut=None)) as base:
        assert fetch(f"{base}/x.tar.gz", tmp_path / "x.tar.gz", None).read_bytes() == buf.getvalue()


# ----------------------------------------------------------------- sequences and their files

from genomic_ulmfit.cli import main  # noqa: E402
from genomic_ulmfit.corpus import build_corpus  # noqa: E402
from genomic_ulmfit.datasets.genomes import CACHE_ENV, open_genome, prepare_genome  # noqa: E402
from genomic_ulmfit.datasets.tss import read_gff_tss  # noqa: E402
from genomic_ulmfit.fasta import read_fasta  # noqa: E402
from genomic_ulmfit.kmers import KmerTokenizer, SequenceError  # noqa: E402
from genomic_ulmfit.scan import read_vcf  # noqa: E402

ECOLI = "ncbi/genomes/all/GCF/000/005/845/GCF_000005845.2_ASM584v2/GCF_000005845.2_ASM584v2_genomic.fna.gz"


def _fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width)))
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def ecoli_plain(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real E. coli genome, uncompressed, alone in a folder (the user's input side)."""
    folder = tmp_path_factory.mktemp("input")
    dest = folder / "ecoli.fa"
    dest.write_bytes(gzip.decompress((shared_data / ECOLI).read_bytes()))
    return dest


def test_tokenize_failure_leaves_no_tmp_dir(tmp_path: Path) -> None:
    fa = _fasta(tmp_path / "g.fa", {"chr1": "ACGT" * 500 + "*" + "ACGT" * 10})
    with pytest.raises(SequenceError, match=r"g\.fa: record chr1: character '\*' at position 2001"):
        build_corpus([fa], tmp_path / "corpus", KmerTokenizer(3, 1), region_bp=200, min_doc_tokens=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa"]  # no corpus, no corpus.tmp


def test_genome_with_duplicate_names_leaves_nothing(tmp_path: Path) -> None:
    fa = _fasta(tmp_path / "in.fa", {"chr1": "ACGT" * 30, "chr2": "ACGT" * 30})
    fa.write_text(fa.read_text() + ">chr1 again\nACGT\n")
    with pytest.raises(InputError, match=r"in\.fa: record #3 'chr1' repeats the name of record #1"):
        prepare_genome(fa, tmp_path / "out" / "genome.fa")
    assert list((tmp_path / "out").iterdir()) == []


def test_bed_regions_writes_nothing_beside_the_input_genome(ecoli_plain: Path, cache: Path,
                                                            tmp_path: Path) -> None:
    """Real E. coli genome, plain and gzipped: the index and the plain copy go to the cache."""
    gz = tmp_path / "in" / "ecoli.fa.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(ecoli_plain.read_bytes(), compresslevel=1))
    bed = tmp_path / "in" / "r.bed"
    bed.write_text("".join(f"NC_000913.3\t{s}\t{s + 100}\t{'ab'[i % 2]}\n"
                           for i, s in enumerate(range(10_000, 210_000, 2_000))))
    before = {p: sorted(x.name for x in p.parent.iterdir()) for p in (ecoli_plain, gz)}
    for genome in (ecoli_plain, gz):
        main(["bed-regions", "--genome", str(genome), "--regions", str(bed),
              "--out", str(tmp_path / "out" / f"{genome.name}.tsv")])
    assert {p: sorted(x.name for x in p.parent.iterdir()) for p in (ecoli_plain, gz)} == before
    assert sorted(p.name for p in cache.rglob("*.fai")) == ["ecoli.fa.fai", "ecoli.fa.fai"]


def test_position_counts_from_the_record_start_across_read_blocks(tmp_path: Path) -> None:
    """A bad base at 9,000,001 of a 10 Mbp record lies past the first 8 MiB read block."""
    rng = np.random.default_rng(0)
    seq = bytearray(np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 10_000_000)].tobytes())
    seq[9_000_000] = ord("X")
    with open(tmp_path / "big.fa", "wb") as fh:
        fh.write(b">big\n" + b"\n".join(seq[i : i + 80] for i in range(0, len(seq), 80)) + b"\n")
    with pytest.raises(SequenceError, match=r"record big: character 'X' at position 9000001 "):
        build_corpus([tmp_path / "big.fa"], tmp_path / "c", KmerTokenizer(3, 3))


@pytest.mark.parametrize("reader", ["fasta", "tokenize", "genome"])
def test_space_inside_a_sequence_line_is_an_error(reader: str, tmp_path: Path, capsys) -> None:
    fa = tmp_path / "s.fa"
    fa.write_text(">r1\nACGTACGTAC\n>r2 two\nACGTACGTAC\nACG TACGT\n")
    if reader == "fasta":
        with pytest.raises(InputError, match=r"s\.fa: line 5: record 'r2' position 14: space inside a "
                                             r"sequence line"):
            list(read_fasta(fa))
    elif reader == "tokenize":
        with pytest.raises(SequenceError, match=r"s\.fa: record r2: character ' ' at position 14 "):
            build_corpus([fa], tmp_path / "c", KmerTokenizer(3, 1), region_bp=5, min_doc_tokens=1)
    else:
        with pytest.raises(SystemExit) as stop:
            main(["genome", "--fasta", str(fa), "--out", str(tmp_path / "g" / "g.fa")])
        assert stop.value.code == 2
        assert "s.fa: line 5: record 'r2' position 14: space inside a sequence line" in capsys.readouterr().err
        assert not (tmp_path / "g").exists() or list((tmp_path / "g").iterdir()) == []


@pytest.mark.parametrize("bad", ["7", "*"])
def test_genome_rejects_characters_that_are_no_base(bad: str, tmp_path: Path) -> None:
    fa = _fasta(tmp_path / "g.fa", {"chrA": "ACGTN" * 20, "chrB": "ACGT" * 25 + bad + "ACGT"}, width=30)
    with pytest.raises(InputError, match=rf"g\.fa: record 'chrB' position 101: character "
                                         rf"{re.escape(repr(bad))} is not an IUPAC nucleotide code"):
        prepare_genome(fa, tmp_path / "out.fa")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa"]


def test_plain_fasta_named_gz_is_named_as_such(tmp_path: Path, cache: Path) -> None:
    fa = _fasta(tmp_path / "plain.fa.gz", {"chr1": "ACGT" * 30})
    with pytest.raises(InputError, match=r"plain\.fa\.gz: named \.gz but not gzip-compressed"):
        open_genome(fa)


def test_truncated_gz_names_the_file(shared_data: Path, tmp_path: Path, cache: Path) -> None:
    data = (shared_data / ECOLI).read_bytes()
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.fa\.gz: truncated or corrupt gzip data"):
        open_genome(cut)
    with pytest.raises(InputError, match=r"cut\.fa\.gz: truncated or corrupt gzip data"):
        build_corpus([cut], tmp_path / "c", KmerTokenizer(3, 1))
    assert [p.name for p in tmp_path.iterdir() if p != cache] == ["cut.fa.gz"]
    assert not [p for p in cache.rglob("*") if p.is_file()]  # no half plain copy either


def test_missing_feature_type_lists_the_ones_there(shared_data: Path) -> None:
    gff = shared_data / "model_organisms" / "C.elegans.gff.gz"
    with pytest.raises(InputError, match=r"C\.elegans\.gff\.gz: no 'lncRNA' feature .*types in it are "
                                         r".*\bgene \(\d+\)"):
        read_gff_tss(gff, "lncRNA")


def test_vcf_pos_zero_names_the_line(tmp_path: Path) -> None:
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "chrA\t5\t.\tA\tC\t.\t.\t.\nchrA\t0\t.\tA\tC\t.\t.\t.\n")
    with pytest.raises(InputError, match=r"v\.vcf: line 4: POS '0'; expected a 1-based position"):
        read_vcf(vcf)


@pytest.mark.parametrize(("k", "stride", "message"), [
    (0, 1, r"k=0; the k-mer length must be at least 1 and at most 8"),
    (3, 0, r"stride=0 with k=3; the stride must be at least 1 and at most k"),
    (3, 4, r"stride=4 with k=3; the stride must be at least 1 and at most k"),
])
def test_kmer_length_and_stride_say_what_is_allowed(k: int, stride: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        KmerTokenizer(k, stride)
