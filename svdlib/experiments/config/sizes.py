"""What the sizes in a configuration cost, and what this machine has.

This machine's memory and CPUs, and the bytes each stage allocates, worked out from the code
that allocates them.

:mod:`svdlib.experiments.config.checks` bounds every size with these, so that nothing that
loads asks for more memory than the machine has. The counts are upper estimates: the
multipliers were measured (peak resident memory, torch 2.13 on a CPU) and rounded up.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from svdlib.constants import EXCERPT_FRAMES

if TYPE_CHECKING:
    from svdlib.experiments.config.settings import Config

FLOAT32 = 4
#: Training keeps every layer's convolution, batch-norm and activation outputs for the backward
#: pass and then their gradients: measured 3.5-4 times the layer outputs (14-16 MB an excerpt
#: at width 1), so 5.
TRAIN_COPIES = 5
#: Inference holds a layer's input and output at once: measured 1.4 times the layer outputs.
INFER_COPIES = 2
#: Bytes per entry of a LIME neighbourhood (samples x segments): the uint8 masks, their bool
#: copy on the device, sklearn's float64 copies in the distances and the two Ridge fits
#: (measured 27-33), and KernelSHAP's coalitions with their float64 keys, two int64 argsorts
#: and the float64 design and its centred copy (41), which take as many samples by default.
NEIGHBOURHOOD_ENTRY = 48
#: Bytes per sample besides the masks: two float64 outputs, a float32 one, distance, weight.
NEIGHBOURHOOD_SAMPLE = 48
#: One bar of the embedded corpus lasts at most 4 beats at its slowest tempo, 80 BPM
#: (``svdlib/data/synthetic/compose.py`` draws 80-130).
SLOWEST_BAR_SECONDS = 3.0
#: The exhaustive search keeps a bool flag and a float64 margin per pair and subset.
SUBSET_BYTES = 9


@functools.cache
def memory_bytes() -> int:
    """The physical memory of this machine, or the cgroup's memory limit where lower."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return int(total)


def memory_budget(cfg: Config) -> tuple[int, str]:
    """Bytes one process may allocate, and how a message says so.

    A local Dask cluster runs ``run.workers`` processes at once, so each gets its share.
    """
    total = memory_bytes()
    workers = cfg.run.workers if isinstance(cfg.run.workers, int) and not cfg.run.scheduler \
        else 0
    if workers > 1:
        share = total // workers
        return share, f"{gib(share)} of memory ({gib(total)} shared by {workers} Dask workers)"
    return total, f"{gib(total)} of memory"


def largest(cost: Callable[[int], int], limit: int, low: int, high: int) -> int:
    """The largest ``n`` in ``low..high`` with ``cost(n) <= limit``, or ``low - 1`` if none.

    ``cost`` must grow with ``n``; a bisection, so ``high`` may be astronomically large.
    """
    if high < low or cost(low) > limit:
        return low - 1
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if cost(mid) <= limit else (low, mid - 1)
    return low


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask; all of them where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def gib(n_bytes: float) -> str:
    """A size for a message: ``23.5 GiB``, ``8.2 MiB`` or ``640 KiB``."""
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{math.ceil(n_bytes / 2 ** 10)} KiB"


def channels(width: float) -> list[int]:
    """The detector's convolution channels at ``model.width`` (as the model builds them)."""
    return [max(1, round(c * width)) for c in (64, 32, 128, 64)]


def _pooled(n: int) -> int:
    """Size after a 3-wide max-pooling of stride 3."""
    return (n - 3) // 3 + 1


def _band_sizes(bands: int) -> tuple[int, int, int, int, int, int]:
    """Bands after conv1, conv2, pool1, conv3, conv4 and pool2."""
    b1, b2 = bands - 2, bands - 4
    p1 = _pooled(b2)
    b3, b4 = p1 - 2, p1 - 4
    return b1, b2, p1, b3, b4, _pooled(b4)


def layer_floats(cfg: Config) -> int:
    """The floats of all layer outputs for one 115-frame excerpt (the strided form)."""
    c = channels(cfg.model.width)
    b1, b2, p1, b3, b4, p2 = _band_sizes(cfg.frontend.mel_bands)
    t1, t2 = EXCERPT_FRAMES - 2, EXCERPT_FRAMES - 4
    tp = _pooled(t2)
    t3, t4 = tp - 2, tp - 4
    return (c[0] * t1 * b1 + c[1] * t2 * b2 + c[1] * tp * p1 + c[2] * t3 * b3
            + c[3] * t4 * b4 + c[3] * _pooled(t4) * p2 + 256 + 64 + 1)


def frame_floats(cfg: Config) -> int:
    """The floats of all layer outputs per song frame in the dense (whole-song) form."""
    c = channels(cfg.model.width)
    b1, b2, p1, b3, b4, p2 = _band_sizes(cfg.frontend.mel_bands)
    return c[0] * b1 + c[1] * b2 + c[1] * p1 + c[2] * b3 + c[3] * b4 + c[3] * p2 + 256 + 64 + 1


def parameters(cfg: Config) -> int:
    """The detector's parameter count (convolutions, dense layers, batch norm)."""
    c = channels(cfg.model.width)
    p2 = _band_sizes(cfg.frontend.mel_bands)[-1]
    convs = 9 * (c[0] + c[0] * c[1] + c[1] * c[2] + c[2] * c[3]) + sum(c)
    dense = c[3] * 256 * 11 * p2 + 256 + 256 * 64 + 64 + 64 + 1
    return convs + dense + 4 * (sum(c) + 256 + 64) + 2 * cfg.frontend.mel_bands


def model_bytes(cfg: Config) -> int:
    """The detector while it trains: weights, gradients and Adam's two moments (float32)."""
    return 4 * FLOAT32 * parameters(cfg)


def cut_frames(cfg: Config) -> int:
    """Frames cut per training excerpt: 164 with the time-stretch augmentation, else 115."""
    tr = cfg.train
    return int(EXCERPT_FRAMES / (1 - tr.max_stretch)) if tr.augment else EXCERPT_FRAMES


def train_excerpt_bytes(cfg: Config) -> int:
    """One training excerpt: its linear cut, the augmented copies, the layers with gradients."""
    bins, bands = cfg.frontend.n_bins, cfg.frontend.mel_bands
    return FLOAT32 * (TRAIN_COPIES * layer_floats(cfg) + 3 * cut_frames(cfg) * bins
                      + 2 * EXCERPT_FRAMES * bands)


def infer_excerpt_bytes(cfg: Config) -> int:
    """One excerpt predicted in a LIME batch: its bool mask, its input and the layers."""
    cells = EXCERPT_FRAMES * cfg.frontend.mel_bands
    return cells + FLOAT32 * (INFER_COPIES * layer_floats(cfg) + 2 * cells)


def song_frames(cfg: Config, bars: int | None = None) -> int:
    """Frames of the longest embedded-corpus song (its count-in bar included) with padding."""
    bars = cfg.corpus.bars if bars is None else bars
    return math.ceil((bars + 1) * SLOWEST_BAR_SECONDS * cfg.frontend.fps) + EXCERPT_FRAMES


def song_bytes(cfg: Config, bars: int | None = None) -> int:
    """A loaded song: its float32 linear spectrogram and its frame targets."""
    return FLOAT32 * song_frames(cfg, bars) * (cfg.frontend.n_bins + 1)


def attack_song_bytes(cfg: Config, bars: int | None = None) -> int:
    """A whole song under attack, all at once.

    Every frame goes through the dense detector with gradients, and the waveform's STFT
    frames with theirs.
    """
    fe = cfg.frontend
    per_frame = TRAIN_COPIES * frame_floats(cfg) + 2 * fe.frame_len + 6 * fe.n_bins
    return FLOAT32 * song_frames(cfg, bars) * per_frame + song_bytes(cfg, bars)


def pair_bytes(cfg: Config) -> int:
    """A picked pair: two linear excerpts and their two log-mel excerpts."""
    return 2 * FLOAT32 * EXCERPT_FRAMES * (cfg.frontend.n_bins + cfg.frontend.mel_bands)


def neighbourhood_bytes(segments: int, samples: int) -> int:
    """A LIME (or KernelSHAP) neighbourhood and its fit, Gram matrix included."""
    return (samples * (segments * NEIGHBOURHOOD_ENTRY + NEIGHBOURHOOD_SAMPLE)
            + 16 * min(samples, segments) ** 2)


def split_songs(cfg: Config, split: str) -> int:
    """Songs of a split of the embedded corpus; 1 (per song) for a corpus under paths.data."""
    if cfg.paths.data:
        return 1
    return {"train": cfg.corpus.n_train, "valid": cfg.corpus.n_valid,
            "test": cfg.corpus.n_test}[split]


def subsets(segments: int, max_k: int) -> int:
    """The exhaustive search's subsets per pair: C(n, 1) + ... + C(n, max_k)."""
    return sum(math.comb(segments, k) for k in range(1, max_k + 1))


def train_stage_bytes(cfg: Config, bars: int, n_train: int, n_valid: int, batch: int) -> int:
    """Training: the detector, the train and valid songs in memory, a batch with gradients."""
    return (model_bytes(cfg) + (n_train + n_valid) * song_bytes(cfg, bars)
            + batch * train_excerpt_bytes(cfg))


def attack_stage_bytes(cfg: Config, bars: int, songs: int) -> int:
    """Attacking (and predicting): a split's songs in memory, one of them under attack."""
    return (model_bytes(cfg) + attack_song_bytes(cfg, bars)
            + (songs - 1) * song_bytes(cfg, bars))


def lime_stage_bytes(cfg: Config, batch: int, samples: int) -> int:
    """LIME on one excerpt: the detector, a batch of perturbed inputs, the neighbourhood."""
    segments = cfg.lime.n_time_segments * cfg.lime.n_freq_segments
    return (model_bytes(cfg) + batch * infer_excerpt_bytes(cfg)
            + neighbourhood_bytes(segments, samples))


def infidelity_bytes(cfg: Config, samples: int) -> int:
    """Captum's infidelity of one excerpt: all its removals at once, with their float64 terms.

    The perturbed inputs (float32), the removal masks and the spread relevances (float64) and
    their products (two float64 copies), then the detector over them in batches of 256.
    """
    cells = EXCERPT_FRAMES * cfg.frontend.mel_bands
    return (model_bytes(cfg) + samples * cells * (FLOAT32 + 4 * 8)
            + min(samples, 256) * infer_excerpt_bytes(cfg))


def sensitivity_bytes(cfg: Config, samples: int) -> int:
    """Captum's sensitivity_max of one excerpt: its noisy copies explained at once.

    A gradient method explains them in one batch with gradients (a training excerpt each).
    """
    return model_bytes(cfg) + (samples + 1) * train_excerpt_bytes(cfg)
