"""svdlib: testing whether audio explanations tell the truth.

A reproduction of Praher, Prinz, Flexer & Widmer, "On the Veracity of Local, Model-agnostic
Explanations in Audio Classification" (ISMIR 2021), as a small library: a singing voice
detector, adversarial examples, LIME over time-frequency segments, and the paper's experiments.
"""

__version__ = "0.1.0"
