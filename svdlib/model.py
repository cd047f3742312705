"""The singing voice detector: Schlüter & Lehner's ismir2015 CNN, zero-mean first convolution.

The network sees 115 frames (about 1.64 s) of an 80-band log-mel spectrogram and predicts
whether the centre frame holds singing. It is written in its fully convolutional ("dense")
form: pooling keeps stride 1 in time and the later layers are dilated instead, so one forward
pass over ``T + 114`` frames yields all ``T`` frame predictions, each exactly equal to running
the network on that frame's own 115-frame excerpt. For inputs of exactly 115 frames (training
batches, LIME perturbations) the same weights run in the cheaper strided form.

Layer names follow the paper's PyTorch port (``freq_norm``, ``conv1`` ... ``fc3``), so its
released ``model.pt`` state dict loads with :func:`load_original_state_dict`.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .audio import LogMel
from .config import FrontEndConfig, ModelConfig
from .errors import SvdError, first_line
from .store import atomic_path

BLOCKLEN = 115
HALF_BLOCK = BLOCKLEN // 2


def best_device(requested: str = "auto") -> torch.device:
    """The device to compute on: a GPU when one is present (or as requested), else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise SvdError(f"device '{requested}' requested but no CUDA GPU is available; use "
                       "run.device=auto or cpu")
    return torch.device(requested)


class ZeroMeanConv2d(nn.Conv2d):
    """A convolution whose kernels have their mean removed on every forward pass.

    A zero-mean kernel ignores a constant added to its input, so after a log the network
    becomes invariant to the input gain. No bias is applied (its output would be constant).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve with the mean-free kernel."""
        weight = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, weight, None, self.stride, self.padding, self.dilation, self.groups)


class SingingVoiceDetector(nn.Module):
    """The ismir2015 singing voice detector with its front end (mel filterbank and log).

    Parameters
    ----------
    model : ModelConfig
        Architecture options; ``width`` scales the convolution channels (1.0 = the paper's).
    frontend : FrontEndConfig
        Filterbank and magnitude scaling applied inside the network.
    """

    def __init__(self, model: ModelConfig, frontend: FrontEndConfig) -> None:
        super().__init__()
        self.model_config = model
        self.frontend_config = frontend
        widths = [max(1, round(c * model.width)) for c in (64, 32, 128, 64)]
        self.widths = widths
        bands = frontend.mel_bands
        freq_after = (((bands - 4) // 3) - 4) // 3  # 7 for 80 bands
        self.logmel = LogMel(frontend)
        self.freq_norm = nn.BatchNorm1d(bands, eps=1e-4, affine=False)
        bn = model.batch_norm
        # As in the paper's port, every layer but the zero-mean one keeps its bias, BN or not.
        conv1_cls = ZeroMeanConv2d if model.firstconv_zeromean else nn.Conv2d
        self.conv1 = conv1_cls(1, widths[0], 3, bias=not model.firstconv_zeromean)
        self.conv2 = nn.Conv2d(widths[0], widths[1], 3)
        self.conv3 = nn.Conv2d(widths[1], widths[2], 3)
        self.conv4 = nn.Conv2d(widths[2], widths[3], 3)
        self.fc1 = nn.Conv2d(widths[3], 256, (11, freq_after))
        self.fc2 = nn.Conv2d(256, 64, 1)
        self.fc3 = nn.Conv2d(64, 1, 1)
        norm = (lambda c: nn.BatchNorm2d(c, eps=1e-4)) if bn else (lambda c: nn.Identity())
        self.bn1, self.bn2 = norm(widths[0]), norm(widths[1])
        self.bn3, self.bn4 = norm(widths[2]), norm(widths[3])
        self.bn_d1, self.bn_d2 = norm(256), norm(64)
        convdrop = model.convdrop == "independent"
        self.convdrop1 = nn.Dropout(0.1) if convdrop else nn.Identity()
        self.convdrop2 = nn.Dropout(0.1) if convdrop else nn.Identity()
        self.convdrop3 = nn.Dropout(0.1) if convdrop else nn.Identity()
        self.dropout = nn.Dropout(0.5)
        for layer in (self.conv1, self.conv2, self.conv3, self.conv4, self.fc1, self.fc2,
                      self.fc3):
            nn.init.orthogonal_(layer.weight)

    @property
    def receptive_field(self) -> int:
        """Frames one prediction depends on (115)."""
        return BLOCKLEN

    def preprocess(self, spec: torch.Tensor) -> torch.Tensor:
        """Linear STFT magnitudes ``(N, T, bins)`` to log-mel ``(N, T, bands)``."""
        return self.logmel(spec)

    def forward(self, x: torch.Tensor, preprocess: bool = True) -> torch.Tensor:
        """Predict singing logits.

        Parameters
        ----------
        x : torch.Tensor
            ``(N, T, bins)`` or ``(N, 1, T, bins)`` linear STFT magnitudes, or, with
            ``preprocess=False``, ``(N, T, bands)`` / ``(N, 1, T, bands)`` log-mel frames.
            ``T >= 115``.
        preprocess : bool
            Whether to apply the mel filterbank and the magnitude scaling first.

        Returns
        -------
        torch.Tensor
            Logits ``(N, T - 114)``: one per 115-frame window, for the window's centre frame.
        """
        if x.dim() == 4:
            x = x.squeeze(1)
        if x.dim() != 3:
            raise ValueError(f"expected (N, T, F) or (N, 1, T, F) input, got {tuple(x.shape)}")
        if x.shape[1] < BLOCKLEN:
            raise ValueError(f"need at least {BLOCKLEN} frames, got {x.shape[1]}")
        if preprocess:
            x = self.preprocess(x)
        x = self.freq_norm(x.transpose(1, 2)).transpose(1, 2).unsqueeze(1)
        dense = x.shape[2] != BLOCKLEN
        act = nn.functional.leaky_relu
        x = act(self.bn1(self.conv1(x)), 0.01)
        x = self.convdrop1(x)
        x = act(self.bn2(self.conv2(x)), 0.01)
        if dense:
            x = F.max_pool2d(x, 3, stride=(1, 3))
        else:
            x = F.max_pool2d(x, 3, stride=3)
        x = self.convdrop2(x)
        d3 = (3, 1) if dense else (1, 1)
        x = act(self.bn3(F.conv2d(x, self.conv3.weight, self.conv3.bias, dilation=d3)), 0.01)
        x = self.convdrop3(x)
        x = act(self.bn4(F.conv2d(x, self.conv4.weight, self.conv4.bias, dilation=d3)), 0.01)
        if dense:
            x = F.max_pool2d(x, 3, stride=(1, 3), dilation=(3, 1))
        else:
            x = F.max_pool2d(x, 3, stride=3)
        x = self.dropout(x)
        d1 = (9, 1) if dense else (1, 1)
        x = act(self.bn_d1(F.conv2d(x, self.fc1.weight, self.fc1.bias, dilation=d1)), 0.01)
        x = act(self.bn_d2(self.fc2(self.dropout(x))), 0.01)
        x = self.fc3(self.dropout(x))
        return x[:, 0, :, 0]

    def probabilities(self, x: torch.Tensor, preprocess: bool = True) -> torch.Tensor:
        """Sigmoid of :meth:`forward`: P(sing) per window."""
        return torch.sigmoid(self.forward(x, preprocess=preprocess))


def build_model(model: ModelConfig, frontend: FrontEndConfig) -> SingingVoiceDetector:
    """Create an untrained detector."""
    return SingingVoiceDetector(model, frontend)


def _metadata(net: SingingVoiceDetector, extra: dict | None = None) -> dict[str, str]:
    meta = {
        "format": "svdlib-detector-1",
        "model": json.dumps(asdict(net.model_config), sort_keys=True),
        "frontend": json.dumps(asdict(net.frontend_config), sort_keys=True),
    }
    for key, value in (extra or {}).items():
        meta[key] = json.dumps(value, sort_keys=True)
    return meta


def save_model(path: str | Path, net: SingingVoiceDetector, extra: dict | None = None) -> None:
    """Save weights and architecture as safetensors, atomically.

    Parameters
    ----------
    path : str or Path
        Destination (``.safetensors``).
    net : SingingVoiceDetector
        The model; its configuration is stored in the file's metadata.
    extra : dict, optional
        JSON-serialisable facts to store alongside (e.g. the training seed).
    """
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata=_metadata(net, extra))


def read_model_metadata(path: str | Path) -> dict[str, str]:
    """Read the metadata of a saved detector without loading its weights."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise SvdError(f"model file '{path}' does not exist; run `svd train` first")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as err:  # safetensors raises its own error types for bad headers
        raise SvdError(f"model file '{path}' is not a valid safetensors file ({first_line(err)}); "
                       "it may be truncated: delete it and re-train") from None


def load_model(path: str | Path, model: ModelConfig, frontend: FrontEndConfig,
               device: torch.device | str = "cpu") -> SingingVoiceDetector:
    """Load a detector saved by :func:`save_model`, checking it matches the configuration.

    Raises
    ------
    SvdError
        If the file is missing, truncated or corrupt, or holds another architecture.
    """
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_model_metadata(path)
    if meta.get("format") != "svdlib-detector-1":
        raise SvdError(f"model file '{path}' was not written by svdlib (no detector metadata)")
    saved = json.loads(meta["model"])
    expected = asdict(model)
    if saved != expected:
        diffs = ", ".join(f"{k}: file {saved.get(k)!r} vs profile {expected[k]!r}"
                          for k in expected if saved.get(k) != expected[k])
        raise SvdError(f"model file '{path}' has another architecture ({diffs}); train it again "
                       "or use the matching profile")
    try:
        state = load_file(str(path))
    except Exception as err:
        raise SvdError(f"model file '{path}' cannot be read ({first_line(err)}); it may be "
                       "truncated: delete it and re-train") from None
    net = build_model(model, frontend)
    _load_state(net, state, path)
    return net.to(device).eval()


def _load_state(net: SingingVoiceDetector, state: dict[str, torch.Tensor], path: Path) -> None:
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise SvdError(f"model file '{path}' lacks weights {missing[:3]}; it is of another "
                       "architecture")
    for key, value in own.items():
        if state[key].shape != value.shape:
            raise SvdError(f"model file '{path}' has {key} of shape {tuple(state[key].shape)}, "
                           f"the profile's architecture needs {tuple(value.shape)}")
    net.load_state_dict({k: state[k] for k in own}, strict=True)


def _looks_like_torch_file(path: Path) -> bool:
    """A zip archive (torch.save's format) or a pickle stream (its legacy format)."""
    import zipfile

    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as handle:
        return handle.read(1) == b"\x80"


def load_original_state_dict(path: str | Path, frontend: FrontEndConfig,
                             device: torch.device | str = "cpu") -> SingingVoiceDetector:
    """Load the paper's released PyTorch ``model.pt`` (``model_log_0mean``).

    The file is read with ``torch.load(weights_only=True)``, which never runs foreign code.
    Its unused ismir2016 weights (``conv_16``, ``bn_16``) and the unused first-layer bias are
    dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise SvdError(f"model file '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if not _looks_like_torch_file(path):
            raise SvdError(f"model file '{path}' cannot be read as a state dict "
                           f"({first_line(err)}); it may be truncated or not a torch file"
                           ) from None
        raise SvdError(f"model file '{path}' holds pickled Python objects, not just tensors; "
                       "svdlib never unpickles foreign files: re-save it as a state dict "
                       "(torch.save(model.state_dict(), path))") from None
    except Exception as err:
        raise SvdError(f"model file '{path}' cannot be read as a state dict "
                       f"({first_line(err)}); it may be truncated or not a torch file") from None
    if not isinstance(state, dict):
        raise SvdError(f"model file '{path}' does not hold a state dict")
    state = {k: v for k, v in state.items()
             if not k.startswith(("conv_16.", "bn_16.")) and k != "conv1.bias"}
    net = build_model(ModelConfig(width=1.0), frontend)
    _load_state(net, state, path)
    return net.to(device).eval()
