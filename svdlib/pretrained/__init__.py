"""Third-party pretrained audio models whose weights ship inside their PyPI package.

Nothing is downloaded at run time: each model reads the weights its package installed (the
``pretrained`` extra, ``pip install 'svdlib[pretrained]'``), as safetensors (never a pickle),
into a torch module written here, differentiable with respect to the waveform so that attacks
and gradient explainers work on it. :mod:`svdlib.pretrained.silero_vad` is Silero's voice
activity detector; :mod:`svdlib.pretrained.corpus` cuts a corpus into its excerpts.
"""
