"""The explorer over a run's stored pairs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from svdlib.audio.frontend import filterbank
from svdlib.detector.model import HALF_BLOCK
from svdlib.detector.predictor import predict_logmel
from svdlib.digests import artifact_done
from svdlib.errors import SvdError
from svdlib.experiments.artifacts.benchmark import PAPER_LIME, load_attributions
from svdlib.experiments.artifacts.detectors import detector
from svdlib.experiments.artifacts.explanations import pair_logmel, stacked_weights
from svdlib.experiments.artifacts.picks import load_picks
from svdlib.experiments.config.factories import segmentation_from
from svdlib.experiments.storage.store import Store, corpus_layout
from svdlib.explain.segments import Segmentation
from svdlib.veracity.measures import attribution_ranking, energy_ranking, keep_top_k
from svdlib.viz.benchmark import method_name
from svdlib.viz.widgets import PairView, pair_figure, song_stft


def explainer_choices(store: Store, domain: str, target: int) -> list[str]:
    """The explainers the explorer can show: the paper's LIME, and the benchmark's if it ran."""
    if not artifact_done(store.benchmark_dir(domain, target) / "attributions.npz"):
        return [PAPER_LIME]
    return [PAPER_LIME, *load_attributions(store, domain, target)[0]]


def _relevances(store: Store, domain: str, target: int,
                explainer: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """An explainer's ``(N, n_components)`` relevances, their scores and whether signed."""
    if explainer == PAPER_LIME:
        weights, fidelity = stacked_weights(store, domain, target, "adv")
        return weights, fidelity, True
    choices = explainer_choices(store, domain, target)
    if explainer not in choices:
        raise SvdError(f"explainer '{explainer}' has no stored relevances for {domain} "
                       f"t{target}; choose one of {choices} (the benchmark stage stores the "
                       "others)")
    weights, signed = load_attributions(store, domain, target)
    return weights[explainer], np.full(len(weights[explainer]), np.nan), signed[explainer]


def pair_view(store: Store, domain: str, target: int, index: int, k: int,
              explainer: str = PAPER_LIME) -> PairView:
    """Collect the explorer's data for one pair and one explainer (see :class:`PairView`)."""
    picks = load_picks(store, domain, target)
    if not 0 <= index < len(picks):
        raise SvdError(f"pair {index} does not exist ({len(picks)} pairs for {domain} t{target})")
    segmentation = segmentation_from(store.cfg.lime)
    original, adversarial = pair_logmel(store, domain, target)
    weights, scores, signed = _relevances(store, domain, target, explainer)
    x, a = original[index:index + 1], adversarial[index:index + 1]
    mine = attribution_ranking(weights[index:index + 1], target, signed)
    energy = energy_ranking(x, a, segmentation)
    _, predictor = detector(store)
    partial = [keep_top_k(x, a, r, k, segmentation) for r in (mine, energy)]
    p = predict_logmel(predictor, np.concatenate([x, a, *partial]))
    return PairView(domain, target, index, k, str(picks.songs[index]), int(picks.frames[index]),
                    x[0], a[0], weights[index], segmentation.energy(a[0] - x[0]),
                    mine[0, :k], energy[0, :k], *map(float, p), float(scores[index]),
                    store.cfg.evaluate.threshold, explainer, signed)


def _bin_groups(store: Store, segmentation: Segmentation) -> np.ndarray:
    """For every STFT bin, the frequency segment of its strongest mel band (−1: unused)."""
    bank = filterbank(store.cfg.frontend)
    band = bank.argmax(axis=1)
    group = np.searchsorted(np.asarray(segmentation.freq_borders[1:]), band, side="right")
    return np.where(bank.max(axis=1) > 0, group, -1)


def pair_audio(store: Store, view: PairView) -> dict[str, np.ndarray]:
    """Listenable excerpts: original, adversarial, δ only in the explainer's / energy selections.

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
    stft = song_stft(str(path), fe.sample_rate, fe.frame_len, fe.hop)
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
             f"{view.label} top-{view.k}": resynthesise(cells(view.explainer_ids)),
             f"energy top-{view.k}": resynthesise(cells(view.energy_ids))}
    # one gain for all four, so that loudness differences stay audible
    peak = max(float(np.abs(c).max()) for c in clips.values()) or 1.0
    return {name: (0.9 * clip / peak).astype(np.float32) for name, clip in clips.items()}


def explorer(store: Store, domain: str = "wave", target: int = 1, index: int = 0,
             k: int = 3, audio: bool = True, explainer: str = PAPER_LIME):
    """The ipywidgets explorer (attack, direction, pair, explainer, k → figure and audio).

    The explainers are the paper's LIME explanations and, once ``svd benchmark`` has run,
    every explainer of the benchmark.

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook.
    """
    import ipywidgets as widgets
    from IPython.display import Audio, display

    segmentation = segmentation_from(store.cfg.lime)
    counts = {(d, t): len(load_picks(store, d, t)) for d in ("wave", "spec") for t in (1, 0)}
    choices = {(d, t): explainer_choices(store, d, t) for d in ("wave", "spec") for t in (1, 0)}
    attack, direction, method, pair, segments = _controls(
        widgets, domain, target, index, k, explainer, choices[(domain, target)],
        counts[(domain, target)], segmentation.n_components)
    out = widgets.Output()

    def update_range(*_: object) -> None:
        setting = (attack.value, direction.value)
        pair.max = max(counts[setting] - 1, 0)
        if [v for _, v in method.options] != choices[setting]:
            kept = method.value if method.value in choices[setting] else choices[setting][0]
            method.options = [(method_name(m), m) for m in choices[setting]]
            method.value = kept

    attack.observe(update_range, "value")
    direction.observe(update_range, "value")

    def render(domain: str, target: int, index: int, k: int, name: str) -> None:
        out.clear_output(wait=True)
        with out:
            if counts[(domain, target)] == 0:
                print("no pairs for this setting")
                return
            view = pair_view(store, domain, target, min(index, counts[(domain, target)] - 1), k,
                             name)
            fig = pair_figure(view, segmentation)
            display(fig)
            plt.close(fig)
            if audio:
                _players(store, view, widgets, display, Audio)

    def changed(*_: object) -> None:
        render(attack.value, direction.value, pair.value, segments.value, method.value)

    for control in (attack, direction, pair, segments, method):
        control.observe(changed, "value")
    changed()
    return widgets.VBox([widgets.HBox([attack, direction]), widgets.HBox([method]),
                         widgets.HBox([pair, segments]), out])


def _controls(widgets: object, domain: str, target: int, index: int, k: int, explainer: str,
              choices: list[str], count: int, n_components: int) -> tuple:
    """The explorer's dropdowns and sliders, set to the first selection."""
    attack = widgets.Dropdown(options=[("waveform", "wave"), ("spectrogram", "spec")],
                              value=domain, description="attack")
    direction = widgets.Dropdown(options=[("no sing → sing", 1), ("sing → no sing", 0)],
                                 value=target, description="direction")
    method = widgets.Dropdown(options=[(method_name(m), m) for m in choices], value=explainer,
                              description="explainer")
    pair = widgets.IntSlider(value=index, min=0, max=max(count - 1, 0), description="pair",
                             continuous_update=False)
    segments = widgets.IntSlider(value=k, min=1, max=n_components, description="k",
                                 continuous_update=False)
    return attack, direction, method, pair, segments


def _players(store: Store, view: PairView, widgets: object, display: object,
             audio: object) -> None:
    """The four audio players of a view, two per row."""
    rate = store.cfg.frontend.sample_rate
    players = []
    for name, samples in pair_audio(store, view).items():
        box = widgets.Output()
        with box:
            display(audio(samples, rate=rate, normalize=False))
        players.append(widgets.VBox([widgets.Label(name), box]))
    display(widgets.GridBox(players, layout=widgets.Layout(
        grid_template_columns="repeat(2, minmax(0, 1fr))", grid_gap="4px 16px")))


def explainer_views(store: Store, domain: str, target: int, index: int,
                    k: int) -> list[PairView]:
    """One pair seen through every explainer the explorer offers (for a static figure)."""
    return [pair_view(store, domain, target, index, k, name)
            for name in explainer_choices(store, domain, target)]
