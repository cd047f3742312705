"""The sung voice: MusicXML for Sinsy, rendering, breath bursts and lyric redraws."""

from __future__ import annotations

import functools
import itertools
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.ndimage
import scipy.signal

from svdlib.data.synthetic.compose import KANA, SIXTEENTHS_PER_BAR, Note, Score
from svdlib.errors import SvdError

_STEPS = ("C", "C", "D", "D", "E", "F", "F", "G", "G", "A", "A", "B")
_SHARP = (False, True, False, True, False, False, True, False, True, False, True, False)
_SINSY_ATTEMPTS = 4


# --------------------------------------------------------------------------------------------
# The voice: Sinsy
# --------------------------------------------------------------------------------------------


def _musicxml(notes: Sequence[Note], tempo: int, total: int) -> str:
    """MusicXML of a sung part: rests and notes in 4/4 bars, notes tied across bar lines.

    ``notes`` must not overlap; the part lasts ``total`` sixteenths.
    """
    events: list[tuple[Note | None, int]] = []
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


def _xml_bars(events: list[tuple[Note | None, int]]) -> list[list[str]]:
    """Cut (note or rest, length) events at bar lines; return the XML notes of each bar."""
    bars: list[list[str]] = [[]]
    filled = 0
    for note, length in events:
        first = True
        while length > 0:
            take = min(length, SIXTEENTHS_PER_BAR - filled)
            tie = length > take
            bars[-1].append(_xml_note(note, take, lyric=first, tie_start=tie, tie_stop=not first))
            first, length, filled = False, length - take, filled + take
            if filled == SIXTEENTHS_PER_BAR:
                bars.append([])
                filled = 0
    if not bars[-1]:
        bars.pop()
    return bars


def _xml_note(note: Note | None, length: int, lyric: bool, tie_start: bool, tie_stop: bool) -> str:
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
    return [(start * 0.01, end * 0.01) for start, end, on in equal_runs(bad) if on]


def sing_vocals(score: Score, rng: np.random.Generator, alpha: float, n: int,
                rate: int) -> np.ndarray:
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
        offset = start - SIXTEENTHS_PER_BAR  # the section's score starts one bar early
        notes = [
            Note(note.pitch, note.start - offset, note.length, note.velocity, note.lyric)
            for note in score.voice
            if start <= note.start < start + length
        ]
        total = length + 2 * SIXTEENTHS_PER_BAR
        section = _sing_section(notes, score.tempo, total, rng, alpha, rate)
        at = round(offset * step * rate)
        section = section[: max(0, n - at)]
        voice[at : at + len(section)] += section
    return _soft_limit(voice)


def _sing_section(
    notes: list[Note], tempo: int, total: int, rng: np.random.Generator, alpha: float, rate: int
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
    rng: np.random.Generator, notes: list[Note], bursts: list[tuple[float, float]], step: float
) -> list[Note]:
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
        Note(n.pitch, n.start, n.length, n.velocity, KANA[int(rng.integers(len(KANA)))])
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


def equal_runs(mask: np.ndarray) -> Iterator[tuple[int, int, bool]]:
    """Maximal runs of equal values: (start, end, value), end exclusive."""
    if not len(mask):
        return
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = [0, *edges.tolist(), len(mask)]
    for start, end in itertools.pairwise(bounds):
        yield start, end, bool(mask[start])
