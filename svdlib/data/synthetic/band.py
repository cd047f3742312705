"""The band: MIDI events for comping, bass, drums and lead, rendered with a SoundFont."""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Sequence

import numpy as np

from svdlib.data.synthetic.compose import SIXTEENTHS_PER_BAR, TAIL_S, Score

_COMP_PROGRAMS = (0, 2, 4, 5, 24, 25, 48)  # pianos, e-pianos, guitars, strings
_BASS_PROGRAMS = (32, 33, 34, 38)
_PAD_PROGRAMS = (49, 50, 89, 19, 88)  # slow strings, synth strings, warm pad, organ, fantasia
_LEAD_PROGRAMS = (40, 56, 65, 71, 73, 80, 81)  # violin, trumpet, sax, clarinet, flute, synth leads
_DRUM_CHANNEL = 9
_LEAD_CHANNEL = 0


# --------------------------------------------------------------------------------------------
# The band: General MIDI through tinysoundfont
# --------------------------------------------------------------------------------------------

# A MIDI event: (time_s, order, kind, channel, data1, data2); order puts note-offs first.
_Event = tuple[float, int, str, int, int, int]


def _note_events(channel: int, pitch: int, start: float, end: float, vel: int) -> list[_Event]:
    return [(max(start, 0.0), 1, "on", channel, pitch, vel), (end, 0, "off", channel, pitch, 0)]


def band_events(rng: np.random.Generator, score: Score) -> tuple[list[_Event], dict[int, int]]:
    """Comping, bass, drums and pad for every bar; returns events and channel -> program."""
    programs = {
        1: int(rng.choice(_COMP_PROGRAMS)),
        2: int(rng.choice(_BASS_PROGRAMS)),
        3: int(rng.choice(_PAD_PROGRAMS)),
        _DRUM_CHANNEL: 0,
    }
    comp, bass, drums = int(rng.integers(4)), int(rng.integers(3)), int(rng.integers(4))
    beat = 4 * score.sixteenth_s
    section_starts = {start // SIXTEENTHS_PER_BAR for _, start, _ in score.sections}
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


def lead_events(rng: np.random.Generator, score: Score) -> tuple[list[_Event], dict[int, int]]:
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
    times = np.arange(0.0, score.total * step + TAIL_S, 0.01)
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


def render(events: list[_Event], programs: dict[int, int], n: int, sample_rate: int) -> np.ndarray:
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
