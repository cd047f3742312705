"""Adversarial attacks on waveform or spectrogram: the optimisation loop, records and statistics."""
