"""Logging and progress: bars on a terminal, plain lines in log files."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from tqdm.auto import tqdm

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def interactive() -> bool:
    """True when stderr is a terminal (Snakemake log files are not)."""
    return sys.stderr.isatty()


def setup_logging(level: str = "INFO", log_file: Path | None = None) -> None:
    """Log to stderr, and to `log_file` as well when given."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=level.upper(), format=FORMAT, handlers=handlers, force=True)


def progress(iterable=None, **kwargs) -> tqdm:
    """A tqdm bar that shows only on a terminal, so log files stay readable."""
    kwargs.setdefault("disable", not interactive())
    kwargs.setdefault("leave", False)
    return tqdm(iterable, **kwargs)
