"""Adversarial attacks on whole songs, in the waveform and in the spectrogram domain.

One optimisation loop serves both domains (the original ``raw_attack.py`` / ``spec_attack.py``):
a perturbation ``delta`` of a whole song is optimised with Adam so that **every frame's**
thresholded prediction flips (``p > threshold`` is "sing"; the target is the opposite of the
model's own prediction on the clean song, so both directions mix within one song). The loss is
``sum(delta ** 2) + alpha * BCEWithLogits(logits, target)`` (BCE averaged over frames); with
``sign`` the gradient is replaced by its sign (NaN set to 0) before the Adam step; with
``clipping`` ``delta`` is clamped to ``[-clip_eps, clip_eps]`` after it. The loop stops early once
at least ``req_change_factor * T`` frames are flipped.

* **Waveform** (``wave``): ``delta`` lives on the samples; the spectrogram of ``x + delta`` is
  recomputed through the differentiable :class:`svdlib.audio.Spectrogram` at every step, padded
  with 57 zero frames on each side and fed to the detector (which applies its own log-mel).
  Distortion: the SNR ``20 log10(|x| / |x - x_adv|)`` on samples ``[2048 : L - 2049)``.
* **Spectrogram** (``spec``): ``delta`` lives on the linear STFT magnitudes ``(T, 513)``.
  Distortion: ``|delta|^2`` (the original logs it in its "snr" column).

Deviations from the original, on purpose:

1. *Padding not perturbed (spectrogram).* The original also perturbed the 114 zero-padding frames
   (57 on each side) that stand for silence outside the song, so the adversary could "add sound"
   where there is none. Here ``delta`` covers the song's own ``T`` frames only; the padding stays
   zero. Stored spectrogram adversaries are therefore ``(T, 513)``, not padded.
2. *No negative magnitudes (spectrogram).* The original let ``x + delta`` go negative (the log
   then clamps the negative mel energy). Here ``delta`` is projected after every step so that
   ``x + delta >= 0`` (a magnitude is non-negative), i.e. ``delta >= -x``.
3. *The best perturbation is kept.* With a sign gradient the number of flipped frames oscillates;
   the original kept whatever the last step gave. Here the ``delta`` that flipped the most frames
   is kept (the earliest one on ties); if no frame ever flipped, the final ``delta``.
4. *No extra forward pass per step.* The forward pass of step ``i + 1`` evaluates
   ``x + delta_i``, so its logits decide whether ``delta_i`` succeeded before stepping again; one
   last forward pass evaluates the final ``delta``. The original ran one more forward per step.
5. *Songs where nothing flipped are recorded* (the original saved no adversary, which later
   crashed the picking stage); every song gets its adversary and its per-frame record.

The statistics (the original ``log_analysis.py``) read an attack folder: :func:`read_log`,
:func:`song_statistics`, :func:`overall_statistics`; :func:`iter_successful_excerpts` yields the
flipped frames whose whole 115-frame window lies inside the song, for the explanation stage.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .audio import Spectrogram, load_audio, spectrogram_np
from .config import AttackDomainConfig, Config, FrontEndConfig
from .errors import SvdError
from .model import HALF_BLOCK, SingingVoiceDetector
from .store import Store, atomic_path, load_arrays, save_arrays, save_json
from .work import WorkItem, raise_failures, run_items

#: The attack domains.
DOMAINS = ("wave", "spec")

#: Columns of the merged per-frame log, as in the original ``logger.csv``.
LOG_COLUMNS = ("file", "frame", "ground truth", "orig pred", "mod pred", "snr", "convergences")

#: Samples ignored at both ends of a song for the SNR (as the original ``snr``).
SNR_EDGE = 2048

Callback = Callable[[int, int, torch.Tensor], None]


@dataclass
class AttackResult:
    """The outcome of attacking one song.

    Attributes
    ----------
    domain : str
        ``"wave"`` or ``"spec"``.
    adversary : np.ndarray
        float32 adversarial samples ``(L,)`` (wave) or linear magnitudes ``(T, bins)`` (spec).
    orig_probs, adv_probs : np.ndarray
        float32 ``(T,)`` P(sing) of the clean and of the adversarial song.
    orig_pred, adv_pred, flipped : np.ndarray
        bool ``(T,)``: thresholded predictions, and ``adv_pred != orig_pred``.
    iterations : int
        Optimisation steps run.
    best_iteration : int
        Steps after which the kept ``delta`` was reached.
    converged : bool
        Whether at least ``req_change_factor * T`` frames flipped (early stop).
    distortion : float
        SNR in dB (wave) or ``|delta|^2`` (spec).
    seconds : float
        Wall-clock time of the attack.
    """

    domain: str
    adversary: np.ndarray
    orig_probs: np.ndarray
    adv_probs: np.ndarray
    orig_pred: np.ndarray
    adv_pred: np.ndarray
    flipped: np.ndarray
    iterations: int
    best_iteration: int
    converged: bool
    distortion: float
    seconds: float

    @property
    def n_frames(self) -> int:
        """Number of frames of the song."""
        return len(self.flipped)

    @property
    def n_flipped(self) -> int:
        """Number of frames whose prediction flipped."""
        return int(self.flipped.sum())

    @property
    def flip_rate(self) -> float:
        """Fraction of frames whose prediction flipped."""
        return self.n_flipped / max(self.n_frames, 1)


def snr(original: np.ndarray, adversarial: np.ndarray, edge: int = SNR_EDGE) -> float:
    """Signal-to-noise ratio of an adversarial waveform, in dB, as the original computes it.

    Parameters
    ----------
    original, adversarial : np.ndarray
        1-D signals of equal length ``L``.
    edge : int
        Samples ignored at the start; ``edge + 1`` are ignored at the end (``[edge : L-edge-1)``).

    Returns
    -------
    float
        ``20 log10(max(|x|, 1e-12) / (|x - x_adv| + 1e-12))`` over the kept samples. The floor
        on the original's norm keeps silence finite and free of warnings: a silent original
        and a silent adversary give 0 dB, a silent original with added noise ``d`` gives
        ``20 log10(1e-12 / (|d| + 1e-12))`` (very negative, but finite).
    """
    x = np.asarray(original, dtype=np.float64)
    y = np.asarray(adversarial, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"signals differ in shape: {x.shape} vs {y.shape}")
    stop = len(x) - edge - 1
    if stop <= edge:
        edge, stop = 0, len(x)
    x, y = x[edge:stop], y[edge:stop]
    return float(20 * np.log10(max(float(np.linalg.norm(x)), 1e-12)
                               / (np.linalg.norm(x - y) + 1e-12)))


def _adam(delta: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    """Adam over ``delta``: the fused single-pass kernel where the device has one."""
    try:
        return torch.optim.Adam([delta], lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam([delta], lr=lr)


def _optimise(logits_of: Callable[[torch.Tensor], torch.Tensor], delta: torch.Tensor,
              params: AttackDomainConfig, threshold: float,
              project: Callable[[torch.Tensor], None] | None,
              callback: Callback | None) -> dict[str, Any]:
    """The attack loop shared by both domains; see the module docstring."""
    delta.requires_grad_(True)
    optimizer = _adam(delta, params.lr)
    best_n, best_delta, best_probs, best_step = 0, None, None, 0
    orig_probs = orig_pred = target = None
    needed = None
    step = 0
    for step in range(params.max_iterations + 1):
        last = step == params.max_iterations
        with torch.set_grad_enabled(not last):
            logits = logits_of(delta)
        with torch.no_grad():
            probs = torch.sigmoid(logits.detach())
            pred = probs > threshold
            if orig_pred is None:
                orig_probs, orig_pred = probs.clone(), pred
                target = (~pred).to(logits.dtype)
                needed = params.req_change_factor * pred.numel()
            n_flipped = int((pred != orig_pred).sum())
            if n_flipped > best_n or best_n == 0:
                best_n, best_step = n_flipped, step
                best_delta, best_probs = delta.detach().clone(), probs.clone()
        if callback is not None:
            callback(step, n_flipped, delta.detach())
        if n_flipped >= needed or last:
            break
        loss = delta.pow(2).sum() + params.alpha * F.binary_cross_entropy_with_logits(
            logits, target)
        (grad,) = torch.autograd.grad(loss, delta)
        if params.sign:
            grad.sign_()
        delta.grad = grad.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        optimizer.step()
        with torch.no_grad():
            if params.clipping:
                delta.clamp_(-params.clip_eps, params.clip_eps)
            if project is not None:
                project(delta)
    assert best_delta is not None
    assert best_probs is not None
    assert orig_probs is not None
    return {"delta": best_delta, "orig_probs": orig_probs, "adv_probs": best_probs,
            "iterations": step, "best_iteration": best_step,
            "converged": best_n >= needed}


class _Frozen:
    """Eval mode and frozen parameters for the duration of an attack (restored afterwards)."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net = net

    def __enter__(self) -> None:
        self.training = self.net.training
        self.flags = [p.requires_grad for p in self.net.parameters()]
        self.net.eval()
        self.net.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        for param, flag in zip(self.net.parameters(), self.flags, strict=True):
            param.requires_grad_(flag)
        self.net.train(self.training)


def _device_of(net: torch.nn.Module, device: torch.device | str | None) -> torch.device:
    """The attack's device; on CUDA also let cuDNN tune for the song's (repeated) shape."""
    dev = torch.device(device) if device is not None else next(net.parameters()).device
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return dev


def _finish(domain: str, out: dict[str, Any], adversary: np.ndarray, distortion: float,
            threshold: float, started: float) -> AttackResult:
    orig_probs = out["orig_probs"].float().cpu().numpy().reshape(-1)
    adv_probs = out["adv_probs"].float().cpu().numpy().reshape(-1)
    orig_pred = orig_probs > threshold
    adv_pred = adv_probs > threshold
    return AttackResult(domain=domain, adversary=adversary, orig_probs=orig_probs,
                        adv_probs=adv_probs, orig_pred=orig_pred, adv_pred=adv_pred,
                        flipped=adv_pred != orig_pred, iterations=int(out["iterations"]),
                        best_iteration=int(out["best_iteration"]),
                        converged=bool(out["converged"]), distortion=float(distortion),
                        seconds=time.perf_counter() - started)


def attack_waveform(net: SingingVoiceDetector, signal: np.ndarray, params: AttackDomainConfig,
                    threshold: float = 0.51, device: torch.device | str | None = None,
                    callback: Callback | None = None) -> AttackResult:
    """Attack a whole song in the waveform domain.

    Parameters
    ----------
    net : SingingVoiceDetector
        The detector; used in eval mode with frozen parameters (restored afterwards).
    signal : np.ndarray
        Mono samples ``(L,)`` at the detector's sample rate.
    params : AttackDomainConfig
        Learning rate, alpha, clipping bound, iterations, sign, early-stop fraction.
    threshold : float
        ``p > threshold`` is "sing".
    device : torch.device or str, optional
        Where to compute (default: where ``net`` lives).
    callback : callable, optional
        Called after every forward pass with ``(step, n_flipped, delta)``.

    Returns
    -------
    AttackResult
        ``adversary`` is the float32 waveform ``x + delta``; ``distortion`` the SNR in dB.
    """
    started = time.perf_counter()
    device = _device_of(net, device)
    x = torch.from_numpy(np.array(signal, dtype=np.float32)).reshape(-1).to(device)
    stft = Spectrogram(net.frontend_config).to(device)

    def logits_of(delta: torch.Tensor) -> torch.Tensor:
        spec = stft(x + delta)
        return net(F.pad(spec, (0, 0, HALF_BLOCK, HALF_BLOCK)).unsqueeze(0))[0]

    with _Frozen(net):
        out = _optimise(logits_of, torch.zeros_like(x), params, threshold, None, callback)
    adversary = (x + out["delta"]).cpu().numpy().astype(np.float32)
    return _finish("wave", out, adversary, snr(np.asarray(signal, np.float32), adversary),
                   threshold, started)


def attack_spectrogram(net: SingingVoiceDetector, spec: np.ndarray, params: AttackDomainConfig,
                       threshold: float = 0.51, device: torch.device | str | None = None,
                       callback: Callback | None = None) -> AttackResult:
    """Attack a whole song in the (linear-magnitude) spectrogram domain.

    ``delta`` covers the song's ``T`` frames only (the zero padding stays zero) and is projected
    after every step so that ``spec + delta >= 0``.

    Parameters
    ----------
    net : SingingVoiceDetector
        The detector; used in eval mode with frozen parameters (restored afterwards).
    spec : np.ndarray
        Linear STFT magnitudes ``(T, bins)`` of the whole song.
    params : AttackDomainConfig
        Learning rate, alpha, clipping bound, iterations, sign, early-stop fraction.
    threshold : float
        ``p > threshold`` is "sing".
    device : torch.device or str, optional
        Where to compute (default: where ``net`` lives).
    callback : callable, optional
        Called after every forward pass with ``(step, n_flipped, delta)``.

    Returns
    -------
    AttackResult
        ``adversary`` is the float32 ``(T, bins)`` spectrogram; ``distortion`` is ``|delta|^2``.
    """
    started = time.perf_counter()
    device = _device_of(net, device)
    x = torch.from_numpy(np.array(spec, dtype=np.float32)).to(device)   # a writable copy
    if x.dim() != 2:
        raise ValueError(f"expected a (T, bins) spectrogram, got shape {tuple(x.shape)}")
    floor = -x

    def logits_of(delta: torch.Tensor) -> torch.Tensor:
        return net(F.pad(x + delta, (0, 0, HALF_BLOCK, HALF_BLOCK)).unsqueeze(0))[0]

    def project(delta: torch.Tensor) -> None:
        torch.maximum(delta, floor, out=delta)

    with _Frozen(net):
        out = _optimise(logits_of, torch.zeros_like(x), params, threshold, project,
                        callback)
    delta = out["delta"]
    adversary = torch.clamp(x + delta, min=0).cpu().numpy().astype(np.float32)
    distortion = float(delta.double().pow(2).sum())
    return _finish("spec", out, adversary, distortion, threshold, started)


# -- storage ----------------------------------------------------------------------------------


def song_key(name: str) -> str:
    """A file-system-safe, unique stem for a song name (ASCII stem plus a short hash).

    Parameters
    ----------
    name : str
        The song's file name as listed (may hold spaces, accents, apostrophes).

    Returns
    -------
    str
        E.g. ``"01_-_Chanson_d_ete_1-3f2a9c01de"``.
    """
    stem = unicodedata.normalize("NFKD", Path(name).stem).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "song"
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]
    return f"{stem}-{digest}"


def record_path(folder: str | Path, name: str) -> Path:
    """The per-song ``.npz`` record (per-frame arrays and scalars) of an attack folder."""
    return Path(folder) / f"{song_key(name)}.npz"


def adversary_path(folder: str | Path, name: str, domain: str) -> Path:
    """The stored adversary of a song: a float32 WAV (wave) or a ``(T, bins)`` ``.npy`` (spec)."""
    _check_domain(domain)
    return Path(folder) / f"{song_key(name)}.{'wav' if domain == 'wave' else 'npy'}"


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise SvdError(f"unknown attack domain '{domain}'; use wave or spec")


def save_result(folder: str | Path, name: str, result: AttackResult, ground_truth: np.ndarray,
                sample_rate: int = 22050, source: str = "") -> Path:
    """Store one song's adversary and its per-frame record, atomically (record last).

    Parameters
    ----------
    folder : str or Path
        The attack folder.
    name : str
        The song's name as listed.
    result : AttackResult
        The attack's outcome.
    ground_truth : np.ndarray
        bool ``(T,)`` labels of the song.
    sample_rate : int
        Sample rate of a waveform adversary.
    source : str
        Fingerprint of the song's audio and labels (:meth:`svdlib.store.Store.song_fingerprint`);
        a record whose fingerprint no longer matches the song is computed again.

    Returns
    -------
    Path
        The record file; its existence marks the song as done.
    """
    import soundfile as sf

    target = adversary_path(folder, name, result.domain)
    if result.domain == "wave":
        with atomic_path(target, suffix=".wav") as tmp:
            sf.write(str(tmp), result.adversary.astype(np.float32), sample_rate,
                     subtype="FLOAT", format="WAV")
    else:
        with atomic_path(target, suffix=".npy") as tmp:
            np.save(tmp, result.adversary.astype(np.float32))
    truth = np.zeros(result.n_frames, dtype=bool)
    given = np.asarray(ground_truth, dtype=bool)[:result.n_frames]
    truth[:len(given)] = given
    path = record_path(folder, name)
    save_arrays(path, name=np.array(name), domain=np.array(result.domain),
                ground_truth=truth, orig_probs=result.orig_probs, adv_probs=result.adv_probs,
                orig_pred=result.orig_pred, adv_pred=result.adv_pred, flipped=result.flipped,
                iterations=np.int64(result.iterations),
                best_iteration=np.int64(result.best_iteration),
                converged=np.bool_(result.converged), distortion=np.float64(result.distortion),
                seconds=np.float64(result.seconds), source=np.array(source))
    return path


def load_record(folder: str | Path, name: str) -> dict[str, Any]:
    """Read one song's per-frame record of an attack folder.

    Returns
    -------
    dict
        ``ground_truth, orig_probs, adv_probs, orig_pred, adv_pred, flipped`` arrays ``(T,)``
        and the scalars ``name, domain, iterations, best_iteration, converged, distortion,
        seconds``.
    """
    data = load_arrays(record_path(folder, name))
    scalars = ("name", "domain", "iterations", "best_iteration", "converged", "distortion",
               "seconds", "source")
    return {key: (value.item() if key in scalars else value) for key, value in data.items()}


def _folder_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise SvdError(f"attack folder '{folder}' has no config.json; run `svd attack` first")
    return json.loads(path.read_text(encoding="utf-8"))


def _folder_frontend(folder: Path) -> FrontEndConfig:
    return FrontEndConfig(**_folder_config(folder)["frontend"])


def _folder_domain(folder: Path) -> str:
    summary = folder / "summary.json"
    if summary.is_file():
        return str(json.loads(summary.read_text(encoding="utf-8"))["domain"])
    domain = folder.name.split("-", 1)[0]
    _check_domain(domain)
    return domain


def load_adversarial_spectrogram(folder: str | Path, name: str,
                                 frontend: FrontEndConfig | None = None,
                                 domain: str | None = None) -> np.ndarray:
    """The adversarial linear-magnitude spectrogram ``(T, bins)`` of one song.

    For a waveform adversary, the stored WAV is re-read with :func:`svdlib.audio.load_audio`
    and its spectrogram computed; a spectrogram adversary is read as stored.

    Parameters
    ----------
    folder : str or Path
        The attack folder.
    name : str
        The song's name as listed.
    frontend : FrontEndConfig, optional
        STFT settings (default: those in the folder's ``config.json``).
    domain : {"wave", "spec"}, optional
        The attack domain (default: from the folder).

    Returns
    -------
    np.ndarray
        float32 ``(T, bins)``.
    """
    folder = Path(folder)
    domain = domain or _folder_domain(folder)
    path = adversary_path(folder, name, domain)
    if not path.is_file():
        raise SvdError(f"no adversary for '{name}' at '{path}'; run `svd attack --domain "
                       f"{domain}` first")
    if domain == "spec":
        return np.load(path, allow_pickle=False).astype(np.float32)
    frontend = frontend or _folder_frontend(folder)
    return spectrogram_np(load_audio(path, frontend.sample_rate), frontend)


# -- running an attack over a split ---------------------------------------------------------


def _progress_callback(bar: Any, domain: str, x: np.ndarray | None, every: int) -> Callback:
    def report(step: int, n_flipped: int, delta: torch.Tensor) -> None:
        if step % every == 0:
            d2 = float(delta.double().pow(2).sum())
            if domain == "wave" and x is not None:
                value = f"{10 * math.log10(max(float(np.dot(x, x)), 1e-24) / max(d2, 1e-24)):.1f}"
                bar.set_postfix(flipped=n_flipped, snr=value, refresh=False)
            else:
                bar.set_postfix(flipped=n_flipped, d2=f"{d2:.3g}", refresh=False)
        if step > bar.n:
            bar.update(step - bar.n)

    return report


def attack_items(store: Store, domain: str) -> list[WorkItem]:
    """One work item per song of ``cfg.attack.subset``: attack it and store its record."""
    from .data import corpus_layout, read_filelist

    _check_domain(domain)
    names = read_filelist(corpus_layout(store), store.cfg.attack.subset)
    folder = store.attack_dir(domain)
    return [WorkItem("attack", f"attack {domain} {name}", str(record_path(folder, name)),
                     {"domain": domain, "song": name, "index": index, "count": len(names)})
            for index, name in enumerate(names, start=1)]


def discard_stale_records(store: Store, domain: str) -> list[str]:
    """Delete the records (and adversaries) of songs whose audio or labels changed since.

    Returns
    -------
    list of str
        The songs whose records were discarded; with any, the merged log and summary go too.
    """
    folder = store.attack_dir(domain)
    subset = store.cfg.attack.subset
    stale = []
    for name, fingerprint in store.split_files(subset).items():
        path = record_path(folder, name)
        if path.is_file() and load_record(folder, name).get("source") != fingerprint:
            adversary_path(folder, name, domain).unlink(missing_ok=True)
            path.unlink()
            stale.append(name)
    if stale:
        for merged in ("logger.csv", "summary.json"):
            (folder / merged).unlink(missing_ok=True)
    return stale


def attack_worker(cfg_dict: dict, item: WorkItem) -> None:
    """Work item: attack one song and save its adversary and per-frame record."""
    from .config import config_from_dict
    from .data import corpus_layout, load_song
    from .evaluate import load_trained

    cfg = config_from_dict(cfg_dict)
    store = Store(cfg)
    domain, name = item.params["domain"], item.params["song"]
    index, count = item.params["index"], item.params["count"]
    params: AttackDomainConfig = getattr(cfg.attack, domain)
    net = load_trained(store)
    layout = corpus_layout(store)
    song = load_song(layout, name, cfg.frontend, store.spectra_dir())
    signal = load_audio(song.path, cfg.frontend.sample_rate) if domain == "wave" else None
    bar = None
    callback = None
    if cfg.run.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=params.max_iterations, unit="it", leave=False,
                   desc=f"{domain} {index}/{count} {Path(name).stem[:30]}")
        callback = _progress_callback(bar, domain, signal, 10)
    try:
        result = attack_song(net, domain, params, cfg.evaluate.threshold, spec=song.spec,
                             signal=signal, callback=callback)
    finally:
        if bar is not None:
            bar.close()
    save_result(store.attack_dir(domain), name, result, song.targets, cfg.frontend.sample_rate,
                source=store.song_fingerprint(cfg.attack.subset, name))
    if cfg.run.progress:
        from tqdm.auto import tqdm

        tqdm.write(f"{domain} {index}/{count} {name}: {result.n_flipped}/{result.n_frames} "
                   f"frames flipped in {result.iterations} it, "
                   f"{_distortion_text(domain, result.distortion)}")


def run_attack(store: Store, domain: str, progress: bool | None = None) -> Path:
    """Attack every song of ``cfg.attack.subset``; resumable song by song.

    Each song is a work item (:func:`attack_items`, run in-process or on Dask): its adversary
    and per-song ``.npz`` record go to ``store.attack_dir(domain)``, and a song whose record
    exists is skipped. Then the merged per-frame ``logger.csv``, ``config.json`` and
    ``summary.json`` are written.

    Parameters
    ----------
    store : Store
        The artifact store; its configuration names model, split, threshold and attack settings.
    domain : {"wave", "spec"}
        The attack domain.
    progress : bool, optional
        Show progress bars (default: ``cfg.run.progress``).

    Returns
    -------
    Path
        The attack folder.
    """
    from .evaluate import load_trained

    _check_domain(domain)
    cfg = store.cfg
    folder = store.attack_dir(domain)
    store.check_reuse(folder)
    items = attack_items(store, domain)
    if folder.is_dir():
        discard_stale_records(store, domain)
    if (folder / "summary.json").is_file() and all(item.done for item in items):
        return folder
    load_trained(store)  # a damaged model is reported once, not once per song
    folder.mkdir(parents=True, exist_ok=True)
    save_json(folder / "config.json", cfg.to_dict())
    raise_failures(run_items(items, attack_worker, cfg, desc=f"attack {domain}",
                             progress=progress), "attack")
    names = [item.params["song"] for item in items]
    write_log(folder, names)
    write_summary(folder, names, domain, cfg)
    store.write_provenance(folder, f"attack {domain}", model=store.model_dir().name,
                           songs=store.split_files(cfg.attack.subset))
    return folder


def attack_song(net: SingingVoiceDetector, domain: str, params: AttackDomainConfig,
                threshold: float, spec: np.ndarray | None = None,
                signal: np.ndarray | None = None,
                callback: Callback | None = None) -> AttackResult:
    """Attack one song in ``domain`` (``signal`` is needed for wave, ``spec`` for spec).

    Returns
    -------
    AttackResult
        See :func:`attack_waveform` and :func:`attack_spectrogram`.
    """
    _check_domain(domain)
    if domain == "wave":
        if signal is None:
            raise ValueError("the waveform attack needs the song's samples")
        return attack_waveform(net, signal, params, threshold, callback=callback)
    if spec is None:
        raise ValueError("the spectrogram attack needs the song's spectrogram")
    return attack_spectrogram(net, np.asarray(spec), params, threshold, callback=callback)


def _distortion_text(domain: str, value: float) -> str:
    return f"SNR {value:.1f} dB" if domain == "wave" else f"|delta|^2 {value:.4g}"


def write_log(folder: str | Path, names: Sequence[str]) -> Path:
    """Merge the per-song records into ``logger.csv`` (one row per frame, original columns).

    Returns
    -------
    Path
        The log file.
    """
    import pandas as pd

    folder = Path(folder)
    frames = []
    for name in names:
        rec = load_record(folder, name)
        n = len(rec["flipped"])
        frames.append(pd.DataFrame({
            "file": [name] * n, "frame": np.arange(n), "ground truth": rec["ground_truth"],
            "orig pred": rec["orig_pred"], "mod pred": rec["adv_pred"],
            "snr": np.full(n, rec["distortion"]), "convergences": rec["flipped"]}))
    log = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=list(LOG_COLUMNS))
    path = folder / "logger.csv"
    with atomic_path(path, suffix=".csv") as tmp:
        log.to_csv(tmp, index=False, columns=list(LOG_COLUMNS))
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_summary(folder: str | Path, names: Sequence[str], domain: str, cfg: Config) -> dict:
    """Write ``summary.json``: overall and per-song success statistics of an attack folder.

    Returns
    -------
    dict
        The summary written.
    """
    folder = Path(folder)
    log = read_log(folder)
    per_song = song_statistics(log)
    songs = []
    for name in names:
        rec = load_record(folder, name)
        row = {column: _plain(per_song.at[name, column]) for column in per_song.columns}
        row.update(name=name, key=song_key(name), iterations=rec["iterations"],
                   best_iteration=rec["best_iteration"], converged=rec["converged"],
                   seconds=rec["seconds"])
        songs.append(row)
    overall = {k: _plain(v) for k, v in overall_statistics(log, domain).items()}
    summary = {"domain": domain, "subset": cfg.attack.subset,
               "threshold": cfg.evaluate.threshold,
               "params": cfg.to_dict()["attack"][domain], "overall": overall, "songs": songs,
               "no_flip_songs": [s["name"] for s in songs if not s["flipped"]]}
    save_json(folder / "summary.json", summary)
    return summary


# -- statistics (the original log_analysis) -------------------------------------------------


def read_log(path: str | Path) -> Any:
    """Read an attack's ``logger.csv`` (or the folder holding it) into a pandas DataFrame.

    Parameters
    ----------
    path : str or Path
        The CSV file or its folder.

    Returns
    -------
    pandas.DataFrame
        Columns ``file, frame, ground truth, orig pred, mod pred, snr, convergences``; the three
        prediction columns and ``convergences`` as bool.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / "logger.csv"
    if not path.is_file():
        raise SvdError(f"attack log '{path}' does not exist; run `svd attack` first")
    log = pd.read_csv(path, dtype={"file": str}, skipinitialspace=True, keep_default_na=False)
    missing = [c for c in LOG_COLUMNS if c not in log.columns]
    if missing:
        raise SvdError(f"attack log '{path}' lacks the columns {missing}")
    for column in ("ground truth", "orig pred", "mod pred", "convergences"):
        log[column] = log[column].map(_as_bool).astype(bool)
    log["frame"] = log["frame"].astype(int)
    log["snr"] = log["snr"].astype(float)
    return log


def _as_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "1.0"):
        return True
    if text in ("false", "0", "0.0", ""):
        return False
    raise SvdError(f"attack log has a non-boolean value '{value}'")


def song_statistics(log: Any) -> Any:
    """Per-song attack success, from a log as returned by :func:`read_log`.

    Parameters
    ----------
    log : pandas.DataFrame or str or Path
        The per-frame log, or the attack folder / CSV to read it from.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``file`` (log order): ``frames, flipped, flip_rate``; for frames the model
        called "sing": ``sing_frames, sing_flipped, sing_to_nosing`` (rate); for "no sing":
        ``nosing_frames, nosing_flipped, nosing_to_sing``; and ``snr`` (the song's value: SNR in
        dB for wave, ``|delta|^2`` for spec). A rate is NaN where a song has no such frames.
    """
    import pandas as pd

    if not isinstance(log, pd.DataFrame):
        log = read_log(log)
    sing = log["orig pred"].to_numpy(bool)
    flip = log["convergences"].to_numpy(bool)
    frame = pd.DataFrame({"file": log["file"], "frames": 1, "flipped": flip, "sing_frames": sing,
                          "sing_flipped": sing & flip, "nosing_frames": ~sing,
                          "nosing_flipped": ~sing & flip, "snr": log["snr"]})
    grouped = frame.groupby("file", sort=False)
    stats = grouped[["frames", "flipped", "sing_frames", "sing_flipped", "nosing_frames",
                     "nosing_flipped"]].sum().astype(int)
    stats["snr"] = grouped["snr"].first()
    with np.errstate(invalid="ignore", divide="ignore"):
        stats["flip_rate"] = stats["flipped"] / stats["frames"]
        stats["sing_to_nosing"] = stats["sing_flipped"] / stats["sing_frames"].where(
            stats["sing_frames"] > 0)
        stats["nosing_to_sing"] = stats["nosing_flipped"] / stats["nosing_frames"].where(
            stats["nosing_frames"] > 0)
    order = ["frames", "flipped", "flip_rate", "sing_frames", "sing_flipped", "sing_to_nosing",
             "nosing_frames", "nosing_flipped", "nosing_to_sing", "snr"]
    return stats[order]


def overall_statistics(log: Any, domain: str | None = None) -> dict[str, Any]:
    """Attack success pooled over all frames of all songs (the original's success rate).

    Parameters
    ----------
    log : pandas.DataFrame or str or Path
        The per-frame log, or the attack folder / CSV to read it from.
    domain : {"wave", "spec"}, optional
        Names the distortion: ``mean_snr_db`` for wave, ``mean_delta_sq`` for spec (else
        ``mean_snr``, the log's column name).

    Returns
    -------
    dict
        ``songs, songs_without_flips, frames, flipped, flip_rate, sing_frames, sing_flipped,
        sing_to_nosing, nosing_frames, nosing_flipped, nosing_to_sing`` (rates pooled over
        frames) and the mean and median over songs of the distortion.
    """
    stats = song_statistics(log)
    totals = {key: int(stats[key].sum()) for key in
              ("frames", "flipped", "sing_frames", "sing_flipped", "nosing_frames",
               "nosing_flipped")}

    def rate(a: int, b: int) -> float:
        return a / b if b else float("nan")

    name = {"wave": "snr_db", "spec": "delta_sq"}.get(domain or "", "snr")
    values = stats["snr"].to_numpy(float)
    return {"songs": len(stats), "songs_without_flips": int((stats["flipped"] == 0).sum()),
            **totals,
            "flip_rate": rate(totals["flipped"], totals["frames"]),
            "sing_to_nosing": rate(totals["sing_flipped"], totals["sing_frames"]),
            "nosing_to_sing": rate(totals["nosing_flipped"], totals["nosing_frames"]),
            f"mean_{name}": float(np.mean(values)) if len(values) else float("nan"),
            f"median_{name}": float(np.median(values)) if len(values) else float("nan")}


@dataclass
class Excerpt:
    """One successful adversarial excerpt: 115 frames centred on a flipped frame.

    Attributes
    ----------
    song : str
        The song's name as listed.
    frame : int
        The centre frame (index into the song).
    ground_truth, orig_pred, adv_pred : bool
        Label and the logged predictions of the centre frame ("sing" is True).
    orig_prob, adv_prob : float
        The logged P(sing) of the centre frame.
    original, adversarial : np.ndarray
        float32 ``(115, bins)`` linear-magnitude excerpts.
    """

    song: str
    frame: int
    ground_truth: bool
    orig_pred: bool
    adv_pred: bool
    orig_prob: float
    adv_prob: float
    original: np.ndarray
    adversarial: np.ndarray


def iter_successful_excerpts(folder: str | Path, songs: Iterable[Any],
                             frontend: FrontEndConfig | None = None,
                             target: int | None = None) -> Iterator[Excerpt]:
    """Yield the flipped frames of an attack whose whole window lies inside the song.

    For every song and every flipped frame ``f`` with ``57 <= f < T - 57`` (so the 115-frame
    window centred on ``f`` needs no padding), in song order and frame order.

    Parameters
    ----------
    folder : str or Path
        The attack folder.
    songs : iterable of Song
        The attacked songs (name and original spectrogram), e.g. from
        :func:`svdlib.data.load_store_split`; songs without a record are skipped.
    frontend : FrontEndConfig, optional
        STFT settings for waveform adversaries (default: the folder's ``config.json``).
    target : {0, 1}, optional
        Only frames flipped to this prediction (1: no sing -> sing, 0: sing -> no sing).

    Yields
    ------
    Excerpt
        The original and adversarial excerpts and the frame's logged facts.
    """
    folder = Path(folder)
    domain = _folder_domain(folder)
    for song in songs:
        if not record_path(folder, song.name).is_file():
            continue
        rec = load_record(folder, song.name)
        flipped = rec["flipped"]
        n = len(flipped)
        frames = np.flatnonzero(flipped)
        frames = frames[(frames >= HALF_BLOCK) & (frames < n - HALF_BLOCK)]
        if target is not None:
            frames = frames[rec["adv_pred"][frames] == bool(target)]
        if not len(frames):
            continue
        adv = load_adversarial_spectrogram(folder, song.name, frontend, domain)
        orig = np.asarray(song.spec)
        if adv.shape[0] != n or orig.shape[0] != n:
            raise SvdError(f"adversary of '{song.name}' has {adv.shape[0]} frames, the song "
                           f"{orig.shape[0]} and its record {n}; re-run the attack")
        for f in frames.tolist():
            window = slice(f - HALF_BLOCK, f + HALF_BLOCK + 1)
            yield Excerpt(song=song.name, frame=f, ground_truth=bool(rec["ground_truth"][f]),
                          orig_pred=bool(rec["orig_pred"][f]), adv_pred=bool(rec["adv_pred"][f]),
                          orig_prob=float(rec["orig_probs"][f]),
                          adv_prob=float(rec["adv_probs"][f]),
                          original=np.array(orig[window], dtype=np.float32),
                          adversarial=np.array(adv[window], dtype=np.float32))


def successful_excerpts(store: Store, domain: str,
                        target: int | None = None) -> Iterator[Excerpt]:
    """:func:`iter_successful_excerpts` for the configured attack of a store.

    Parameters
    ----------
    store : Store
        The artifact store (its ``attack.subset`` names the songs).
    domain : {"wave", "spec"}
        The attack domain.
    target : {0, 1}, optional
        Only frames flipped to this prediction.

    Yields
    ------
    Excerpt
        See :func:`iter_successful_excerpts`.
    """
    from .data import load_store_split

    _check_domain(domain)
    folder = store.attack_dir(domain)
    if not (folder / "summary.json").is_file():
        raise SvdError(f"attack '{folder}' is missing or unfinished; run `svd attack --domain "
                       f"{domain}` first")
    songs = load_store_split(store, store.cfg.attack.subset)
    yield from iter_successful_excerpts(folder, songs, store.cfg.frontend, target)
