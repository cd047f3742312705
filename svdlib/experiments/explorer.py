"""The explorer over a run's stored pairs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from svdlib.audio.frontend import filterbank
from svdlib.detector.model import HALF_BLOCK
from svdlib.detector.predictor import predict_logmel
from svdlib.errors import SvdError
from svdlib.experiments.explanations import pair_logmel, stacked_weights
from svdlib.experiments.factories import segmentation_from
from svdlib.experiments.picks import detector, load_picks
from svdlib.experiments.splits import corpus_layout
from svdlib.experiments.store import Store
from svdlib.explain.segments import Segmentation
from svdlib.veracity.flips import (
    compose_partial,
    lime_ranking,
    norm_ranking,
    selection_masks,
)
from svdlib.viz.widgets import PairView, _song_stft, pair_figure


def pair_view(store: Store, domain: str, target: int, index: int, k: int) -> PairView:
    """Collect the explorer's data for one pair (see :class:`PairView`)."""
    picks = load_picks(store, domain, target)
    if not 0 <= index < len(picks):
        raise SvdError(f"pair {index} does not exist ({len(picks)} pairs for {domain} t{target})")
    segmentation = segmentation_from(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    weights, fidelity = stacked_weights(store, domain, target, "adv")
    x, a = original[index:index + 1], adversarial[index:index + 1]
    lime = lime_ranking(weights[index], target)
    norm = norm_ranking(a[0] - x[0], segmentation)
    _, predictor = detector(store)
    partial = [compose_partial(x, a, selection_masks(r, k, segmentation)) for r in (lime, norm)]
    p = predict_logmel(predictor, np.concatenate([x, a, *partial]))
    return PairView(domain, target, index, k, str(picks.songs[index]), int(picks.frames[index]),
                    x[0], a[0], weights[index], segmentation.energy(a[0] - x[0]),
                    lime[0, :k], norm[0, :k], *map(float, p), float(fidelity[index]),
                    store.cfg.evaluate.threshold)


def _bin_groups(store: Store, segmentation: Segmentation) -> np.ndarray:
    """For every STFT bin, the frequency segment of its strongest mel band (−1: unused)."""
    bank = filterbank(store.cfg.frontend)
    band = bank.argmax(axis=1)
    group = np.searchsorted(np.asarray(segmentation.freq_borders[1:]), band, side="right")
    return np.where(bank.max(axis=1) > 0, group, -1)


def pair_audio(store: Store, view: PairView) -> dict[str, np.ndarray]:
    """Listenable excerpts: original, adversarial, and δ only in the LIME / norm selections.

    The original's STFT phase is kept and the magnitudes are scaled by adversarial / original
    in the chosen cells (mel segments mapped back to STFT bins by their strongest band); the
    result is resynthesised with the inverse STFT. For waveform attacks, too, the adversarial
    excerpt is resynthesised this way, so all four are comparable.
    """
    import librosa

    cfg = store.cfg
    fe = cfg.frontend
    segmentation = segmentation_from(cfg.lime)
    picks = load_picks(store, view.domain, view.target)
    path = corpus_layout(store).audio / view.song
    stft = _song_stft(str(path), fe.sample_rate, fe.frame_len, fe.hop)
    window = stft[view.frame - HALF_BLOCK:view.frame + HALF_BLOCK + 1]
    original = np.abs(window)
    ratio = np.asarray(picks.adversarial[view.index]) / np.maximum(original, 1e-7)
    groups = _bin_groups(store, segmentation)

    def cells(ids: np.ndarray | None) -> np.ndarray:
        if ids is None:
            return np.ones(window.shape, dtype=bool)
        mask = np.zeros(window.shape, dtype=bool)
        for c in np.asarray(ids).tolist():
            t, f = segmentation.component(c)
            rows = slice(segmentation.time_borders[t], segmentation.time_borders[t + 1])
            mask[rows, groups == f] = True
        return mask

    def resynthesise(mask: np.ndarray) -> np.ndarray:
        spec = window * np.where(mask, ratio, 1.0)
        return librosa.istft(spec.T, hop_length=fe.hop, win_length=fe.frame_len,
                             n_fft=fe.frame_len, window="hann", center=True)

    clips = {"original": resynthesise(cells(np.array([], dtype=int))),
             "adversarial": resynthesise(cells(None)),
             f"LIME top-{view.k}": resynthesise(cells(view.lime_ids)),
             f"norm top-{view.k}": resynthesise(cells(view.norm_ids))}
    # one gain for all four, so that loudness differences stay audible
    peak = max(float(np.abs(c).max()) for c in clips.values()) or 1.0
    return {name: (0.9 * clip / peak).astype(np.float32) for name, clip in clips.items()}


def explorer(store: Store, domain: str = "wave", target: int = 1, index: int = 0,
             k: int = 3, audio: bool = True):
    """The ipywidgets explorer (attack, direction, pair, k → figure and audio players).

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook.
    """
    import ipywidgets as widgets
    from IPython.display import Audio, display

    segmentation = segmentation_from(store.cfg.lime)
    counts = {(d, t): len(load_picks(store, d, t)) for d in ("wave", "spec") for t in (1, 0)}
    attack = widgets.Dropdown(options=[("waveform", "wave"), ("spectrogram", "spec")],
                              value=domain, description="attack")
    direction = widgets.Dropdown(options=[("no sing → sing", 1), ("sing → no sing", 0)],
                                 value=target, description="direction")
    pair = widgets.IntSlider(value=index, min=0, max=max(counts[(domain, target)] - 1, 0),
                             description="pair", continuous_update=False)
    segments = widgets.IntSlider(value=k, min=1, max=segmentation.n_components,
                                 description="k", continuous_update=False)
    out = widgets.Output()

    def update_range(*_: object) -> None:
        pair.max = max(counts[(attack.value, direction.value)] - 1, 0)

    attack.observe(update_range, "value")
    direction.observe(update_range, "value")

    def render(domain: str, target: int, index: int, k: int) -> None:
        out.clear_output(wait=True)
        with out:
            if counts[(domain, target)] == 0:
                print("no pairs for this setting")
                return
            view = pair_view(store, domain, target, min(index, counts[(domain, target)] - 1), k)
            fig = pair_figure(view, segmentation)
            display(fig)
            plt.close(fig)
            if audio:
                rate = store.cfg.frontend.sample_rate
                players = []
                for name, samples in pair_audio(store, view).items():
                    box = widgets.Output()
                    with box:
                        display(Audio(samples, rate=rate, normalize=False))
                    players.append(widgets.VBox([widgets.Label(name), box]))
                display(widgets.GridBox(players, layout=widgets.Layout(
                    grid_template_columns="repeat(2, minmax(0, 1fr))", grid_gap="4px 16px")))

    def changed(*_: object) -> None:
        render(attack.value, direction.value, pair.value, segments.value)

    for control in (attack, direction, pair, segments):
        control.observe(changed, "value")
    changed()
    return widgets.VBox([widgets.HBox([attack, direction]), widgets.HBox([pair, segments]), out])
