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
