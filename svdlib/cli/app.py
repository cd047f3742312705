"""The entry point: parse, configure, run a command, and turn library errors into one line."""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from svdlib.cli.parser import build_parser
from svdlib.errors import DataWarning, MissingArtifactError, SvdError
from svdlib.experiments.config.loading import load_config
from svdlib.experiments.config.overrides import Overrides, parse_overrides
from svdlib.experiments.config.paths import absolute_path
from svdlib.experiments.config.settings import Config
from svdlib.experiments.config.vars import vars_overrides
from svdlib.experiments.storage.store import Store

Handler = Callable[[argparse.Namespace, Config, Store], int | None]


def configure(args: argparse.Namespace) -> Config:
    """The configuration of a command line: the profile, ``--set`` and the run options."""
    overrides = vars_overrides(args.vars) if args.vars else Overrides()
    given = parse_overrides(args.overrides)    # --set wins over --vars
    overrides.update(given)
    overrides.sources.update(given.sources)
    if args.model:   # relative to where svd runs, unlike profile paths
        overrides["model.checkpoint"] = str(Path(args.model).expanduser().resolve())
    if args.device:
        overrides["run.device"] = args.device
    if args.threads:
        overrides["run.num_threads"] = args.threads
    if args.quiet:
        overrides["run.progress"] = False
    if args.workers is not None:
        overrides["run.workers"] = args.workers
    if args.scheduler:
        overrides["run.scheduler"] = args.scheduler
    if getattr(args, "jobs", None) is not None:   # svd book --jobs
        overrides["run.book_jobs"] = args.jobs
    for key in ("paths.results", "paths.data", "model.checkpoint"):   # the cwd's
        if isinstance(overrides.get(key), str) and overrides[key]:
            overrides[key] = absolute_path(overrides[key])
    return load_config(args.profile, overrides, results=args.results, data=args.data)


def error_line(err: SvdError) -> str:
    """The one line ``svd`` prints for a library error (a missing artifact gets its command)."""
    if isinstance(err, MissingArtifactError) and err.command:
        return f"svd: error: {err}; run `svd {err.command}` with this profile first"
    return f"svd: error: {err}"


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Print each :class:`DataWarning` as one line, ``svd: warning: ...``, on stderr.

    The stages issue one per stage that reads songs it cannot use; other warnings are shown as
    Python shows them.
    """
    with warnings.catch_warnings():
        previous = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
            if issubclass(category, DataWarning):
                print(f"svd: warning: {message}", file=sys.stderr, flush=True)
            else:
                previous(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.simplefilter("always", DataWarning)
        yield


#: What to do about an operating-system error, by its errno (a results-folder fix by default).
_FIXES = {
    errno.ENOSPC: "free some space there or give another folder with --results",
    errno.EDQUOT: "free some space there or give another folder with --results",
    errno.EROFS: "give a writable folder with --results",
    errno.EACCES: "fix its permissions or give another folder (--results, --data)",
    errno.EPERM: "fix its permissions or give another folder (--results, --data)",
    errno.ENOTDIR: "a part of the path is a file; give another folder (--results, --data)",
    errno.EISDIR: "it is a folder where a file belongs; remove or rename it",
    errno.ENOENT: "it cannot be created there, or was removed meanwhile; give another folder "
                  "with --results",
}


def os_error_line(err: OSError, root: Path | None = None) -> str:
    """The one line ``svd`` prints for an operating-system error: the path, why, the fix.

    Parameters
    ----------
    err : OSError
        The error (permission denied, read-only or full file system, not a folder, ...).
    root : Path, optional
        The results folder, named for a full or read-only file system when the error carries
        no path (the run writes only under this folder).
    """
    reason = (err.strerror or str(err) or type(err).__name__).strip()
    reason = reason[:1].lower() + reason[1:]
    if err.filename is not None:
        where = f"'{err.filename}'"
        if err.filename2 is not None:
            where += f" -> '{err.filename2}'"
    elif root is not None and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        where = f"writing under '{root}'"
    else:
        where = "a file operation failed"
    fix = _FIXES.get(err.errno or 0, "check that file and the disk it is on")
    return " ".join(f"svd: error: {where}: {reason}; {fix}".split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``svd``; returns the exit code (2 for errors the user can fix)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    store = None
    try:
        cfg = configure(args)
        store = Store(cfg)
        handler: Handler = args.handler
        with one_line_warnings():
            return int(handler(args, cfg, store) or 0)
    except SvdError as err:
        print(error_line(err), file=sys.stderr)
        return 2
    except OSError as err:     # permission denied, read-only or full disk, not a folder, ...
        print(os_error_line(err, store.root if store is not None else None), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("svd: interrupted; finished work is kept and a re-run resumes", file=sys.stderr)
        return 130
