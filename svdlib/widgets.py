"""An interactive explorer of the explanations of adversarial excerpts (ipywidgets).

Choose an attack, a direction, a pair and k; see the original, the adversarial excerpt and the
perturbation, LIME's weights on the 5 × 4 grid next to the perturbation energy, the k segments
each selects and what the detector says when only those carry the perturbation; and listen to
the original, the adversarial excerpt and the two partial versions. In a static page (the
built book) the widgets render from their embedded state with the first selection; a static
figure is shown as well, for readers without JavaScript.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from .audio import filterbank, load_audio
from .data import corpus_layout
from .errors import SvdError
from .model import HALF_BLOCK
from .paper_tables import DIRECTION_NAMES, DOMAIN_NAMES
from .plots import explanation_grid, style
from .segments import Segmentation
from .store import Store
from .veracity import (
    compose_partial,
    detector,
    is_flipped,
    lime_ranking,
    load_picks,
    norm_ranking,
    pair_logmel,
    predict_logmel,
    selection_masks,
    stacked_weights,
)


@dataclass
class PairView:
    """Everything the explorer shows for one pair and one k."""

    domain: str
    target: int
    index: int
    k: int
    song: str
    frame: int
    original: np.ndarray
    adversarial: np.ndarray
    weights: np.ndarray
    energy: np.ndarray
    lime_ids: np.ndarray
    norm_ids: np.ndarray
    p_original: float
    p_adversarial: float
    p_lime: float
    p_norm: float
    fidelity: float
    threshold: float

    @property
    def delta(self) -> np.ndarray:
        """The log-mel perturbation."""
        return self.adversarial - self.original


def pair_view(store: Store, domain: str, target: int, index: int, k: int) -> PairView:
    """Collect the explorer's data for one pair (see :class:`PairView`)."""
    picks = load_picks(store, domain, target)
    if not 0 <= index < len(picks):
        raise SvdError(f"pair {index} does not exist ({len(picks)} pairs for {domain} t{target})")
    segmentation = Segmentation.from_config(store.cfg.lime)
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


def pair_figure(view: PairView, segmentation: Segmentation) -> plt.Figure:
    """Original, adversarial, perturbation; LIME weights and perturbation energy on the grid."""
    style()
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.6))
    limits = (min(view.original.min(), view.adversarial.min()),
              max(view.original.max(), view.adversarial.max()))
    for ax, image, title in ((axes[0, 0], view.original, f"original, P(sing) = "
                              f"{view.p_original:.2f}"),
                             (axes[0, 1], view.adversarial, f"adversarial, P(sing) = "
                              f"{view.p_adversarial:.2f}")):
        ax.imshow(image.T, origin="lower", aspect="auto", cmap="magma", vmin=limits[0],
                  vmax=limits[1])
        ax.set_title(title, fontsize=10)
    bound = float(np.abs(view.delta).max()) or 1.0
    axes[0, 2].imshow(view.delta.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-bound,
                      vmax=bound)
    axes[0, 2].set_title("perturbation δ (log-mel)", fontsize=10)
    for ax in axes[0]:
        ax.grid(False)
        ax.set_xlabel("frame")
        ax.set_ylabel("mel band")
        for t in segmentation.time_borders[1:-1]:
            ax.axvline(t - 0.5, color="white", linewidth=0.5, alpha=0.7)
        for b in segmentation.freq_borders[1:-1]:
            ax.axhline(b - 0.5, color="white", linewidth=0.5, alpha=0.7)
    flip = {True: "flips", False: "does not flip"}
    explanation_grid(view.weights, segmentation, axes[1, 0], highlight=view.lime_ids.tolist(),
                     title=f"LIME weights (\"sing\"), fidelity {view.fidelity:.2f}")
    energy = view.energy / max(float(view.energy.max()), 1e-12)
    explanation_grid(energy, segmentation, axes[1, 1], highlight=view.norm_ids.tolist(),
                     title="perturbation energy (relative)")
    ax = axes[1, 2]
    names = ["original", "adversarial", f"LIME top-{view.k}", f"norm top-{view.k}"]
    values = [view.p_original, view.p_adversarial, view.p_lime, view.p_norm]
    ax.barh(names[::-1], values[::-1], color=["0.6", "C3", "C0", "C1"][::-1])
    ax.axvline(view.threshold, color="k", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("P(sing)")
    lime_flips = bool(is_flipped(view.p_lime, view.target, view.threshold))
    norm_flips = bool(is_flipped(view.p_norm, view.target, view.threshold))
    ax.set_title(f"LIME {flip[lime_flips]}, norm-based {flip[norm_flips]}", fontsize=10)
    fig.suptitle(f"{DOMAIN_NAMES[view.domain]} attack, {DIRECTION_NAMES[view.target]}: pair "
                 f"{view.index} ('{view.song}', frame {view.frame}), k = {view.k}", fontsize=11)
    fig.tight_layout()
    return fig


@functools.lru_cache(maxsize=8)
def _song_stft(path: str, sample_rate: int, frame_len: int, hop: int) -> np.ndarray:
    signal = torch.from_numpy(load_audio(path, sample_rate))
    window = torch.hann_window(frame_len, periodic=True)
    return torch.stft(signal, frame_len, hop, frame_len, window, center=True, pad_mode="reflect",
                      return_complex=True).T.numpy()


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
    segmentation = Segmentation.from_config(cfg.lime)
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

    segmentation = Segmentation.from_config(store.cfg.lime)
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
