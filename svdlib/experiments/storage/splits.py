"""The configured corpus's splits, loaded through the store's spectrogram cache.

Also the songs a stage reads but cannot use (too short for its excerpts, or without label
lines): named in one warning per stage, and by ``svd corpus --check``.
"""

from __future__ import annotations

import warnings

from svdlib.constants import EXCERPT_FRAMES, SPLITS
from svdlib.data.jamendo import open_layout
from svdlib.data.songs import Song, load_split, short_songs, unlabelled_songs
from svdlib.errors import DataWarning
from svdlib.experiments.storage.store import Store, corpus_layout

#: What a song too short for the picks or the horses misses.
PICKED = "excerpt to pick"
HORSE = "excerpt to draw a horse into"


def load_store_split(store: Store, split: str, progress: bool = False) -> list[Song]:
    """Load one split of the configured corpus, caching spectrograms in the store."""
    return load_split(corpus_layout(store), split, store.cfg.frontend, store.spectra_dir(),
                      progress=progress)


def split_summary(store: Store) -> list[dict]:
    """Per split: number of songs, minutes of audio, share of "sing" frames."""
    rows = []
    for split in SPLITS:
        songs = load_store_split(store, split)
        frames = sum(s.n_frames for s in songs)
        sing = sum(int(s.targets.sum()) for s in songs)
        rows.append({"split": split, "songs": len(songs),
                     "minutes": frames / store.cfg.frontend.fps / 60,
                     "sing %": 100 * sing / max(frames, 1)})
    return rows


def unusable_parts(store: Store, split: str, short: list[str], frames: int, excerpt: str,
                   unlabelled: list[str]) -> list[str]:
    """The sentences naming a split's songs that are too short, or have no label lines.

    Parameters
    ----------
    store : Store
        The run (for the file lists' folder: ``filelists``, or ``filelist``).
    split : str
        The split the songs are listed in.
    short : list of str
        Songs shorter than ``frames``, which contribute no ``excerpt`` (e.g. "training
        excerpt").
    frames : int
        The excerpt length the stage needs.
    excerpt : str
        What the short songs do not give.
    unlabelled : list of str
        Songs whose ``.lab`` file has no label lines (all their frames count as "no sing").

    Returns
    -------
    list of str
        None, one or two sentences (without a final full stop).
    """
    parts: list[str] = []
    if not short and not unlabelled:
        return parts
    where = f"{open_layout(store.data_root()).filelists.name}/{split}"
    if short:
        verb = "contributes" if len(short) == 1 else "contribute"
        parts.append(f"{_count(short)} of {where} {verb} no {excerpt} (shorter than {frames} "
                     f"frames): {_names(short)}")
    if unlabelled:
        verb = "has" if len(unlabelled) == 1 else "have"
        parts.append(f"{_count(unlabelled)} of {where} {verb} no label lines (every frame "
                     f"counts as 'no sing'): {_names(unlabelled)}")
    return parts


def warn_unusable(store: Store, parts: list[str]) -> None:
    """Issue the sentences of :func:`unusable_parts` as one :class:`DataWarning`.

    A store issues a text once: a stage over several settings (the picks of four) warns once.
    """
    if not parts:
        return
    message = "; ".join(parts)
    if message not in store.warned:
        store.warned.add(message)
        warnings.warn(message, DataWarning, stacklevel=3)


def warn_unusable_songs(store: Store, songs: dict[str, list[Song]], frames: dict[str, int],
                        excerpt: str) -> None:
    """Warn once about the loaded songs a stage cannot use.

    Parameters
    ----------
    store : Store
        The run.
    songs : dict
        Split -> the songs the stage read.
    frames : dict
        Split -> the excerpt length the stage needs from it (a split not in it: none).
    excerpt : str
        What a too-short song does not give, e.g. ``"training excerpt"``.
    """
    parts = []
    for split, listed in songs.items():
        need = frames.get(split, 0)
        parts += unusable_parts(store, split, short_songs(listed, need), need, excerpt,
                                unlabelled_songs(listed))
    warn_unusable(store, parts)


def excerpt_needs(store: Store) -> dict[str, tuple[int, str]]:
    """Split -> (frames, what a shorter song misses), for every stage that cuts excerpts."""
    from svdlib.detector.training import excerpt_frames

    cfg = store.cfg
    needs = {"train": (excerpt_frames(cfg.train), "training excerpt"),
             "test": (EXCERPT_FRAMES, HORSE)}
    subset = cfg.attack.subset
    needs[subset] = (EXCERPT_FRAMES, "excerpt to pick or draw a horse into" if subset == "test"
                     else PICKED)
    return needs


def check_lines(store: Store) -> list[str]:
    """What ``svd corpus --check`` says about the songs the stages cannot use.

    Returns
    -------
    list of str
        A line per problem of a split (too short for its excerpts, no label lines), or one
        line saying there is none.
    """
    needs = excerpt_needs(store)
    lines = []
    for split in SPLITS:
        songs = load_store_split(store, split)
        frames, excerpt = needs.get(split, (0, ""))
        lines += unusable_parts(store, split, short_songs(songs, frames), frames, excerpt,
                                unlabelled_songs(songs))
    if not lines:
        lines.append("every song has label lines and is long enough for the excerpts its "
                     "stages cut")
    return lines


def _count(names: list[str]) -> str:
    return "1 song" if len(names) == 1 else f"{len(names)} songs"


def _names(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)
