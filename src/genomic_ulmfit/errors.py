"""The one parent of every error the package raises about its input.

`GenomicUlmfitError` is what `genomic_ulmfit.cli.main` catches: its message is printed as one
line (it names the file, record or key and what was expected), the exit status is 2, and no
traceback is shown unless `--debug` (or GULMFIT_DEBUG=1) asks for one. Domain errors subclass
it; most also subclass ValueError, which they were before the base existed.
"""
from __future__ import annotations

__all__ = ["GenomicUlmfitError", "InputError", "EXIT_INPUT_ERROR"]

EXIT_INPUT_ERROR = 2  # argparse uses 2 for a bad command line as well: "your input, not our bug"


class GenomicUlmfitError(Exception):
    """An input, file or setting is not what a command expects; the message says which and why."""


class InputError(GenomicUlmfitError, ValueError):
    """A file or argument with the wrong content: names the file, the record and what was expected."""
