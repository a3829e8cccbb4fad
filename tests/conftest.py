"""Shared fixtures: where the read-only real data lives, local HTTP servers, and
one local end-to-end run of config/test.yaml.

The real public data (see ../shared/data/README.md) sits next to the checkout,
or wherever GULMFIT_SHARED_DATA points. Tests that need it skip when it is absent.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from workflow_run import e2e_config, snakemake, write_config

SHARED_DATA_ENV = "GULMFIT_SHARED_DATA"


def shared_data_dir() -> Path:
    """$GULMFIT_SHARED_DATA, else <checkout>/../shared/data."""
    env = os.environ.get(SHARED_DATA_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (ephemeral port); yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; skips the test when it is not there."""
    path = shared_data_dir()
    if not (path / "MANIFEST.tsv").is_file():
        pytest.skip(f"real data not found at {path} (set {SHARED_DATA_ENV} to the folder holding MANIFEST.tsv)")
    return path


@pytest.fixture(scope="session")
def shared_data_http(shared_data: Path) -> Iterator[str]:
    """Base URL of the shared data served over HTTP for the whole session."""
    with serve_directory(shared_data) as url:
        yield url


@pytest.fixture
def http_serve() -> Iterator[Callable[[Path], str]]:
    """Factory: http_serve(dir) serves `dir` for the rest of the test and returns its base URL."""
    servers = []

    def start(directory: Path) -> str:
        cm = serve_directory(directory)
        servers.append(cm)
        return cm.__enter__()

    yield start
    for cm in reversed(servers):
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def e2e(shared_data_http: str, tmp_path_factory: pytest.TempPathFactory):
    """config/test.yaml run once locally, downloads from the HTTP mirror: shared by
    the end-to-end tests and the SLURM test, which compares its results with it.
    (workdir, configfile, config, CompletedProcess)."""
    workdir = tmp_path_factory.mktemp("e2e")
    cfg = e2e_config(shared_data_http)
    configfile = write_config(workdir / "test.yaml", cfg)
    res = snakemake(workdir, "--cores", "2", "--resources", "gpu=1", configfile=configfile)
    return workdir, configfile, cfg, res


@pytest.fixture(scope="session", autouse=True)
def genome_index_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Genome indexes of inputs that must stay untouched go to a cache directory: the
    session's own, not the user's ~/.cache (subprocesses inherit it)."""
    path = tmp_path_factory.mktemp("genome-cache")
    before = os.environ.get("GULMFIT_CACHE_DIR")
    os.environ["GULMFIT_CACHE_DIR"] = str(path)
    yield path
    if before is None:
        os.environ.pop("GULMFIT_CACHE_DIR", None)
    else:
        os.environ["GULMFIT_CACHE_DIR"] = before
