"""Mixing voice and band, and the labels read off the voice's activity."""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.signal

from svdlib.data.synthetic.band import band_events, lead_events, render
from svdlib.data.synthetic.compose import TAIL_S, compose_score
from svdlib.data.synthetic.plan import LABEL_FPS, SongSpec
from svdlib.data.synthetic.voice import equal_runs, sing_vocals

_AGC_MAX_GAIN = 4.0

Segment = tuple[float, float, bool]
"""A labelled stretch of a song: ``(start_s, end_s, is_sing)``."""


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


def _fill_runs(mask: np.ndarray, value: bool, shorter_than: int) -> np.ndarray:
    """Flip interior runs of ``value`` shorter than ``shorter_than`` frames.

    Runs of ``False`` touching the song's ends are kept (they are not gaps between phrases).
    """
    out = mask.copy()
    for start, end, on in equal_runs(mask):
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
    for start, end, on in equal_runs(sung):
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
    score = compose_score(compose_rng, spec.bars)
    n = round((score.total * score.sixteenth_s + TAIL_S) * sample_rate)
    alpha = float(voice_rng.uniform(0.50, 0.60))
    voice = sing_vocals(score, voice_rng, alpha, n, sample_rate)
    band = render(*band_events(band_rng, score), n, sample_rate)
    lead = render(*lead_events(band_rng, score), n, sample_rate)
    audio = _mix(mix_rng, voice, band, lead, sample_rate)
    return audio, _segments(_vocal_activity(voice, sample_rate), n, sample_rate)
