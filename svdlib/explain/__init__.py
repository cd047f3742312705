"""Explanations over time-frequency segments: the segmentation, baselines and audioLIME's LIME."""
