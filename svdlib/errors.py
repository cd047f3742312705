"""Errors a user can cause, typed by what went wrong, each one clear line.

The library raises these; it never suggests a command. The ``svd`` command line turns them into
one line on stderr with exit code 2 and, for a :class:`MissingArtifactError`, the ``svd``
command that makes the artifact.
"""

from __future__ import annotations


class SvdError(Exception):
    """A problem with the user's input: a missing or bad file, a bad parameter.

    The message is a single line that names the file or setting and says how to fix it.

    Examples
    --------
    >>> from svdlib import SvdError, load_audio
    >>> try:
    ...     load_audio("no-such-song.wav")
    ... except SvdError as err:
    ...     print(err)
    audio file 'no-such-song.wav' does not exist; check the file list and the audio folder
    """


class ConfigError(SvdError):
    """A bad profile or setting: unknown key, out-of-range value, unreadable YAML.

    Examples
    --------
    The command line reports it as one line and exits with code 2, e.g. for
    ``svd run --set train.epochs=0``; in Python it is caught as any :class:`SvdError`:

    >>> from svdlib import ConfigError, SvdError
    >>> try:
    ...     raise ConfigError("configuration key 'train.epochs' must be an integer in 1..1000000")
    ... except SvdError as err:
    ...     print(f"{type(err).__name__}: {err}")
    ConfigError: configuration key 'train.epochs' must be an integer in 1..1000000
    """


class DataError(SvdError):
    """A bad input file: audio, labels, filelists, the corpus layout or a model file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from svdlib import DataError, load_audio
    >>> folder = tempfile.TemporaryDirectory()
    >>> broken = Path(folder.name) / "song.wav"
    >>> _ = broken.write_bytes(b"RIFF....WAVEfmt ")      # a cut WAV header
    >>> try:
    ...     load_audio(broken)
    ... except DataError as err:
    ...     print(type(err).__name__, "names the file:", str(broken) in str(err))
    DataError names the file: True
    >>> folder.cleanup()
    """


class DataWarning(UserWarning):
    """Input a stage reads but cannot use: songs too short for its excerpts, or unlabelled.

    One warning per stage names every such song; the ``svd`` command prints it as one line.
    """


class MissingArtifactError(SvdError):
    """An artifact a step needs has not been computed (or its computation did not finish).

    Parameters
    ----------
    message : str
        What is missing, and where.
    command : str
        The ``svd`` subcommand (with its options) that makes it, e.g. ``"train"`` or
        ``"attack --domain wave"``; the CLI shows it as a hint.
    """

    def __init__(self, message: str, command: str = "") -> None:
        super().__init__(message)
        self.command = command


def first_line(err: BaseException) -> str:
    """The first non-empty line of an exception's message (libraries' messages run long)."""
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__


class ArtifactError(SvdError):
    """An artifact file that does not read back as it was written.

    Its contents or size differ from the digest recorded when it was written, or it has no
    recorded digest (see :mod:`svdlib.digests`). The file is never used; deleting it makes
    the next run compute it again.
    """
