from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from genomic_ulmfit.sources import FetchError, fetch, resolve_url

SOURCES_YAML = Path(__file__).resolve().parents[1] / "resources" / "sources.yaml"
GFF = "ecoli_genome_gff"


@pytest.fixture(scope="module")
def sources() -> dict[str, dict[str, str]]:
    return yaml.safe_load(SOURCES_YAML.read_text())


def _manifest(shared_data: Path) -> dict[str, str]:
    rows = (line.split("\t") for line in (shared_data / "MANIFEST.tsv").read_text().splitlines() if line)
    return {path: sha for path, sha, _size in rows}


def _only_dest(dest_dir: Path) -> list[str]:
    return sorted(p.name for p in dest_dir.iterdir())


def test_sources_yaml_covers_manifest(sources: dict, shared_data: Path) -> None:
    manifest = {p: s for p, s in _manifest(shared_data).items() if not Path(p).name.startswith("README")}
    by_path = {entry["mirror_path"]: entry for entry in sources.values()}
    assert set(by_path) == set(manifest)
    for path, entry in by_path.items():
        assert entry["sha256"] == manifest[path], path
        assert entry["url"].startswith("https://"), path
        assert entry["url"].rsplit("/", 1)[1] == Path(path).name, path
        assert entry["description"]


def test_fetch_over_http_mirror(sources: dict, shared_data_http: str, tmp_path: Path) -> None:
    src = sources[GFF]
    dest = tmp_path / "out" / "genomic.gff.gz"
    got = fetch(src["url"], dest, src["sha256"], mirror=shared_data_http, mirror_path=src["mirror_path"])
    assert got == dest
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == src["sha256"]
    assert _only_dest(dest.parent) == [dest.name]


def test_wrong_checksum_fails_and_leaves_nothing(sources: dict, shared_data_http: str, tmp_path: Path) -> None:
    src = sources[GFF]
    wrong = "0" * 64
    dest = tmp_path / "genomic.gff.gz"
    used = resolve_url(src["url"], shared_data_http, src["mirror_path"])
    with pytest.raises(FetchError) as err:
        fetch(src["url"], dest, wrong, mirror=shared_data_http, mirror_path=src["mirror_path"])
    message = str(err.value)
    assert used in message and wrong in message and src["sha256"] in message
    assert _only_dest(tmp_path) == []


def test_truncated_download_fails_and_leaves_nothing(
    sources: dict, shared_data: Path, http_serve, tmp_path: Path
) -> None:
    src = sources[GFF]
    mirror_dir = tmp_path / "mirror"
    copy = mirror_dir / src["mirror_path"]
    copy.parent.mkdir(parents=True)
    data = (shared_data / src["mirror_path"]).read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    truncated_sha = hashlib.sha256(data[: len(data) // 2]).hexdigest()
    dest_dir = tmp_path / "dest"
    dest_dir.mkdir()
    mirror = http_serve(mirror_dir)
    with pytest.raises(FetchError) as err:
        fetch(src["url"], dest_dir / "g.gff.gz", src["sha256"], mirror=mirror, mirror_path=src["mirror_path"])
    message = str(err.value)
    assert resolve_url(src["url"], mirror, src["mirror_path"]) in message
    assert src["sha256"] in message and truncated_sha in message
    assert _only_dest(dest_dir) == []


def test_file_url_and_local_dir_mirror(sources: dict, shared_data: Path, tmp_path: Path) -> None:
    src = sources["cnn_ecoli_prom"]
    local = shared_data / src["mirror_path"]
    by_url = fetch(local.as_uri(), tmp_path / "a.fa", src["sha256"])
    by_mirror_uri = fetch(src["url"], tmp_path / "b.fa", src["sha256"],
                          mirror=shared_data.as_uri(), mirror_path=src["mirror_path"])
    by_dir = fetch(src["url"], tmp_path / "c.fa", src["sha256"], mirror=str(shared_data), mirror_path=src["mirror_path"])
    by_path = fetch(str(local), tmp_path / "d.fa", src["sha256"])
    for got in (by_url, by_mirror_uri, by_dir, by_path):
        assert got.read_bytes() == local.read_bytes()


def test_missing_file_names_url(tmp_path: Path, http_serve) -> None:
    (tmp_path / "served").mkdir()
    mirror = http_serve(tmp_path / "served")
    dest = tmp_path / "x.txt"
    with pytest.raises(FetchError, match=r"127\.0\.0\.1.*nope\.txt.*404"):
        fetch("https://example.org/nope.txt", dest, "a" * 64, mirror=mirror, mirror_path="nope.txt")
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["served"]


def test_existing_verified_file_is_kept(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello")
    sha = hashlib.sha256(b"hello").hexdigest()
    dest = tmp_path / "dest.bin"
    fetch(str(src), dest, sha)
    src.unlink()  # a second fetch must not need the source any more
    assert fetch(str(src), dest, sha).read_bytes() == b"hello"


def test_mirror_without_mirror_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mirror_path"):
        fetch("https://example.org/a", tmp_path / "a", None, mirror="http://127.0.0.1:1")


def test_no_checksum_accepts_and_copies(tmp_path: Path) -> None:
    src = tmp_path / "s.txt"
    src.write_text("x")
    assert fetch(src.as_uri(), tmp_path / "sub" / "d.txt", None).read_text() == "x"


class _CutShortHandler(BaseHTTPRequestHandler):
    """Promises 1000 bytes, sends 100, then closes: a connection dropped mid-download."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"A" * 100)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_connection_cut_short_fails_and_leaves_nothing(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CutShortHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/file.bin"
    try:
        with pytest.raises(FetchError, match=re.escape(url)):
            fetch(url, tmp_path / "file.bin", "b" * 64)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("given", [None, "None", "null"])
def test_unknown_checksum_downloads_unverified_and_records_it(sources: dict, shared_data: Path,
                                                              tmp_path: Path, given) -> None:
    """`sha256: null` (a source whose checksum is not known yet; 'None' on the command line
    the download rule writes) fetches unverified and records the sha256 next to the file."""
    from genomic_ulmfit.cli import main
    src = sources["cnn_ecoli_prom"]
    dest = tmp_path / "Ecoli_prom.fa"
    if given is None:
        fetch(src["url"], dest, None, mirror=str(shared_data), mirror_path=src["mirror_path"])
    else:
        main(["fetch", "--url", src["url"], "--sha256", given, "--out", str(dest),
              "--mirror", str(shared_data), "--mirror-path", src["mirror_path"]])
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == src["sha256"]
    assert (tmp_path / "Ecoli_prom.fa.sha256").read_text() == f"{src['sha256']}  Ecoli_prom.fa\n"
    with pytest.raises(ValueError, match="not 64 hex digits"):
        fetch(src["url"], tmp_path / "x.fa", "abc", mirror=str(shared_data), mirror_path=src["mirror_path"])


def test_mirror_replaces_remote_sources_only(tmp_path: Path, http_serve) -> None:
    """With a mirror set, a file:// or plain-path source is read where it is (it used to be
    looked up in the mirror, under a mirror_path it may not have); remote ones come from the mirror."""
    local = tmp_path / "mine.tsv"
    local.write_text("id\tsequence\n")
    sha = hashlib.sha256(local.read_bytes()).hexdigest()
    (tmp_path / "served").mkdir()
    mirror = http_serve(tmp_path / "served")  # holds nothing
    for url in (local.as_uri(), str(local)):
        assert resolve_url(url, mirror, None) == url
        got = fetch(url, tmp_path / "out" / "mine.tsv", sha, mirror=mirror, mirror_path=None)
        assert got.read_bytes() == local.read_bytes()
    assert resolve_url("https://example.org/a.fa", mirror, "x/a.fa") == f"{mirror}/x/a.fa"


def test_cli_mirror_with_a_local_source_and_one_line_failures(tmp_path: Path, capsys) -> None:
    import json

    from genomic_ulmfit.cli import main
    local = tmp_path / "mine.fa"
    local.write_text(">a\nACGT\n")
    sha = hashlib.sha256(local.read_bytes()).hexdigest()
    entry = {"name": "my_fa", "url": local.as_uri(), "sha256": sha, "mirror_path": "elsewhere/mine.fa"}
    main(["fetch", "--source", json.dumps(entry), "--out", str(tmp_path / "o" / "mine.fa"),
          "--mirror", str(tmp_path / "no-such-mirror")])
    assert (tmp_path / "o" / "mine.fa").read_text() == ">a\nACGT\n"
    with pytest.raises(SystemExit) as err:
        main(["fetch", "--source", json.dumps({**entry, "sha256": "1" * 64}), "--out", str(tmp_path / "p" / "mine.fa")])
    assert err.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "'my_fa'" in lines[0] and "1" * 64 in lines[0] and sha in lines[0]
    assert not (tmp_path / "p").exists() or list((tmp_path / "p").iterdir()) == []
    with pytest.raises(SystemExit):
        main(["fetch", "--source", "{not json", "--out", str(tmp_path / "q")])
