"""Attacks on excerpts for any differentiable model of log-mel (or any) input.

The paper attacks whole songs through the detector's own front end
(:mod:`svdlib.attacks.optimise`). A researcher with their own model usually has excerpts and a
``(B, frames, bands) → logits (B,)`` network; :func:`attack_excerpts` runs the same loop on them
(``‖δ‖² + α · BCE`` towards the other class, signed gradients, Adam, clipping) with the loss
summed over the excerpts, so each is attacked as if alone (``α`` weighs one excerpt's BCE
against its own ``‖δ‖²``), all in one batch; it returns the adversarial excerpts: planted
perturbations the model provably uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from svdlib.attacks.optimise import Frozen, device_of, optimise_delta
from svdlib.attacks.settings import AttackDomainConfig


@dataclass
class ExcerptAttack:
    """The outcome of attacking a batch of excerpts.

    Attributes
    ----------
    adversarial : np.ndarray
        float32 ``(B, frames, bands)`` excerpts ``x + δ``.
    orig_probs, adv_probs : np.ndarray
        ``(B,)`` P(class 1) of the clean and of the adversarial excerpts.
    flipped : np.ndarray
        bool ``(B,)``: the thresholded decision changed.
    iterations : int
        Optimisation steps run.
    """

    adversarial: np.ndarray
    orig_probs: np.ndarray
    adv_probs: np.ndarray
    flipped: np.ndarray
    iterations: int


def attack_excerpts(model: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
                    excerpts: np.ndarray, params: AttackDomainConfig | None = None,
                    threshold: float = 0.5,
                    device: torch.device | str | None = None) -> ExcerptAttack:
    """Attack every excerpt towards the other class of a binary model.

    Parameters
    ----------
    model : torch.nn.Module or callable
        ``(B, frames, bands)`` float tensor → logits ``(B,)`` of class 1. A module is used in
        eval mode with frozen parameters (restored afterwards).
    excerpts : np.ndarray
        ``(B, frames, bands)`` inputs (log-mel excerpts, or whatever the model takes).
    params : AttackDomainConfig, optional
        Learning rate, α (per excerpt), clipping bound, iterations (default: lr 0.01, α 100,
        ``clip_eps`` 1.0 and 300 iterations, suited to log-mel inputs in nats).
    threshold : float
        ``sigmoid(logit) > threshold`` is class 1.
    device : torch.device or str, optional
        Where to compute (default: where the module's parameters live, else the CPU).

    Returns
    -------
    ExcerptAttack
        The adversarial excerpts and the decisions before and after.

    Examples
    --------
    A toy model that reads only the first segment of the 5 × 4 grid (frames 0–22, bands 0–19):
    the attack's δ lies there and nowhere else, ground truth an explainer should find.

    >>> import numpy as np
    >>> from svdlib import Segmentation, attack_excerpts
    >>> logit = lambda x: 10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2)      # class 1 if > 0
    >>> excerpts = np.zeros((3, 115, 80), np.float32)                        # all class 0
    >>> attack = attack_excerpts(logit, excerpts)
    >>> attack.flipped, attack.adversarial.shape
    (array([ True,  True,  True]), (3, 115, 80))
    >>> energy = Segmentation().energy(attack.adversarial[0] - excerpts[0])
    >>> np.flatnonzero(energy)                                               # segments with δ
    array([0])
    """
    params = params or AttackDomainConfig(lr=0.01, alpha=100.0, clip_eps=1.0,
                                          max_iterations=300)
    module = model if isinstance(model, torch.nn.Module) else None
    if module is not None and any(True for _ in module.parameters()):
        dev = device_of(module, device)
    else:
        dev = torch.device(device or "cpu")
    x = torch.from_numpy(np.array(excerpts, dtype=np.float32)).to(dev)
    if x.dim() != 3:
        raise ValueError(f"expected (B, frames, bands) excerpts, got shape {tuple(x.shape)}")

    def logits_of(delta: torch.Tensor) -> torch.Tensor:
        return model(x + delta).reshape(-1)

    # the loop takes the mean BCE over the batch: α × B makes it the per-excerpt sum
    params = replace(params, alpha=params.alpha * len(x))

    if module is not None:
        with Frozen(module):
            out = optimise_delta(logits_of, torch.zeros_like(x), params, threshold, None, None)
    else:
        out = optimise_delta(logits_of, torch.zeros_like(x), params, threshold, None, None)
    orig = out["orig_probs"].float().cpu().numpy().reshape(-1)
    adv = out["adv_probs"].float().cpu().numpy().reshape(-1)
    return ExcerptAttack(adversarial=(x + out["delta"]).cpu().numpy().astype(np.float32),
                         orig_probs=orig, adv_probs=adv,
                         flipped=(orig > threshold) != (adv > threshold),
                         iterations=int(out["iterations"]))
