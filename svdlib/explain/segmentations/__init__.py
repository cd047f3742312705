"""Segmentations of excerpts of any shape behind one protocol (:class:`BaseSegmentation`).

The grid of the paper is :class:`svdlib.explain.segments.Segmentation`; here are the protocol
(:mod:`~svdlib.explain.segmentations.base`), segmentations by a label array and time segments of
a waveform (:mod:`~svdlib.explain.segmentations.labels`), time × frequency segments of a
waveform seen through an STFT (:mod:`~svdlib.explain.segmentations.stft`), and the rebuilding of
any of them from its description (:mod:`~svdlib.explain.segmentations.meta`).
"""
