"""The ``svd`` command: every stage of the reproduction, driven by one profile.

Each subcommand takes ``--profile NAME|PATH`` (default ``quick``), finds the artifacts of the
stages before it in the store, skips work whose artifact exists, and reports a user error as one
line on stderr with exit code 2 (for a missing artifact, with the ``svd`` command that makes it).
"""

from svdlib.cli.app import main
from svdlib.cli.commands import cmd_horses
from svdlib.cli.parser import build_parser

__all__ = ["build_parser", "cmd_horses", "main"]
