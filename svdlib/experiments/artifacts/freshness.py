"""Whether derived tables and figures are up to date: a record of what they were made from.

The experiments folder's tables and figures, and the benchmark's summary tables, are derived
from other artifacts by code that can change without changing any key. Each such group gets a
record (``<name>.inputs.json``) of a fingerprint of everything it was computed from: the
recorded digests of its input files, the configuration (without ``run`` and ``paths``), the
numeric environment, the versions of the libraries that compute and write it, and the bytes of
svdlib's code. A group whose record matches and whose files all verify is up to date and is not
computed again; any change to an input, a setting or the code computes it afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from svdlib.digests import artifact_done, recorded_digest, remove_artifact
from svdlib.errors import SvdError
from svdlib.experiments.storage.store import Store
from svdlib.files import load_json, save_json, short_hash

#: Libraries whose versions can change derived tables (intervals, tests) or figures.
LIBRARIES = ("numpy", "pandas", "scipy", "matplotlib", "seaborn", "torch")


def source_fingerprint(package: str | Path | None = None) -> str:
    """SHA-256 over a package's Python sources (relative paths and bytes).

    Parameters
    ----------
    package : path, optional
        The package folder; svdlib's own by default.

    Returns
    -------
    str
        64 hex digits.
    """
    package = Path(__file__).resolve().parents[2] if package is None else Path(package)
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.relative_to(package).parts:
            continue
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def inputs_fingerprint(store: Store, inputs: Iterable[str | Path], *extra: object) -> str | None:
    """A fingerprint of derived artifacts' inputs, settings, environment and code.

    Parameters
    ----------
    store : Store
        The run's store (configuration and environment).
    inputs : iterable of path
        The artifact files they are computed from (each must exist and verify).
    *extra
        Further JSON-able values that identify them.

    Returns
    -------
    str or None
        12 hex digits; None when an input is missing, or has no recorded digest with digests
        off (``SVD_VERIFY=0``), so that nothing counts as up to date.

    Raises
    ------
    ArtifactError
        If an input does not verify (changed since it was written, or without its digest
        with digests on).
    """
    from importlib.metadata import PackageNotFoundError, version

    digests = []
    for path in inputs:
        if not artifact_done(path):
            return None
        recorded = recorded_digest(path)
        if recorded is None:
            return None
        digests.append([Path(path).name, recorded["sha256"]])
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    settings = {k: v for k, v in store.cfg.to_dict().items() if k not in ("run", "paths")}
    return short_hash(digests, settings, store.environment(), versions, source_fingerprint(),
                      list(extra))


def record_path(folder: Path, name: str) -> Path:
    """Where the record of the group ``name`` lives in ``folder``."""
    return Path(folder) / f"{name}.inputs.json"


def up_to_date(record: Path, fingerprint: str | None, outputs: Iterable[str | Path]) -> bool:
    """Whether a group's record holds ``fingerprint`` and every output exists and verifies.

    Parameters
    ----------
    record : Path
        The group's record (:func:`record_path`).
    fingerprint : str or None
        The current :func:`inputs_fingerprint` (None: never up to date).
    outputs : iterable of path
        The group's files.

    Returns
    -------
    bool
        True when nothing needs computing. A record that is damaged, has no digest or is not
        one of :func:`write_record`'s says so too (it is only a note of svdlib's, rewritten
        when the group is computed); a damaged output is refused (:func:`artifact_done`).
    """
    if fingerprint is None or _recorded_fingerprint(record) != fingerprint:
        return False
    return all(artifact_done(path) for path in outputs)


def _recorded_fingerprint(record: Path) -> str | None:
    """The fingerprint a group's record holds; None when it is absent or unreadable."""
    try:
        if not artifact_done(record):
            return None
        data = load_json(record)
    except SvdError:
        return None
    return data.get("fingerprint") if isinstance(data, dict) else None


def write_record(record: Path, fingerprint: str | None, outputs: Iterable[str | Path]) -> None:
    """Record that the group's ``outputs`` were computed from ``fingerprint``.

    Written after the outputs; without a fingerprint an old record is removed instead.
    """
    if fingerprint is None:
        remove_artifact(record)
        return
    save_json(record, {"fingerprint": fingerprint,
                       "outputs": sorted(Path(p).name for p in outputs)})
