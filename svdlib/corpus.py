"""The embedded default corpus: synthetic songs with singing, generated offline, Jamendo layout.

The real Jamendo corpus cannot be downloaded here, so this module composes songs from a seed and
renders them with pip-installable tools only:

* the **voice** is the Sinsy HMM singing synthesizer (``pysinsy``) with its bundled voice model,
  which was trained on recordings of a real singer. It sings the melody on random hiragana
  syllables. A per-song register and all-pass constant give every song a slightly different
  "singer";
* the **band** is General MIDI from the TimGM6mb SoundFont bundled with ``pretty_midi``, rendered
  offline with ``tinysoundfont``: comping, bass, drums and a pad;
* a **lead instrument** with pitch-bend vibrato plays the melody in the instrumental sections and
  sometimes a counter-line under the voice, so that "a melody is present" or "vibrato is present"
  does not reveal singing;
* the **mix** removes the loudness cue: a random vocal-to-accompaniment ratio, the lead as loud as
  the voice, a slow random gain envelope and a partial automatic gain control.

Labels come from the isolated vocal stem (frame energy at 70 frames per second), smoothed to
phrase-like segments as in Jamendo's annotation. :func:`generate_corpus` writes the Jamendo-VAD
layout::

    root/audio/<name>.flac
    root/filelists/{train,valid,test}
    root/labels/<name without extension>.lab      # "start end sing|nosing" lines
    root/.complete                                # the recipe, written last

Only a folder with ``.complete`` is a finished corpus (:func:`corpus_complete`); an interrupted
generation leaves none, and the next one finishes it with the same files.
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools
import json
import math
import os
import pathlib
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import scipy.ndimage
import scipy.signal
import soundfile as sf
from tqdm import tqdm

from svdlib.errors import SvdError

__all__ = ["SongSpec", "corpus_complete", "corpus_plan", "generate_corpus", "synthesize_song"]

SPLITS = ("train", "valid", "test")
"""The three filelists of the Jamendo layout, in the order songs are planned."""

LABEL_FPS = 70
"""Frames per second of the vocal-activity analysis (hop 315 at 22050 Hz)."""

_SIXTEENTHS_PER_BAR = 16
_PHRASE_BARS = 2
_TAIL_S = 1.5
_SCALE = (0, 2, 4, 5, 7, 9, 11)
_PROGRESSIONS = ((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 5, 4), (3, 0, 4, 5))
_KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわ"
_STEPS = ("C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B")
_SHARP = (False, True, False, True, False, False, True, False, True, False, True, False)
_COMP_PROGRAMS = (0, 2, 4, 5, 24, 25, 48)  # pianos, e-pianos, guitars, strings
_BASS_PROGRAMS = (32, 33, 34, 38)
_PAD_PROGRAMS = (49, 50, 89, 19, 88)  # slow strings, synth strings, warm pad, organ, fantasia
_LEAD_PROGRAMS = (40, 56, 65, 71, 73, 80, 81)  # violin, trumpet, sax, clarinet, flute, synth leads
_DRUM_CHANNEL = 9
_SINSY_ATTEMPTS = 4
_AGC_MAX_GAIN = 4.0
_LEAD_CHANNEL = 0

Segment = tuple[float, float, bool]
"""A labelled stretch of a song: ``(start_s, end_s, is_sing)``."""

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


@dataclass(frozen=True)
class _Note:
    """A note of the score; times in sixteenths from the start of the song (count-in included)."""

    pitch: int
    start: int
    length: int
    velocity: int = 90
    lyric: str = ""

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass
class _Score:
    """The composed song: tempo, harmony, sections, the sung melody and the lead line."""

    tempo: int
    key: int
    chords: list[tuple[int, ...]]  # one chord per bar (count-in included), semitones from tonic
    sections: list[tuple[bool, int, int]]  # (is_vocal, start, length) in sixteenths
    voice: list[_Note] = field(default_factory=list)
    lead: list[_Note] = field(default_factory=list)
    total: int = 0  # sixteenths, count-in included

    @property
    def sixteenth_s(self) -> float:
        return 15.0 / self.tempo


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
    if bars < 4 or bars % _PHRASE_BARS:
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


# --------------------------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------------------------


def _compose(rng: np.random.Generator, bars: int) -> _Score:
    """Compose a song: count-in bar, then shuffled vocal and instrumental sections."""
    tempo = int(rng.integers(80, 131))
    key = int(rng.integers(12))
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    chords = [_triad(progression[bar % 4]) for bar in range(bars + 1)]
    score = _Score(tempo, key, chords, _sections(rng, bars))
    score.total = (bars + 1) * _SIXTEENTHS_PER_BAR
    singer_shift = int(rng.integers(-3, 2))
    voice_tonic = 55 + (key + 5) % 12 + singer_shift
    lead_tonic = voice_tonic - singer_shift + int(rng.choice([0, 0, 12]))
    counter_prob = 0.5
    for is_vocal, start, length in score.sections:
        for phrase_start in range(start, start + length, _PHRASE_BARS * _SIXTEENTHS_PER_BAR):
            melody = _phrase(rng, phrase_start, score.chords)
            if is_vocal:
                score.voice += [_sung(rng, n, voice_tonic) for n in melody]
                if rng.random() < counter_prob:
                    score.lead += _counter_line(rng, melody, phrase_start, score, lead_tonic)
            else:
                score.lead += [_played(rng, n, lead_tonic) for n in melody]
    return score


def _triad(degree: int) -> tuple[int, ...]:
    """Semitones above the tonic of the diatonic triad on a 0-based scale degree."""
    return tuple(_degree_semitones(degree + step) for step in (0, 2, 4))


def _degree_semitones(degree: int) -> int:
    """Semitones above the tonic of a (possibly negative or > 6) major-scale degree."""
    octave, step = divmod(degree, 7)
    return 12 * octave + _SCALE[step]


def _sections(rng: np.random.Generator, bars: int) -> list[tuple[bool, int, int]]:
    """Split the bars after the count-in into 4-bar (or 2-bar) sections, about half of them vocal.

    There is always at least one vocal and, with two or more sections, one instrumental section.
    """
    lengths = [4] * (bars // 4) + ([2] if bars % 4 else [])
    if len(lengths) == 1:
        lengths = [2, 2]
    n_vocal = int(np.clip(round(len(lengths) * rng.uniform(0.5, 0.8)), 1, len(lengths) - 1))
    vocal = rng.permutation([True] * n_vocal + [False] * (len(lengths) - n_vocal))
    sections, start = [], _SIXTEENTHS_PER_BAR
    for is_vocal, length in zip(vocal, rng.permutation(lengths), strict=True):
        sections.append((bool(is_vocal), start, int(length) * _SIXTEENTHS_PER_BAR))
        start += int(length) * _SIXTEENTHS_PER_BAR
    return sections


def _phrase(rng: np.random.Generator, start: int, chords: Sequence[tuple[int, ...]]) -> list[_Note]:
    """Compose a two-bar phrase (scale degrees in ``pitch``) that ends in a breath rest.

    A random walk over the scale; notes on half-bar downbeats snap to a chord tone.
    """
    budget = 2 * _SIXTEENTHS_PER_BAR - int(rng.choice([4, 4, 6, 8]))
    degree, pos, notes = int(rng.integers(0, 5)), 0, []
    while pos < budget:
        length = min(int(rng.choice([2, 2, 4, 4, 4, 6, 8])), budget - pos)
        degree = int(np.clip(degree + rng.choice([-2, -1, -1, 0, 1, 1, 2]), -2, 7))
        onset = start + pos
        if onset % 8 == 0 and rng.random() < 0.7:
            degree = _nearest_chord_degree(degree, chords[onset // _SIXTEENTHS_PER_BAR])
        notes.append(_Note(degree, onset, length))
        pos += length
    return notes


def _nearest_chord_degree(degree: int, chord: tuple[int, ...]) -> int:
    """Return the scale degree nearest ``degree`` whose pitch class is in ``chord``."""
    classes = {c % 12 for c in chord}
    candidates = [d for d in range(degree - 2, degree + 3) if _degree_semitones(d) % 12 in classes]
    return int(np.clip(min(candidates, key=lambda d: abs(d - degree)), -2, 7))


def _sung(rng: np.random.Generator, note: _Note, tonic: int) -> _Note:
    pitch = tonic + _degree_semitones(note.pitch)
    return _Note(pitch, note.start, note.length, 100, _KANA[int(rng.integers(len(_KANA)))])


def _played(rng: np.random.Generator, note: _Note, tonic: int) -> _Note:
    pitch = tonic + _degree_semitones(note.pitch)
    return _Note(pitch, note.start, note.length, int(rng.integers(80, 111)))


def _counter_line(
    rng: np.random.Generator, melody: list[_Note], start: int, score: _Score, tonic: int
) -> list[_Note]:
    """Write a lead line under the voice: the melody doubled lower, or sustained chord tones."""
    if rng.random() < 0.5:
        interval = int(rng.choice([-12, -9, -8, -5]))
        return [
            _Note(n.pitch + interval, n.start, n.length, n.velocity)
            for n in (_played(rng, m, tonic) for m in melody)
        ]
    notes = []
    for onset in range(start, start + 2 * _SIXTEENTHS_PER_BAR, 8):
        chord = score.chords[onset // _SIXTEENTHS_PER_BAR]
        pitch = tonic - 12 + chord[int(rng.integers(1, 3))]
        notes.append(_Note(pitch, onset, 8, int(rng.integers(70, 100))))
    return notes


# --------------------------------------------------------------------------------------------
# The voice: Sinsy
# --------------------------------------------------------------------------------------------


def _musicxml(notes: Sequence[_Note], tempo: int, total: int) -> str:
    """MusicXML of a sung part: rests and notes in 4/4 bars, notes tied across bar lines.

    ``notes`` must not overlap; the part lasts ``total`` sixteenths.
    """
    events: list[tuple[_Note | None, int]] = []
    pos = 0
    for note in notes:
        if note.start > pos:
            events.append((None, note.start - pos))
        events.append((note, note.length))
        pos = note.end
    events.append((None, total - pos))
    bars = _xml_bars(events)
    header = (
        "<attributes><divisions>4</divisions><time><beats>4</beats><beat-type>4</beat-type>"
        f"</time></attributes><direction><sound tempo='{tempo}'/></direction>"
    )
    body = "".join(
        f"<measure number='{i + 1}'>{header if i == 0 else ''}{''.join(bar)}</measure>"
        for i, bar in enumerate(bars)
    )
    return (
        "<?xml version='1.0' encoding='UTF-8'?><score-partwise version='3.0'><part-list>"
        "<score-part id='P1'><part-name>Voice</part-name></score-part></part-list>"
        f"<part id='P1'>{body}</part></score-partwise>"
    )


def _xml_bars(events: list[tuple[_Note | None, int]]) -> list[list[str]]:
    """Cut (note or rest, length) events at bar lines; return the XML notes of each bar."""
    bars: list[list[str]] = [[]]
    filled = 0
    for note, length in events:
        first = True
        while length > 0:
            take = min(length, _SIXTEENTHS_PER_BAR - filled)
            tie = length > take
            bars[-1].append(_xml_note(note, take, lyric=first, tie_start=tie, tie_stop=not first))
            first, length, filled = False, length - take, filled + take
            if filled == _SIXTEENTHS_PER_BAR:
                bars.append([])
                filled = 0
    if not bars[-1]:
        bars.pop()
    return bars


def _xml_note(note: _Note | None, length: int, lyric: bool, tie_start: bool, tie_stop: bool) -> str:
    if note is None:
        return f"<note><rest/><duration>{length}</duration></note>"
    step, sharp, octave = _STEPS[note.pitch % 12], _SHARP[note.pitch % 12], note.pitch // 12 - 1
    pitch = f"<step>{step}</step>{'<alter>1</alter>' if sharp else ''}<octave>{octave}</octave>"
    ties = ("<tie type='stop'/>" if tie_stop else "") + ("<tie type='start'/>" if tie_start else "")
    text = f"<lyric><text>{note.lyric}</text></lyric>" if lyric and note.lyric else ""
    return f"<note><pitch>{pitch}</pitch><duration>{length}</duration>{ties}{text}</note>"


@functools.lru_cache(maxsize=1)
def _sinsy() -> object:
    """Load (once) the Sinsy engine with its bundled Japanese dictionary and singer model."""
    try:
        with warnings.catch_warnings():  # pysinsy imports the deprecated pkg_resources
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            import pysinsy
    except ImportError as exc:
        raise SvdError(
            "generating the default corpus needs pysinsy: pip install pysinsy 'setuptools<81'"
        ) from exc
    engine = pysinsy.Sinsy()
    engine.setLanguages("j", pysinsy.get_default_dic_dir())
    if not engine.loadVoices(pysinsy.get_default_htsvoice()):
        raise SvdError(f"pysinsy could not load its voice {pysinsy.get_default_htsvoice()}")
    return engine


def _sinsy_render(xml: str, alpha: float) -> tuple[np.ndarray, int]:
    """Sing a MusicXML score; return float64 samples in int16 scale and the sample rate."""
    engine = _sinsy()
    engine.setAlpha(alpha)
    with tempfile.TemporaryDirectory(prefix="svdlib-sinsy-") as tmp:
        path = os.path.join(tmp, "score.xml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(xml)
        if not engine.loadScoreFromMusicXML(path):
            raise RuntimeError("Sinsy rejected the generated score")
        try:
            wav, rate = engine.synthesize()
        finally:
            engine.clearScore()
    return np.asarray(wav, dtype=np.float64), int(rate)


def _bursts(wav: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """Time ranges (s) where Sinsy's synthesis filter blew up (values far above the voice level).

    Sinsy occasionally diverges for ~0.1 s at a consonant: samples reach 1e5..1e20, where the
    voice stays below ~3e4. Milder spikes are left to :func:`_soft_limit`.
    """
    win = rate // 100
    n = len(wav) // win
    peaks = np.abs(wav[: n * win]).reshape(n, win).max(axis=1)
    active = peaks[peaks > 200.0]
    level = float(np.median(active)) if active.size else 1.0
    bad = scipy.ndimage.binary_dilation(peaks > max(16.0 * level, 1e5), iterations=3)
    return [(start * 0.01, end * 0.01) for start, end, on in _runs(bad) if on]


def _sing(score: _Score, rng: np.random.Generator, alpha: float, n: int, rate: int) -> np.ndarray:
    """Render the vocal stem: ``n`` samples at ``rate``, soft-limited.

    Each vocal section is sung on its own, as a short score with a one-bar rest before and after
    it (Sinsy's time grows faster than linearly with the score's length, and a burst then costs
    only the re-rendering of one section).
    """
    voice = np.zeros(n)
    step = score.sixteenth_s
    for is_vocal, start, length in score.sections:
        if not is_vocal:
            continue
        offset = start - _SIXTEENTHS_PER_BAR  # the section's score starts one bar early
        notes = [
            _Note(note.pitch, note.start - offset, note.length, note.velocity, note.lyric)
            for note in score.voice
            if start <= note.start < start + length
        ]
        total = length + 2 * _SIXTEENTHS_PER_BAR
        section = _sing_section(notes, score.tempo, total, rng, alpha, rate)
        at = round(offset * step * rate)
        section = section[: max(0, n - at)]
        voice[at : at + len(section)] += section
    return _soft_limit(voice)


def _sing_section(
    notes: list[_Note], tempo: int, total: int, rng: np.random.Generator, alpha: float, rate: int
) -> np.ndarray:
    """Sing a short score (starting with a rest) at ``rate``, re-drawing syllables on bursts."""
    for attempt in range(_SINSY_ATTEMPTS):
        wav, sinsy_rate = _sinsy_render(_musicxml(notes, tempo, total), alpha)
        bursts = _bursts(wav, sinsy_rate)
        if not bursts or attempt == _SINSY_ATTEMPTS - 1:
            break
        notes = _redraw_lyrics(rng, notes, bursts, 15.0 / tempo)
    for start, end in bursts:  # give up: mute what is left, with short fades
        _mute(wav, int(start * sinsy_rate), int(end * sinsy_rate), fade=sinsy_rate // 100)
    gcd = math.gcd(rate, sinsy_rate)
    return scipy.signal.resample_poly(wav / 32768.0, rate // gcd, sinsy_rate // gcd)


def _redraw_lyrics(
    rng: np.random.Generator, notes: list[_Note], bursts: list[tuple[float, float]], step: float
) -> list[_Note]:
    """Draw new syllables for the notes around each burst (and the note before them).

    ``step`` is the length of a sixteenth in seconds.
    """
    hit = {
        i
        for i, note in enumerate(notes)
        for start, end in bursts
        if note.start * step - 0.2 < end and note.end * step + 0.1 > start
    }
    hit |= {i - 1 for i in hit if i > 0}
    return [
        _Note(n.pitch, n.start, n.length, n.velocity, _KANA[int(rng.integers(len(_KANA)))])
        if i in hit
        else n
        for i, n in enumerate(notes)
    ]


def _mute(x: np.ndarray, start: int, end: int, fade: int) -> None:
    """Zero ``x[start:end]`` in place, with linear fades of ``fade`` samples on either side."""
    start, end = max(start, 0), min(end, len(x))
    x[start:end] = 0.0
    lead_in = x[max(start - fade, 0) : start]
    lead_in *= np.linspace(1.0, 0.0, len(lead_in))
    lead_out = x[end : end + fade]
    lead_out *= np.linspace(0.0, 1.0, len(lead_out))


def _soft_limit(x: np.ndarray) -> np.ndarray:
    """Tame remaining spikes: tanh soft limit at 4x the 99th percentile of the active signal."""
    active = np.abs(x[np.abs(x) > 1e-4])
    if not active.size:
        return x
    limit = 4.0 * float(np.percentile(active, 99))
    return limit * np.tanh(x / limit)


# --------------------------------------------------------------------------------------------
# The band: General MIDI through tinysoundfont
# --------------------------------------------------------------------------------------------

# A MIDI event: (time_s, order, kind, channel, data1, data2); order puts note-offs first.
_Event = tuple[float, int, str, int, int, int]


def _note_events(channel: int, pitch: int, start: float, end: float, vel: int) -> list[_Event]:
    return [(max(start, 0.0), 1, "on", channel, pitch, vel), (end, 0, "off", channel, pitch, 0)]


def _band_events(rng: np.random.Generator, score: _Score) -> tuple[list[_Event], dict[int, int]]:
    """Comping, bass, drums and pad for every bar; returns events and channel -> program."""
    programs = {
        1: int(rng.choice(_COMP_PROGRAMS)),
        2: int(rng.choice(_BASS_PROGRAMS)),
        3: int(rng.choice(_PAD_PROGRAMS)),
        _DRUM_CHANNEL: 0,
    }
    comp, bass, drums = int(rng.integers(4)), int(rng.integers(3)), int(rng.integers(4))
    beat = 4 * score.sixteenth_s
    section_starts = {start // _SIXTEENTHS_PER_BAR for _, start, _ in score.sections}
    events: list[_Event] = []
    for bar, chord in enumerate(score.chords):
        t0 = bar * 4 * beat
        events += _comp_bar(rng, comp, chord, score.key, t0, beat)
        events += _bass_bar(rng, bass, chord, score.key, t0, beat)
        events += _drum_bar(rng, drums, t0, beat, crash=bar in section_starts)
        for tone in chord:
            pitch = 60 + (score.key + tone) % 12
            events += _note_events(3, pitch, t0, t0 + 4 * beat, int(rng.integers(35, 60)))
    return events, programs


def _jitter(rng: np.random.Generator) -> float:
    return float(rng.normal(0.0, 0.008))


def _comp_bar(
    rng: np.random.Generator, style: int, chord: tuple[int, ...], key: int, t0: float, beat: float
) -> list[_Event]:
    """One bar of comping: block chords, half notes, arpeggio or off-beat stabs."""
    tones = sorted(52 + (key + tone - 52) % 12 for tone in chord)
    hits: list[tuple[float, float, Sequence[int]]]
    if style == 0:
        hits = [(b, 0.9, tones) for b in range(4)]
    elif style == 1:
        hits = [(0.0, 1.9, tones), (2.0, 1.9, tones)]
    elif style == 2:
        hits = [(i / 2, 0.5, [tones[i % 3] + 12 * (i % 6 >= 3)]) for i in range(8)]
    else:
        hits = [(b + 0.5, 0.3, tones) for b in range(4)]
    events = []
    for onset, length, pitches in hits:
        start = t0 + onset * beat + _jitter(rng)
        for pitch in pitches:
            vel = int(rng.integers(50, 85))
            events += _note_events(1, pitch, start, start + length * beat, vel)
    return events


def _bass_bar(
    rng: np.random.Generator, style: int, chord: tuple[int, ...], key: int, t0: float, beat: float
) -> list[_Event]:
    """One bar of bass: roots on every beat, root-fifth half notes, or eighth-note pulses."""
    root = 36 + (key + chord[0]) % 12
    if style == 0:
        hits = [(float(b), 0.8, root) for b in range(4)]
    elif style == 1:
        hits = [(0.0, 1.8, root), (2.0, 1.8, root + 7)]
    else:
        hits = [(i / 2, 0.4, root) for i in range(8)]
    events = []
    for onset, length, pitch in hits:
        start = t0 + onset * beat + _jitter(rng)
        events += _note_events(2, pitch, start, start + length * beat, int(rng.integers(80, 105)))
    return events


_DRUM_PATTERNS = (  # (kick steps, snare steps, hi-hat steps) in sixteenths of the bar
    ((0, 8), (4, 12), tuple(range(0, 16, 2))),
    ((0, 6, 8), (4, 12), tuple(range(0, 16, 2))),
    ((0, 4, 8, 12), (4, 12), (2, 6, 10, 14)),
    ((0, 10), (8,), tuple(range(0, 16, 2))),
)


def _drum_bar(
    rng: np.random.Generator, style: int, t0: float, beat: float, crash: bool
) -> list[_Event]:
    """One bar of drums (GM kit: kick 36, snare 38, hats 42/46, crash 49)."""
    kicks, snares, hats = _DRUM_PATTERNS[style]
    hat_note = 46 if style == 2 else 42
    hits = [(s, 36, 100) for s in kicks] + [(s, 38, 95) for s in snares]
    hits += [(s, hat_note, 65) for s in hats] + ([(0, 49, 90)] if crash else [])
    events = []
    for step, pitch, vel in hits:
        start = t0 + step * beat / 4 + _jitter(rng)
        vel = int(np.clip(vel + rng.integers(-12, 13), 1, 127))
        events += _note_events(_DRUM_CHANNEL, pitch, start, start + 0.1, vel)
    return events


def _lead_events(rng: np.random.Generator, score: _Score) -> tuple[list[_Event], dict[int, int]]:
    """Return the lead's notes plus pitch-bend vibrato that fades in after each onset."""
    step = score.sixteenth_s
    events: list[_Event] = []
    for note in score.lead:
        start = note.start * step + _jitter(rng)
        events += _note_events(
            _LEAD_CHANNEL, note.pitch, start, start + note.length * step * 0.95, note.velocity
        )
    rate, depth = rng.uniform(4.5, 6.5), rng.uniform(0.15, 0.5)  # Hz, semitones
    delay = rng.uniform(0.1, 0.3)
    onsets = np.array(sorted(n.start * step for n in score.lead) or [0.0])
    times = np.arange(0.0, score.total * step + _TAIL_S, 0.01)
    since = times - onsets[np.maximum(np.searchsorted(onsets, times, side="right") - 1, 0)]
    ramp = np.clip((since - delay) / 0.3, 0.0, 1.0)
    bend = 8192 + np.round(8191 * depth / 2 * ramp * np.sin(2 * np.pi * rate * times))
    events += [
        (float(t), 2, "bend", _LEAD_CHANNEL, int(b), 0) for t, b in zip(times, bend, strict=True)
    ]
    return events, {_LEAD_CHANNEL: int(rng.choice(_LEAD_PROGRAMS))}


@functools.lru_cache(maxsize=1)
def _soundfont() -> bytes:
    """Read the TimGM6mb General MIDI SoundFont bundled with pretty_midi."""
    return (importlib.resources.files("pretty_midi") / "TimGM6mb.sf2").read_bytes()


def _render(events: list[_Event], programs: dict[int, int], n: int, sample_rate: int) -> np.ndarray:
    """Render MIDI events to ``n`` mono float32 samples with tinysoundfont."""
    import tinysoundfont

    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(_soundfont())
    for channel, program in programs.items():
        drums = channel == _DRUM_CHANNEL
        synth.program_select(channel, sfid, 128 if drums else 0, program, is_drums=drums)
    buffer = memoryview(bytearray(n * 2 * 4))
    done = 0
    for time_s, _, kind, channel, data1, data2 in sorted(events):
        at = min(round(time_s * sample_rate), n)
        if at > done:
            synth.generate_simple(at - done, buffer=buffer[done * 8 : at * 8])
            done = at
        if kind == "on":
            synth.noteon(channel, data1, data2)
        elif kind == "off":
            synth.noteoff(channel, data1)
        else:
            synth.pitchbend(channel, data1)
    if done < n:
        synth.generate_simple(n - done, buffer=buffer[done * 8 :])
    return np.frombuffer(buffer, dtype=np.float32).reshape(-1, 2).mean(axis=1)


# --------------------------------------------------------------------------------------------
# Mixing and labels
# --------------------------------------------------------------------------------------------


def _active_rms(x: np.ndarray) -> float:
    """RMS over the samples that are not silent."""
    active = x[np.abs(x) > 1e-4]
    return float(np.sqrt(np.mean(active**2))) if active.size else 1e-6


def _mix(
    rng: np.random.Generator, voice: np.ndarray, band: np.ndarray, lead: np.ndarray, sr: int
) -> np.ndarray:
    """Mix so that loudness does not reveal singing.

    A vocal-to-accompaniment ratio uniform in -8..+4 dB, the lead within 3 dB of the voice, a slow
    random gain envelope (+-6 dB), then a partial AGC: the gain is the 0.4 s RMS raised to
    -0.6..-0.9 (at most +12 dB, so that fading tails are not pumped up).
    """
    voice = voice * (_active_rms(band) / _active_rms(voice) * 10 ** (rng.uniform(-8, 4) / 20))
    lead = lead * (_active_rms(voice) / _active_rms(lead) * 10 ** (rng.uniform(-3, 3) / 20))
    mix = band + voice + lead
    n = len(mix)
    knots = max(3, int(n / sr / 6) + 2)
    envelope_db = np.interp(np.arange(n), np.linspace(0, n, knots), rng.uniform(-6, 6, knots))
    mix *= 10 ** (envelope_db / 20)
    short_term = np.sqrt(scipy.ndimage.uniform_filter1d(mix**2, int(0.4 * sr)) + 1e-8)
    agc = (short_term / np.median(short_term)) ** (-rng.uniform(0.6, 0.9))
    mix *= np.minimum(agc, _AGC_MAX_GAIN)
    peak = 10 ** (rng.uniform(-3, -0.5) / 20)
    return (mix * (peak / np.abs(mix).max())).astype(np.float32)


def _frame_params(sample_rate: int) -> tuple[int, int]:
    """Hop and frame length for the 70 fps analysis (315 and 1024 at 22050 Hz)."""
    return round(sample_rate / LABEL_FPS), round(1024 * sample_rate / 22050)


def _vocal_activity(voice: np.ndarray, sample_rate: int) -> np.ndarray:
    """Frame-wise singing mask of the vocal stem at 70 fps, smoothed to phrase-like segments.

    A frame sings if its RMS is above the 90th percentile of the sung frames' level minus 30 dB.
    Gaps shorter than 200 ms are closed, then sung islands shorter than 100 ms are dropped.
    """
    hop, frame_len = _frame_params(sample_rate)
    padded = np.pad(voice.astype(np.float64), frame_len // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_len)[::hop]
    frames = frames[: 1 + len(voice) // hop]
    rms = np.sqrt(np.mean(frames**2, axis=1))
    audible = rms[rms > rms.max() * 1e-3]
    if not audible.size:
        return np.zeros(len(rms), dtype=bool)
    sung = rms > np.percentile(audible, 90) * 10 ** (-30 / 20)
    sung = _fill_runs(sung, value=False, shorter_than=round(0.2 * LABEL_FPS))
    return _fill_runs(sung, value=True, shorter_than=round(0.1 * LABEL_FPS))


def _runs(mask: np.ndarray) -> Iterator[tuple[int, int, bool]]:
    """Maximal runs of equal values: (start, end, value), end exclusive."""
    if not len(mask):
        return
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), len(mask)]
    for start, end in itertools.pairwise(bounds):
        yield start, end, bool(mask[start])


def _fill_runs(mask: np.ndarray, value: bool, shorter_than: int) -> np.ndarray:
    """Flip interior runs of ``value`` shorter than ``shorter_than`` frames.

    Runs of ``False`` touching the song's ends are kept (they are not gaps between phrases).
    """
    out = mask.copy()
    for start, end, on in _runs(mask):
        interior = start > 0 and end < len(mask)
        if on == value and end - start < shorter_than and (interior or value):
            out[start:end] = not value
    return out


def _segments(sung: np.ndarray, n_samples: int, sample_rate: int) -> list[Segment]:
    """Contiguous (start_s, end_s, is_sing) segments, rounded to ms, covering the whole song.

    Frame ``i`` is centred on sample ``i * hop``; a label changes half-way between two frames.
    """
    hop, _ = _frame_params(sample_rate)
    duration = round(n_samples / sample_rate, 3)
    segments = []
    for start, end, on in _runs(sung):
        t0 = 0.0 if start == 0 else round((start - 0.5) * hop / sample_rate, 3)
        t1 = duration if end == len(sung) else round((end - 0.5) * hop / sample_rate, 3)
        segments.append((t0, min(t1, duration), on))
    return [s for s in segments if s[1] > s[0]] or [(0.0, duration, False)]


# --------------------------------------------------------------------------------------------
# Songs and the corpus on disk
# --------------------------------------------------------------------------------------------


def synthesize_song(spec: SongSpec, sample_rate: int = 22050) -> tuple[np.ndarray, list[Segment]]:
    """Compose, sing, play and mix one song, and label it from its vocal stem.

    Parameters
    ----------
    spec : SongSpec
        The song; everything random about it derives from ``spec.seed``.
    sample_rate : int
        Output sample rate in Hz.

    Returns
    -------
    audio : numpy.ndarray
        Mono float32 mixture with peak below 1.
    segments : list of (float, float, bool)
        ``(start_s, end_s, is_sing)`` segments, contiguous, alternating and covering the song.
    """
    compose_rng, voice_rng, band_rng, mix_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(4)
    )
    score = _compose(compose_rng, spec.bars)
    n = round((score.total * score.sixteenth_s + _TAIL_S) * sample_rate)
    alpha = float(voice_rng.uniform(0.50, 0.60))
    voice = _sing(score, voice_rng, alpha, n, sample_rate)
    band = _render(*_band_events(band_rng, score), n, sample_rate)
    lead = _render(*_lead_events(band_rng, score), n, sample_rate)
    audio = _mix(mix_rng, voice, band, lead, sample_rate)
    return audio, _segments(_vocal_activity(voice, sample_rate), n, sample_rate)


def _format_lab(segments: Sequence[Segment]) -> str:
    """Jamendo ``.lab`` text: one ``"start end sing|nosing"`` line per segment, in seconds."""
    return "".join(f"{a:.3f} {b:.3f} {'sing' if on else 'nosing'}\n" for a, b, on in segments)


def generate_corpus(
    root: pathlib.Path,
    seed: int,
    n_train: int,
    n_valid: int,
    n_test: int,
    bars: int,
    sample_rate: int = 22050,
    progress: bool = True,
) -> pathlib.Path:
    """Generate the default corpus under ``root`` in the Jamendo-VAD layout (resumable).

    Each song's FLAC and ``.lab`` are written to temporary files and renamed into place; a song
    whose two files exist is skipped, so an interrupted run can simply be repeated (songs are
    deterministic, so the result is the same as an uninterrupted run). The filelists and then
    the completion marker ``.complete`` (the recipe as JSON) are written last, and the marker is
    removed before any song is (re)made, so :func:`corpus_complete` is true only for a finished
    corpus.

    Parameters
    ----------
    root : pathlib.Path
        Corpus directory; ``audio/``, ``labels/`` and ``filelists/`` are created inside.
    seed : int
        Corpus seed; the same seed gives identical labels and audio samples.
    n_train, n_valid, n_test : int
        Number of songs per split.
    bars : int
        Song length in bars after the one-bar count-in (even, ``>= 4``); 12 bars are ~30 s.
    sample_rate : int
        Sample rate of the FLAC files in Hz.
    progress : bool
        Show a tqdm progress bar over the songs.

    Returns
    -------
    pathlib.Path
        ``root``.
    """
    root = pathlib.Path(root)
    plan = corpus_plan(seed, n_train, n_valid, n_test, bars)
    recipe = _recipe(seed, n_train, n_valid, n_test, bars, sample_rate)
    filelists = {
        split: "".join(f"{spec.name}\n" for spec in plan if spec.split == split) for split in SPLITS
    }
    marker = root / COMPLETE_MARKER
    if marker.is_file() and not corpus_complete(root, recipe):
        marker.unlink()
    audio_dir, label_dir, list_dir = (root / d for d in ("audio", "labels", "filelists"))
    for directory in (audio_dir, label_dir, list_dir):
        directory.mkdir(parents=True, exist_ok=True)
        _remove_partial_files(directory)
    _remove_partial_files(root)
    _remove_stale_filelists(list_dir, filelists)
    for spec in tqdm(plan, desc="default corpus", unit="song", disable=not progress):
        audio_path, lab_path = audio_dir / spec.name, label_dir / f"{spec.stem}.lab"
        if audio_path.is_file() and lab_path.is_file():
            continue
        marker.unlink(missing_ok=True)
        audio, segments = synthesize_song(spec, sample_rate)
        _atomic_write(audio_path, functools.partial(_write_flac, audio=audio, rate=sample_rate))
        _atomic_write_text(lab_path, _format_lab(segments))
    for split, text in filelists.items():
        _atomic_write_text(list_dir / split, text)
    _atomic_write_text(marker, json.dumps(recipe, sort_keys=True) + "\n")
    return root


COMPLETE_MARKER = ".complete"
"""The file :func:`generate_corpus` writes last into a finished corpus: its recipe as JSON."""


def _recipe(seed: int, n_train: int, n_valid: int, n_test: int, bars: int,
            sample_rate: int) -> dict[str, int]:
    return {"seed": seed, "n_train": n_train, "n_valid": n_valid, "n_test": n_test,
            "bars": bars, "sample_rate": sample_rate}


def corpus_complete(root: str | pathlib.Path, recipe: dict[str, int] | None = None) -> bool:
    """Whether ``root`` holds a corpus that :func:`generate_corpus` finished.

    Parameters
    ----------
    root : str or pathlib.Path
        The corpus folder.
    recipe : dict, optional
        ``seed, n_train, n_valid, n_test, bars, sample_rate``; if given, the finished corpus
        must have been made with exactly these.

    Returns
    -------
    bool
        True iff the completion marker is there (and names ``recipe``) and so are the three
        filelists; a folder left by an interrupted generation gives False.
    """
    root = pathlib.Path(root)
    try:
        written = json.loads((root / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if recipe is not None and written != recipe:
        return False
    return all((root / "filelists" / split).is_file() for split in SPLITS)


_PARTIAL_SUFFIX = ".partial"


def _write_flac(f: BinaryIO, audio: np.ndarray, rate: int) -> None:
    sf.write(f, audio, rate, subtype="PCM_16", format="FLAC")


def _remove_partial_files(directory: pathlib.Path) -> None:
    """Delete temporary files left behind by an interrupted run."""
    for path in directory.glob(f".*{_PARTIAL_SUFFIX}"):
        path.unlink(missing_ok=True)


def _remove_stale_filelists(list_dir: pathlib.Path, filelists: dict[str, str]) -> None:
    """Delete filelists of a different plan, so that no half-made corpus looks complete."""
    paths = [list_dir / split for split in filelists]
    if any(p.is_file() and p.read_bytes() != filelists[p.name].encode("utf-8") for p in paths):
        for path in paths:
            path.unlink(missing_ok=True)


def _atomic_write(path: pathlib.Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file_object)`` on a temporary file next to ``path``, then rename it there."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}{_PARTIAL_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _atomic_write_text(path: pathlib.Path, text: str) -> None:
    """Write UTF-8 text atomically, leaving the file untouched if it already has that text."""
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return
    _atomic_write(path, lambda f: f.write(data))
