"""Saving and loading detectors (state dicts with JSON metadata) and the released model.pt."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from pathlib import Path

import torch

from svdlib.audio.settings import FrontEndConfig
from svdlib.detector.model import SingingVoiceDetector, build_model
from svdlib.detector.settings import ModelConfig, architecture
from svdlib.errors import DataError, MissingArtifactError, first_line
from svdlib.files import atomic_path


def _metadata(net: SingingVoiceDetector, extra: dict | None = None) -> dict[str, str]:
    meta = {
        "format": "svdlib-detector-1",
        "model": json.dumps(architecture(net.model_config), sort_keys=True),
        "frontend": json.dumps(asdict(net.frontend_config), sort_keys=True),
    }
    for key, value in (extra or {}).items():
        meta[key] = json.dumps(value, sort_keys=True)
    return meta


def save_model(path: str | Path, net: SingingVoiceDetector, extra: dict | None = None) -> None:
    """Save weights and architecture as safetensors, atomically, with the file's digest.

    Parameters
    ----------
    path : str or Path
        Destination (``.safetensors``).
    net : SingingVoiceDetector
        The model; its configuration is stored in the file's metadata.
    extra : dict, optional
        JSON-serialisable facts to store alongside (e.g. the training seed).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import torch
    >>> from svdlib import FrontEndConfig, ModelConfig, build_model, load_model, save_model
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = Path(folder.name) / "model.safetensors"
    >>> net = build_model(ModelConfig(width=0.25), FrontEndConfig())
    >>> save_model(path, net, extra={"seed": 0})
    >>> again = load_model(path, ModelConfig(width=0.25), FrontEndConfig())
    >>> all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
    ...                                       again.state_dict().values()))
    True
    >>> folder.cleanup()
    """
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(path, suffix=".safetensors", digest=True) as tmp:
        save_file(state, str(tmp), metadata=_metadata(net, extra))


def read_model_metadata(path: str | Path) -> dict[str, str]:
    """Read the metadata of a saved detector without loading its weights."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise MissingArtifactError(f"model file '{path}' does not exist", "train")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as err:  # safetensors raises its own error types for bad headers
        raise DataError(f"model file '{path}' is not a valid safetensors file ({first_line(err)}); "
                       "it may be truncated: delete it and re-train") from None


def load_model(path: str | Path, model: ModelConfig, frontend: FrontEndConfig,
               device: torch.device | str = "cpu") -> SingingVoiceDetector:
    """Load a detector saved by :func:`save_model`, checking it matches the configuration.

    Any safetensors file of the right architecture loads, with or without a recorded digest
    (the experiments layer checks the digests of the run's own models before calling this).

    Raises
    ------
    SvdError
        If the file is missing, truncated or corrupt, or holds another architecture.

    Examples
    --------
    A file of another architecture is refused with one line naming the file:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from svdlib import FrontEndConfig, ModelConfig, SvdError, build_model
    >>> from svdlib import load_model, save_model
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = Path(folder.name) / "model.safetensors"
    >>> save_model(path, build_model(ModelConfig(width=0.25), FrontEndConfig()))
    >>> load_model(path, ModelConfig(width=0.25), FrontEndConfig()).training
    False
    >>> try:
    ...     load_model(path, ModelConfig(width=0.5), FrontEndConfig())
    ... except SvdError as err:
    ...     print(str(path) in str(err), len(str(err).splitlines()))
    True 1
    >>> folder.cleanup()
    """
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_model_metadata(path)
    if meta.get("format") != "svdlib-detector-1":
        raise DataError(f"model file '{path}' was not written by svdlib (no detector metadata)")
    saved = json.loads(meta["model"])
    saved.pop("checkpoint", None)
    expected = architecture(model)
    if saved != expected:
        diffs = ", ".join(f"{k}: file {saved.get(k)!r} vs profile {expected[k]!r}"
                          for k in expected if saved.get(k) != expected[k])
        raise DataError(f"model file '{path}' has another architecture ({diffs}); train it again "
                       "or use the matching profile")
    try:
        state = load_file(str(path))
    except Exception as err:
        raise DataError(f"model file '{path}' cannot be read ({first_line(err)}); it may be "
                       "truncated: delete it and re-train") from None
    net = build_model(model, frontend)
    _load_state(net, state, path)
    return net.to(device).eval()


def _load_state(net: SingingVoiceDetector, state: dict[str, torch.Tensor], path: Path) -> None:
    own = net.state_dict()
    # batch norm's step counter changes no number in evaluation; older files may lack it
    state = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked")}, **state}
    missing = [k for k in own if k not in state]
    if missing:
        raise DataError(f"model file '{path}' lacks weights {missing[:3]}; it is of another "
                       "architecture than the profile's")
    extra = [k for k in state if k not in own]
    if extra:
        raise DataError(f"model file '{path}' has weights the profile's architecture lacks "
                       f"{extra[:3]}; it is of another architecture")
    for key, value in own.items():
        if state[key].shape != value.shape:
            raise DataError(f"model file '{path}' has {key} of shape {tuple(state[key].shape)}, "
                           f"the profile's architecture needs {tuple(value.shape)}")
    net.load_state_dict({k: state[k] for k in own}, strict=True)


def _looks_like_torch_file(path: Path) -> bool:
    """A zip archive (torch's file format) or a pickle stream (its legacy format)."""
    import zipfile

    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as handle:
        return handle.read(1) == b"\x80"


def load_original_state_dict(path: str | Path, frontend: FrontEndConfig,
                             device: torch.device | str = "cpu",
                             model: ModelConfig | None = None) -> SingingVoiceDetector:
    """Load the paper's released PyTorch ``model.pt`` (``model_log_0mean``).

    The file is read with ``torch.load(weights_only=True)``, which never runs foreign code.
    Its unused ismir2016 weights (``conv_16``, ``bn_16``) and the unused first-layer bias are
    dropped; any other key the architecture lacks, or lacks of it, is an error.

    Parameters
    ----------
    path : str or Path
        The state dict file.
    frontend : FrontEndConfig
        The front end the detector runs with (the released model: ``magscale: log``).
    device : torch.device or str
        Where the detector goes.
    model : ModelConfig, optional
        The architecture the file must fit (default: the paper's, full width).

    Raises
    ------
    SvdError
        If the file is missing, unreadable, pickles objects, is not a state dict of tensors,
        or holds another architecture (another width, number of bands, missing or extra keys).

    Examples
    --------
    The released ``model.pt`` is a full-width state dict; here a quarter-width one saved by
    torch stands in for it:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import torch
    >>> from svdlib import FrontEndConfig, ModelConfig, build_model, load_original_state_dict
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = Path(folder.name) / "model.pt"
    >>> torch.save(build_model(ModelConfig(width=0.25), FrontEndConfig()).state_dict(), path)
    >>> net = load_original_state_dict(path, FrontEndConfig(), model=ModelConfig(width=0.25))
    >>> net.widths
    [16, 8, 32, 16]
    >>> folder.cleanup()
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"model file '{path}' does not exist")
    state = _read_state_dict(path)
    net = build_model(ModelConfig(width=1.0) if model is None else model, frontend)
    own = net.state_dict()
    state = {k: v for k, v in state.items()
             if not k.startswith(("conv_16.", "bn_16.")) and not (k == "conv1.bias"
                                                                   and k not in own)}
    _load_state(net, state, path)
    return net.to(device).eval()


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` of a file that must hold a dict of tensors."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not _looks_like_torch_file(path):
            raise DataError(f"model file '{path}' cannot be read as a state dict "
                           f"({first_line(err)}); it may be truncated or not a torch file"
                           ) from None
        raise DataError(f"model file '{path}' holds pickled Python objects, not just tensors; "
                       "svdlib never unpickles foreign files: re-save it as a state dict "
                       "(the model's state_dict() alone)") from None
    except Exception as err:
        raise DataError(f"model file '{path}' cannot be read as a state dict "
                       f"({first_line(err)}); it may be truncated or not a torch file") from None
    if not isinstance(state, dict):
        raise DataError(f"model file '{path}' does not hold a state dict but a "
                       f"{type(state).__name__}; save model.state_dict() instead")
    odd = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise DataError(f"model file '{path}' is not a state dict of tensors (e.g. {odd[0]!r} "
                       f"is a {type(state[odd[0]]).__name__}); save model.state_dict() instead")
    return state


def load_detector_file(path: str | Path, model: ModelConfig, frontend: FrontEndConfig,
                       device: torch.device | str = "cpu") -> SingingVoiceDetector:
    """Load a given detector: this project's ``.safetensors`` or an original state dict.

    A ``.safetensors`` file goes through :func:`load_model`, anything else through
    :func:`load_original_state_dict`; either way it must fit ``model`` and ``frontend``.

    Raises
    ------
    SvdError
        One line naming the file and what does not fit.
    """
    if Path(path).suffix == ".safetensors":
        return load_model(path, model, frontend, device)
    return load_original_state_dict(path, frontend, device, model)
