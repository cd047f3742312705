"""Attacks on excerpts for any differentiable model: waveforms, spectrograms, any input.

The paper attacks whole songs through the detector's own front end
(:mod:`svdlib.attacks.optimise`). A researcher with their own model usually has excerpts and a
``(B, ...) → logits (B,)`` network; :func:`attack_excerpts` runs the same loop on them
(``‖δ‖² + α · BCE`` towards the other class, signed gradients, Adam, clipping) with the loss
summed over the excerpts, so each is attacked as if alone (``α`` weighs one excerpt's BCE
against its own ``‖δ‖²``), all in one batch; it returns the adversarial excerpts: planted
perturbations the model provably uses. The defaults follow the input (:mod:`.domains`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from svdlib.attacks.domains import (
    attack_defaults,
    check_attack_settings,
    check_waveform_range,
    delta_norms,
    resolve_domain,
)
from svdlib.attacks.optimise import Frozen, device_of, optimise_delta
from svdlib.attacks.settings import AttackDomainConfig

Model = torch.nn.Module | Callable[[torch.Tensor], torch.Tensor]
Projection = Callable[[torch.Tensor], torch.Tensor | None]


@dataclass
class ExcerptAttack:
    """The outcome of attacking a batch of excerpts.

    Attributes
    ----------
    adversarial : np.ndarray
        float32 excerpts ``x + δ``, the shape of the input ``(B, ...)``.
    orig_probs, adv_probs : np.ndarray
        ``(B,)`` P(class 1) of the clean and of the adversarial excerpts.
    flipped : np.ndarray
        bool ``(B,)``: the thresholded decision changed.
    reached : np.ndarray
        bool ``(B,)``: P is past the threshold by the margin towards the other class
        (``P > threshold + margin``, or ``P <= threshold - margin``); with margin 0 the same as
        ``flipped``.
    iterations : int
        Optimisation steps run.
    domain : str
        ``"waveform"`` or ``"spectrogram"``: what the excerpts were taken to be.
    delta_l2, delta_linf : np.ndarray
        float64 ``(B,)`` ``‖δ‖₂`` and ``‖δ‖∞`` per excerpt, δ = ``adversarial - excerpts``.
    snr_db : np.ndarray or None
        float64 ``(B,)`` ``10 log10(‖x‖² / ‖δ‖²)`` per excerpt in the waveform domain (``inf``
        where δ = 0), ``None`` in the spectrogram domain.

    Examples
    --------
    >>> import numpy as np
    >>> from svdlib import attack_excerpts
    >>> logit = lambda x: 10 * (x.mean(dim=(1, 2)) - 0.2)
    >>> attack = attack_excerpts(logit, np.zeros((2, 10, 8), np.float32))
    >>> attack.domain, attack.flipped, attack.snr_db
    ('spectrogram', array([ True,  True]), None)
    >>> bool((attack.delta_linf <= 1.0).all()), attack.delta_l2.shape
    (True, (2,))
    """

    adversarial: np.ndarray
    orig_probs: np.ndarray
    adv_probs: np.ndarray
    flipped: np.ndarray
    reached: np.ndarray
    iterations: int
    domain: str
    delta_l2: np.ndarray
    delta_linf: np.ndarray
    snr_db: np.ndarray | None


def attack_excerpts(model: Model, excerpts: np.ndarray | torch.Tensor,
                    params: AttackDomainConfig | None = None, threshold: float = 0.5,
                    device: torch.device | str | None = None, *, domain: str = "auto",
                    margin: float = 0.0, project: Projection | None = None) -> ExcerptAttack:
    """Attack every excerpt towards the other class of a binary model.

    Parameters
    ----------
    model : torch.nn.Module or callable
        ``(B, ...)`` float tensor → logits ``(B,)`` (or ``(B, 1)``) of class 1, differentiable
        in its input: a module (used in eval mode with frozen parameters, restored afterwards)
        or a function of torch operations that keeps the gradient (no ``.detach()``,
        ``.numpy()`` or ``torch.no_grad()``; a function is called as it is, so put the modules
        it calls in eval mode yourself).
    excerpts : np.ndarray or torch.Tensor
        ``(B, ...)`` inputs: waveforms ``(B, L)``, log-mel excerpts ``(B, frames, bands)``, or
        whatever the model takes.
    params : AttackDomainConfig, optional
        Learning rate, α (per excerpt), clipping bound, iterations, in the input's units
        (default: :func:`svdlib.attack_defaults` of the domain).
    threshold : float
        ``sigmoid(logit) > threshold`` is class 1.
    device : torch.device or str, optional
        Where to compute (default: where the module's parameters live, else the CPU).
    domain : {"auto", "waveform", "spectrogram"}
        What the excerpts are; it picks the default ``params`` and whether ``snr_db`` is
        reported. ``"auto"``: ``(B, L)`` excerpts are waveforms (samples in ``[-1, 1]``), more
        axes per excerpt a spectrogram.
    margin : float
        Attack until P is past the threshold by ``margin`` towards the other class (``P >
        threshold + margin`` or ``P <= threshold - margin``), in ``[0, min(threshold, 1 -
        threshold))``; 0 stops as soon as the decision flips.
    project : callable, optional
        Applied to δ ``(B, ...)`` after every step (after the clip): returns the projected δ
        (same shape), or ``None`` after changing it in place. δ starts at 0, which the
        projection should keep (e.g. a mask, a band limit, an L2 ball).

    Returns
    -------
    ExcerptAttack
        The adversarial excerpts, the decisions before and after, and the size of δ.

    Examples
    --------
    A toy model that reads only the first segment of the 5 × 4 grid (frames 0–22, bands 0–19):
    the attack's δ lies there and nowhere else, ground truth an explainer should find.

    >>> import numpy as np
    >>> import torch
    >>> from svdlib import Segmentation, attack_excerpts
    >>> logit = lambda x: 10 * (x[:, :23, :20].mean(dim=(1, 2)) - 0.2)      # class 1 if > 0
    >>> excerpts = np.zeros((3, 115, 80), np.float32)                        # all class 0
    >>> attack = attack_excerpts(logit, excerpts)
    >>> attack.flipped, attack.adversarial.shape
    (array([ True,  True,  True]), (3, 115, 80))
    >>> energy = Segmentation().energy(attack.adversarial[0] - excerpts[0])
    >>> np.flatnonzero(energy)                                               # segments with δ
    array([0])

    Waveforms ``(B, L)``: a detector of a 1 kHz tone in 16 kHz noise. δ stays below -40 dBFS,
    only in the first half second (the projection), and P ends at least 0.2 past 0.5:

    >>> tone = torch.sin(2 * torch.pi * 1000 * torch.arange(16000) / 16000)
    >>> detector = lambda x: 2000 * (x * tone).mean(dim=1) - 2                # class 1 if > 0
    >>> noise = np.random.default_rng(0).normal(0, 0.1, (2, 16000)).astype(np.float32)
    >>> first_half = torch.arange(16000) < 8000
    >>> attack = attack_excerpts(detector, noise, margin=0.2,
    ...                          project=lambda d: d * first_half)
    >>> attack.domain, attack.flipped, bool((attack.adv_probs > 0.7).all())
    ('waveform', array([ True,  True]), True)
    >>> bool((attack.delta_linf <= 0.01).all()), bool((attack.snr_db > 20).all())
    (True, True)
    >>> bool((attack.adversarial[:, 8000:] == noise[:, 8000:]).all())        # δ = 0 there
    True
    """
    if not isinstance(excerpts, torch.Tensor):
        excerpts = np.asarray(excerpts, dtype=np.float32)
    dom = resolve_domain(excerpts, domain)
    given = params is not None
    params = params if params is not None else attack_defaults(dom)
    check_attack_settings(params, threshold, margin)
    module = model if isinstance(model, torch.nn.Module) else None
    x = _as_tensor(excerpts, _device(model, module, device))
    if dom == "waveform" and not given:
        check_waveform_range(x)
    out = _run(model, module, x, params, threshold, margin, project)
    return _result(dom, x, out, threshold, margin)


def _device(model: Model, module: torch.nn.Module | None,
            device: torch.device | str | None) -> torch.device:
    """Where the module's parameters live (or ``device``), else the CPU."""
    if not callable(model):
        raise ValueError(f"model must be a torch module or a callable (B, ...) tensor → "
                         f"logits (B,), got {type(model).__name__}")
    if module is not None and any(True for _ in module.parameters()):
        return device_of(module, device)
    return torch.device(device or "cpu")


def _as_tensor(excerpts: np.ndarray | torch.Tensor, dev: torch.device) -> torch.Tensor:
    """A float32 copy on ``dev`` (the caller's array is never written)."""
    if isinstance(excerpts, torch.Tensor):
        x = excerpts.detach().to(device=dev, dtype=torch.float32).clone()
    else:
        x = torch.from_numpy(np.array(excerpts, dtype=np.float32)).to(dev)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("excerpts hold NaN or infinite values; the attack needs finite inputs")
    return x


def _checked_logits(out: Any, n: int) -> torch.Tensor:
    """The model's output as ``(B,)`` logits, or one line saying what is wrong with it."""
    if not isinstance(out, torch.Tensor) or out.numel() != n:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model must return one logit per excerpt, a ({n},) or ({n}, 1) "
                         f"tensor, got {got}")
    if torch.is_grad_enabled() and not out.requires_grad:
        raise ValueError("model's logits do not depend on the excerpts through autograd: pass "
                         "a module or a function of torch operations (no .detach(), .numpy() "
                         "or torch.no_grad())")
    return out.reshape(-1)


def _projection(project: Projection) -> Callable[[torch.Tensor], None]:
    """The caller's projection as the loop's in-place step."""
    def apply(delta: torch.Tensor) -> None:
        out = project(delta)
        if out is None:
            return
        if not isinstance(out, torch.Tensor) or out.shape != delta.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"project must return δ's shape {tuple(delta.shape)} (or None "
                             f"after changing δ in place), got {got}")
        if out is not delta:
            delta.copy_(out)
    return apply


def _run(model: Model, module: torch.nn.Module | None, x: torch.Tensor,
         params: AttackDomainConfig, threshold: float, margin: float,
         project: Projection | None) -> dict[str, Any]:
    def logits_of(delta: torch.Tensor) -> torch.Tensor:
        return _checked_logits(model(x + delta), len(x))

    # the loop takes the mean BCE over the batch: α × B makes it the per-excerpt sum
    params = replace(params, alpha=params.alpha * len(x))
    step = _projection(project) if project is not None else None
    with Frozen(module) if module is not None else nullcontext():
        return optimise_delta(logits_of, torch.zeros_like(x), params, threshold, step, None,
                              margin=margin)


def _result(domain: str, x: torch.Tensor, out: dict[str, Any], threshold: float,
            margin: float) -> ExcerptAttack:
    orig = out["orig_probs"].float().cpu().numpy().reshape(-1)
    adv = out["adv_probs"].float().cpu().numpy().reshape(-1)
    adversarial = (x + out["delta"]).cpu().numpy().astype(np.float32)
    l2, linf, snr = delta_norms(x.cpu().numpy(), adversarial, domain == "waveform")
    reached = np.where(orig > threshold, ~(adv > threshold - margin), adv > threshold + margin)
    return ExcerptAttack(adversarial=adversarial, orig_probs=orig, adv_probs=adv,
                         flipped=(orig > threshold) != (adv > threshold), reached=reached,
                         iterations=int(out["iterations"]), domain=domain, delta_l2=l2,
                         delta_linf=linf, snr_db=snr)
