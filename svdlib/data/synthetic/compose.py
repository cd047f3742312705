"""Composition: chord progressions, sung phrases and counter-lines on a score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: The grid (4/4 in sixteenths), the bars of a melodic phrase, the seconds of silence after the
#: last note.
SIXTEENTHS_PER_BAR = 16
PHRASE_BARS = 2
TAIL_S = 1.5
_SCALE = (0, 2, 4, 5, 7, 9, 11)
_PROGRESSIONS = ((0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 5, 4), (3, 0, 4, 5))
#: The syllables sung (one per note).
KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわ"


@dataclass(frozen=True)
class Note:
    """A note of the score; times in sixteenths from the start of the song (count-in included)."""

    pitch: int
    start: int
    length: int
    velocity: int = 90
    lyric: str = ""

    @property
    def end(self) -> int:
        """The sixteenth after the note's last one."""
        return self.start + self.length


@dataclass
class Score:
    """The composed song: tempo, harmony, sections, the sung melody and the lead line."""

    tempo: int
    key: int
    chords: list[tuple[int, ...]]  # one chord per bar (count-in included), semitones from tonic
    sections: list[tuple[bool, int, int]]  # (is_vocal, start, length) in sixteenths
    voice: list[Note] = field(default_factory=list)
    lead: list[Note] = field(default_factory=list)
    total: int = 0  # sixteenths, count-in included

    @property
    def sixteenth_s(self) -> float:
        """The length of a sixteenth note in seconds."""
        return 15.0 / self.tempo


# --------------------------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------------------------


def compose_score(rng: np.random.Generator, bars: int) -> Score:
    """Compose a song: count-in bar, then shuffled vocal and instrumental sections."""
    tempo = int(rng.integers(80, 131))
    key = int(rng.integers(12))
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    chords = [_triad(progression[bar % 4]) for bar in range(bars + 1)]
    score = Score(tempo, key, chords, _sections(rng, bars))
    score.total = (bars + 1) * SIXTEENTHS_PER_BAR
    singer_shift = int(rng.integers(-3, 2))
    voice_tonic = 55 + (key + 5) % 12 + singer_shift
    lead_tonic = voice_tonic - singer_shift + int(rng.choice([0, 0, 12]))
    counter_prob = 0.5
    for is_vocal, start, length in score.sections:
        for phrase_start in range(start, start + length, PHRASE_BARS * SIXTEENTHS_PER_BAR):
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
    sections, start = [], SIXTEENTHS_PER_BAR
    for is_vocal, length in zip(vocal, rng.permutation(lengths), strict=True):
        sections.append((bool(is_vocal), start, int(length) * SIXTEENTHS_PER_BAR))
        start += int(length) * SIXTEENTHS_PER_BAR
    return sections


def _phrase(rng: np.random.Generator, start: int, chords: Sequence[tuple[int, ...]]) -> list[Note]:
    """Compose a two-bar phrase (scale degrees in ``pitch``) that ends in a breath rest.

    A random walk over the scale; notes on half-bar downbeats snap to a chord tone.
    """
    budget = 2 * SIXTEENTHS_PER_BAR - int(rng.choice([4, 4, 6, 8]))
    degree, pos, notes = int(rng.integers(0, 5)), 0, []
    while pos < budget:
        length = min(int(rng.choice([2, 2, 4, 4, 4, 6, 8])), budget - pos)
        degree = int(np.clip(degree + rng.choice([-2, -1, -1, 0, 1, 1, 2]), -2, 7))
        onset = start + pos
        if onset % 8 == 0 and rng.random() < 0.7:
            degree = _nearest_chord_degree(degree, chords[onset // SIXTEENTHS_PER_BAR])
        notes.append(Note(degree, onset, length))
        pos += length
    return notes


def _nearest_chord_degree(degree: int, chord: tuple[int, ...]) -> int:
    """Return the scale degree nearest ``degree`` whose pitch class is in ``chord``."""
    classes = {c % 12 for c in chord}
    candidates = [d for d in range(degree - 2, degree + 3) if _degree_semitones(d) % 12 in classes]
    return int(np.clip(min(candidates, key=lambda d: abs(d - degree)), -2, 7))


def _sung(rng: np.random.Generator, note: Note, tonic: int) -> Note:
    pitch = tonic + _degree_semitones(note.pitch)
    return Note(pitch, note.start, note.length, 100, KANA[int(rng.integers(len(KANA)))])


def _played(rng: np.random.Generator, note: Note, tonic: int) -> Note:
    pitch = tonic + _degree_semitones(note.pitch)
    return Note(pitch, note.start, note.length, int(rng.integers(80, 111)))


def _counter_line(
    rng: np.random.Generator, melody: list[Note], start: int, score: Score, tonic: int
) -> list[Note]:
    """Write a lead line under the voice: the melody doubled lower, or sustained chord tones."""
    if rng.random() < 0.5:
        interval = int(rng.choice([-12, -9, -8, -5]))
        return [
            Note(n.pitch + interval, n.start, n.length, n.velocity)
            for n in (_played(rng, m, tonic) for m in melody)
        ]
    notes = []
    for onset in range(start, start + 2 * SIXTEENTHS_PER_BAR, 8):
        chord = score.chords[onset // SIXTEENTHS_PER_BAR]
        pitch = tonic - 12 + chord[int(rng.integers(1, 3))]
        notes.append(Note(pitch, onset, 8, int(rng.integers(70, 100))))
    return notes
