"""Errors a user can cause, reported as one clear line (exit code 2 in the CLI)."""

from __future__ import annotations


class SvdError(Exception):
    """A problem with the user's input: a missing or bad file, a bad parameter.

    The message is a single line that names the file or setting and says how to fix it.
    """


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message (libraries' messages run long)."""
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__
