"""The method's objects built from a profile's settings (the segmentation, LIME's arguments)."""

from __future__ import annotations

from typing import Any

from svdlib.constants import MEL_BANDS
from svdlib.detector.model import BLOCKLEN
from svdlib.experiments.config.settings import LimeConfig
from svdlib.explain.segments import Segmentation


def segmentation_from(lime: LimeConfig, n_frames: int = BLOCKLEN,
                      n_bands: int = MEL_BANDS) -> Segmentation:
    """The grid of a profile's LIME section over an excerpt of the given shape.

    Parameters
    ----------
    lime : LimeConfig
        Supplies ``n_time_segments`` and ``n_freq_segments``.
    n_frames, n_bands : int
        Shape of the excerpt.

    Returns
    -------
    Segmentation
        The grid.
    """
    return Segmentation(n_frames, n_bands, lime.n_time_segments, lime.n_freq_segments)


def lime_settings(lime: LimeConfig, n_frames: int = BLOCKLEN,
                  n_bands: int = MEL_BANDS) -> dict[str, Any]:
    """Keyword arguments of :class:`~svdlib.explain.explainers.LimeExplainer` from a profile.

    Parameters
    ----------
    lime : LimeConfig
        The profile's LIME section.
    n_frames, n_bands : int
        Shape of the excerpts.

    Returns
    -------
    dict
        ``segmentation``, ``baseline``, ``num_samples``, ``kernel_width``,
        ``distance_metric``, ``feature_selection`` and ``batch_size``; add ``seed``.
    """
    return {"segmentation": segmentation_from(lime, n_frames, n_bands),
            "baseline": lime.baseline, "num_samples": lime.num_samples,
            "kernel_width": lime.kernel_width, "distance_metric": lime.distance_metric,
            "feature_selection": lime.feature_selection, "batch_size": lime.batch_size}
