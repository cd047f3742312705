"""Any segmentation rebuilt from its description (:meth:`BaseSegmentation.to_meta`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from svdlib.explain.segmentations.base import BaseSegmentation
from svdlib.explain.segmentations.labels import LabelSegmentation, TimeSegmentation
from svdlib.explain.segmentations.stft import StftSegmentation
from svdlib.explain.segments import Segmentation


def segmentation_from_meta(meta: dict[str, Any]) -> BaseSegmentation:
    """The segmentation a ``to_meta()`` dictionary describes.

    Parameters
    ----------
    meta : dict
        With ``kind`` one of ``'grid'``, ``'labels'``, ``'time'``, ``'stft'`` (a dictionary
        without ``kind`` is the grid's, as explanations stored before other kinds existed).

    Returns
    -------
    BaseSegmentation
        Equal to the described one.
    """
    kind = meta.get("kind", "grid")
    if kind == "grid":
        return Segmentation(meta["n_frames"], meta["n_bands"], meta["n_time"], meta["n_freq"],
                            tuple(meta["time_borders"]), tuple(meta["freq_borders"]))
    if kind == "labels":
        return LabelSegmentation(np.asarray(meta["labels"], dtype=np.int64), meta.get("names"))
    if kind == "time":
        return TimeSegmentation(meta["length"], borders=meta["borders"])
    if kind == "stft":
        fields = {k: v for k, v in meta.items() if k != "kind"}
        return StftSegmentation(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in fields.items()})
    raise ValueError(f"unknown segmentation kind '{kind}' (grid, labels, time, stft)")
