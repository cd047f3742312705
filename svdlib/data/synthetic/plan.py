"""The corpus plan: one seeded song specification per song, titles and artists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svdlib.constants import SPLITS
from svdlib.data.synthetic.compose import PHRASE_BARS
from svdlib.errors import SvdError

LABEL_FPS = 70
"""Frames per second of the vocal-activity analysis (hop 315 at 22050 Hz)."""

_TITLES_ASCII = (
    "Hana no Uta",
    "Milky Way",
    "Say Me Goodbye",
    "Paper Boats",
    "Night Train",
    "Glass Garden",
    "Slow Rivers",
    "Lanterns",
    "Blue Hour",
    "Kaze no Michi",
    "Summer Rain",
    "Crossroads",
    "Little Lights",
    "Tides",
    "Northern Lines",
    "Yume no Ato",
    "Sora Iro",
    "Wildflowers",
    "Echoes of May",
    "Harbour Song",
    "Silver Kites",
    "Open Windows",
)
_TITLES_SPECIAL = (
    "Café du Matin",
    "Über den Wolken",
    "Tōkyō Yoru",
    "Été Indien",
    "Mädchen im Mond",
    "Kyōto Ame",
    "Rêverie",
    "Ōsaka Blues",
    "Señorita Luna",
    "Fröhliche Straße",
    "Jōnetsu",
    "Niño del Mar",
    "Chanson d'Été",
    "L'Amour Lent",
    "Don't Look Back",
    "Rock 'n' Roll Heart",
    "Lovers' Lane",
    "It's Only Rain",
    "Tomorrow's Sky",
    "Grüße aus Köln",
)
_ARTISTS = (
    "Nora Vale",
    "Les Marées",
    "Kazumi",
    "Die Brücke",
    "Sōda Kōen",
    "The Lanterns",
    "Tiny Orchestra",
    "Zoë & the Owls",
    "Marée Basse",
    "Paper Moon",
)


@dataclass(frozen=True)
class SongSpec:
    """One planned song of the corpus.

    Parameters
    ----------
    name : str
        Audio file name with extension, Jamendo style, e.g. ``"07 - Hana no Uta.flac"``.
    split : str
        ``"train"``, ``"valid"`` or ``"test"``.
    index : int
        Position of the song in the corpus plan.
    seed : int
        Seed of everything random about this song (composition, singer, arrangement, mix).
    bars : int
        Number of 4/4 bars after the one-bar count-in.
    """

    name: str
    split: str
    index: int
    seed: int
    bars: int

    @property
    def stem(self) -> str:
        """The file name without its ``.flac`` extension (the name of the ``.lab`` file)."""
        return self.name.removesuffix(".flac")


# --------------------------------------------------------------------------------------------
# The plan: names, splits, seeds
# --------------------------------------------------------------------------------------------


def corpus_plan(seed: int, n_train: int, n_valid: int, n_test: int, bars: int) -> list[SongSpec]:
    """Plan a corpus deterministically: one :class:`SongSpec` per song, train then valid then test.

    File names follow the Jamendo corpus: ``"NN - Title.flac"`` or ``"Artist - Title.flac"``, with
    spaces; the first song's name has non-ASCII characters and the second an apostrophe, and many
    others have one or the other, so readers must cope with such names.

    Parameters
    ----------
    seed : int
        Corpus seed; the same seed gives the same plan.
    n_train, n_valid, n_test : int
        Number of songs per split (``n_train >= 1``, the others ``>= 0``).
    bars : int
        Song length in 4/4 bars after the one-bar count-in; an even number ``>= 4``.

    Returns
    -------
    list of SongSpec
        The songs, with unique names and per-song seeds.

    Raises
    ------
    SvdError
        If a count or ``bars`` is out of range.
    """
    _check_plan_args(n_train, n_valid, n_test, bars)
    counts = (n_train, n_valid, n_test)
    n_songs = sum(counts)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    titles = _titles(rng, n_songs)
    song_seeds = np.random.SeedSequence(seed).generate_state(n_songs, dtype=np.uint32)
    splits = [split for split, count in zip(SPLITS, counts, strict=True) for _ in range(count)]
    specs = []
    for index, (split, title) in enumerate(zip(splits, titles, strict=True)):
        if rng.random() < 0.5:
            prefix = f"{int(rng.integers(1, 15)):02d}"
        else:
            prefix = _ARTISTS[int(rng.integers(len(_ARTISTS)))]
        name = f"{prefix} - {title}.flac"
        specs.append(SongSpec(name, split, index, int(song_seeds[index]), bars))
    return specs


def _check_plan_args(n_train: int, n_valid: int, n_test: int, bars: int) -> None:
    if n_train < 1 or n_valid < 0 or n_test < 0:
        raise SvdError(
            f"corpus sizes must be n_train >= 1, n_valid >= 0, n_test >= 0 "
            f"(got {n_train}/{n_valid}/{n_test})"
        )
    if bars < 4 or bars % PHRASE_BARS:
        raise SvdError(f"corpus 'bars' must be an even number >= 4 (got {bars})")


def _titles(rng: np.random.Generator, n: int) -> list[str]:
    """Return unique titles; the first has non-ASCII characters, the second an apostrophe."""
    special = [_TITLES_SPECIAL[i] for i in rng.permutation(len(_TITLES_SPECIAL))]
    first = next(t for t in special if not t.isascii() and "'" not in t)
    second = next(t for t in special if "'" in t)
    rest = [t for t in special if t not in (first, second)] + list(_TITLES_ASCII)
    pool = [first, second] + [rest[i] for i in rng.permutation(len(rest))]
    return [
        pool[i % len(pool)] + ("" if i < len(pool) else f" {_roman(i // len(pool) + 1)}")
        for i in range(n)
    ]


def _roman(number: int) -> str:
    """Roman numeral of a small positive integer (for "Title II", "Title III", ...)."""
    numerals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, letters in numerals:
        count, number = divmod(number, value)
        out += letters * count
    return out
