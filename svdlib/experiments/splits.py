"""The configured corpus's splits, loaded through the store's spectrogram cache."""

from __future__ import annotations

from svdlib.constants import SPLITS
from svdlib.data.jamendo import Layout, open_layout
from svdlib.data.songs import Song, load_split
from svdlib.errors import MissingArtifactError
from svdlib.experiments.store import Store


def corpus_layout(store: Store) -> Layout:
    """The layout of the configured corpus (generated or external), checked."""
    root = store.data_root()
    if not store.external_data:
        from svdlib.data.synthetic.generate import corpus_complete

        if not corpus_complete(root):
            raise MissingArtifactError(f"the embedded corpus '{root}' has not been generated "
                                       "(or its generation was interrupted)", "corpus")
    return open_layout(root)


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
