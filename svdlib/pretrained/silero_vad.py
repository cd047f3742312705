"""Silero VAD (voice activity detection) as a differentiable, batched torch module.

The network is Silero's v6.2 16 kHz model, rewritten here from its published architecture;
its weights come from the PyPI package ``silero-vad`` (the ``pretrained`` extra), checked
against the hashes pip recorded when it installed the package. Nothing is downloaded and
nothing is unpickled. The package ships the network as TorchScript (its default, a pickle),
as ONNX files and as a safetensors file for its tinygrad example; the TorchScript and ONNX
files hold the same weights, while the safetensors file of 6.2.3 holds another network (its
chunk probabilities differ from the ONNX model's by up to 0.7; upstream issue #768). So the
weights are read by default from ``silero_vad_16k_op15.onnx``, a protocol buffer whose
initializers :mod:`svdlib.pretrained.onnx_file` decodes; the safetensors file loads too.

How a waveform is read, as the package's own streaming loop reads it: the 16 kHz signal is cut
into chunks of 512 samples (32 ms); each chunk is prefixed by the last 64 samples before it
(zeros for the first chunk), so the network sees 576 samples, which it reflect-pads by 64 on
the right. A learnt short-time Fourier transform (a strided convolution, 4 frames of 129 bins)
gives magnitudes; four convolutions reduce them to 128 features; an LSTM cell carries its
state ``(h, c)`` from chunk to chunk (zeros before the first), and ``sigmoid(w · relu(h) + b)``
is the chunk's speech probability. Here all chunks of a batch go through the convolutions at
once and only the LSTM runs step by step, so a batch of excerpts costs one pass.

One number per excerpt, P(voice), is the **mean of its chunk probabilities**: the expected
share of the excerpt's 32 ms chunks the VAD calls speech, a smooth function of every chunk (a
maximum would hand every gradient to one chunk, a vote would have none). ``P > 0.5`` is the
binary decision "voice". :meth:`SileroVad.forward` returns the logit of that P, computed
without rounding to P first, so that a module for logits (:func:`svdlib.attacks.excerpts.
attack_excerpts`) and one for probabilities (``nn.Sequential(vad, nn.Sigmoid())``) both work.
"""

from __future__ import annotations

import hashlib
import math
from base64 import urlsafe_b64encode
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from svdlib.errors import DataError, SvdError, first_line
from svdlib.pretrained.onnx_file import onnx_initializers

SAMPLE_RATE = 16000
"""The only sample rate the network reads (Hz)."""
CHUNK = 512
"""Samples per chunk (32 ms): one probability each."""
CONTEXT = 64
"""Samples of the previous chunk prefixed to each chunk."""
DISTRIBUTION = "silero-vad"
"""The PyPI package that ships the weights."""
WEIGHT_FILES = {"onnx": "silero_vad/data/silero_vad_16k_op15.onnx",
                "safetensors": "silero_vad/data/silero_vad_16k.safetensors"}
"""The weights' files inside the installed package (the ONNX one is the package's model)."""
INSTALL = "pip install 'svdlib[pretrained]'"
"""What installs the package (the ``pretrained`` extra)."""
SHAPES = {
    "stft_conv.weight": (258, 1, 256),
    "conv1.weight": (128, 129, 3), "conv1.bias": (128,),
    "conv2.weight": (64, 128, 3), "conv2.bias": (64,),
    "conv3.weight": (64, 64, 3), "conv3.bias": (64,),
    "conv4.weight": (128, 64, 3), "conv4.bias": (128,),
    "lstm_cell.weight_ih": (512, 128), "lstm_cell.weight_hh": (512, 128),
    "lstm_cell.bias_ih": (512,), "lstm_cell.bias_hh": (512,),
    "final_conv.weight": (1, 128, 1), "final_conv.bias": (1,),
}
"""Every tensor of the weights (the safetensors file's names) and its shape (all float32)."""
ONNX_NAMES = {
    "stft_conv.weight": "model.stft.forward_basis_buffer",
    **{f"conv{i + 1}.{part}": f"model.encoder.{i}.reparam_conv.{part}"
       for i in range(4) for part in ("weight", "bias")},
    **{f"lstm_cell.{part}": f"model.decoder.rnn.{part}"
       for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
    "final_conv.weight": "model.decoder.decoder.2.weight",
    "final_conv.bias": "model.decoder.decoder.2.bias",
}
"""The name of each tensor of :data:`SHAPES` among the ONNX file's initializers."""


class SileroVad(nn.Module):
    """Silero VAD: P(voice) of 16 kHz waveforms, differentiable, a batch at a time.

    Built with random weights; :func:`load_silero_vad` returns it with the package's weights.
    An input ``(B, L)`` holds B waveforms at 16 kHz (floats, full scale ±1). ``L`` need not
    be a multiple of 512: the last chunk is completed with zeros (as the package does), so
    ``ceil(L / 512)`` chunks are read; 32768 samples (2.05 s) are 64 chunks.

    Attributes
    ----------
    source : str
        Where the weights came from: ``"silero-vad 6.2.3: silero_vad_16k_op15.onnx"``, a
        file's path, or ``"random"``.

    Examples
    --------
    >>> import torch
    >>> from svdlib.pretrained.silero_vad import SileroVad
    >>> _ = torch.manual_seed(0)
    >>> vad = SileroVad()                                  # random weights: shapes only
    >>> x = torch.zeros(2, 1000, requires_grad=True)       # 2 chunks (the second half zeros)
    >>> vad.chunk_probabilities(x).shape, vad(x).shape, vad.probability(x).shape
    (torch.Size([2, 2]), torch.Size([2]), torch.Size([2]))
    >>> bool(torch.allclose(torch.sigmoid(vad(x)), vad.probability(x)))
    True
    """

    def __init__(self) -> None:
        super().__init__()
        self.stft = nn.Conv1d(1, 258, kernel_size=256, stride=128, bias=False)
        self.encoder = nn.ModuleList([
            nn.Conv1d(129, 128, kernel_size=3, padding=1),
            nn.Conv1d(128, 64, kernel_size=3, stride=2, padding=1),
            nn.Conv1d(64, 64, kernel_size=3, stride=2, padding=1),
            nn.Conv1d(64, 128, kernel_size=3, padding=1)])
        self.lstm = nn.LSTM(128, 128, batch_first=True)
        self.head = nn.Linear(128, 1)
        self.source = "random"

    @staticmethod
    def chunks(waveforms: torch.Tensor) -> torch.Tensor:
        """The network's inputs: ``(B, n, 576)``, each chunk after its 64 samples of context.

        Parameters
        ----------
        waveforms : torch.Tensor
            ``(B, L)`` at 16 kHz, ``L >= 1``; zeros complete the last chunk.
        """
        if waveforms.dim() != 2 or waveforms.shape[1] == 0:
            raise ValueError(f"expected (batch, samples) waveforms, got {tuple(waveforms.shape)}")
        n = math.ceil(waveforms.shape[1] / CHUNK)
        padded = F.pad(waveforms, (CONTEXT, n * CHUNK - waveforms.shape[1]))
        return padded.unfold(1, CONTEXT + CHUNK, CHUNK)

    def features(self, chunks: torch.Tensor) -> torch.Tensor:
        """The encoder's 128 features of each ``(…, 576)`` chunk: ``(…, 128)``."""
        lead = chunks.shape[:-1]
        x = F.pad(chunks.reshape(-1, 1, chunks.shape[-1]), (0, CONTEXT), mode="reflect")
        spectrum = self.stft(x)
        power = spectrum[:, :129] ** 2 + spectrum[:, 129:] ** 2
        # sqrt has an infinite slope at 0 (digital silence): the floor keeps gradients finite
        # and moves magnitudes by at most 1e-19
        x = torch.sqrt(power.clamp_min(torch.finfo(power.dtype).tiny))
        for conv in self.encoder:
            x = torch.relu(conv(x))
        return x.squeeze(-1).reshape(*lead, 128)

    def chunk_logits(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Logits of each chunk's speech probability, ``(B, n)``, the LSTM run across chunks."""
        hidden, _ = self.lstm(self.features(self.chunks(waveforms)))
        return self.head(torch.relu(hidden)).squeeze(-1)

    def chunk_probabilities(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Each 32 ms chunk's speech probability, ``(B, n)`` (the package's per-chunk output)."""
        return torch.sigmoid(self.chunk_logits(waveforms))

    def probability(self, waveforms: torch.Tensor) -> torch.Tensor:
        """P(voice) of each waveform, ``(B,)``: the mean of its chunk probabilities.

        Keeps the gradient (call it under ``torch.no_grad()`` when none is needed).
        """
        return self.chunk_probabilities(waveforms).mean(dim=1)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The logit of P(voice), ``(B,)``: ``log P − log(1 − P)``, P the mean chunk probability.

        Both logs are log-mean-exps of log-sigmoids, exact where P is within rounding of 0 or 1.
        """
        z = self.chunk_logits(waveforms)
        return torch.logsumexp(F.logsigmoid(z), dim=1) - torch.logsumexp(F.logsigmoid(-z), dim=1)

    def load_weights(self, weights: dict[str, torch.Tensor], source: str) -> SileroVad:
        """Copy a checked weights dict (the file's names, :data:`SHAPES`) into the module."""
        own = {"stft.weight": weights["stft_conv.weight"],
               "head.weight": weights["final_conv.weight"].reshape(1, 128),
               "head.bias": weights["final_conv.bias"]}
        for i in range(4):
            own[f"encoder.{i}.weight"] = weights[f"conv{i + 1}.weight"]
            own[f"encoder.{i}.bias"] = weights[f"conv{i + 1}.bias"]
        for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            # nn.LSTM and the cell share the gate order (input, forget, cell, output)
            own[f"lstm.{part}_l0"] = weights[f"lstm_cell.{part}"]
        self.load_state_dict(own, strict=True)
        self.source = source
        return self


def installed_weights(kind: str = "onnx") -> tuple[Path, str, str]:
    """The installed package's weights file, its recorded hash and the package's version.

    Found through the package's metadata, without importing it (``import silero_vad`` sets
    torch to one thread for the whole process).

    Parameters
    ----------
    kind : {"onnx", "safetensors"}
        Which file (:data:`WEIGHT_FILES`).

    Returns
    -------
    tuple
        ``(path, "sha256=<urlsafe base64>" or "" if pip recorded none, version)``.

    Raises
    ------
    SvdError
        If ``silero-vad`` is not installed.
    DataError
        If the installed package has no such file.
    """
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise SvdError(f"the Silero VAD needs the package {DISTRIBUTION}, which is not "
                       f"installed: {INSTALL}") from None
    name = WEIGHT_FILES[kind]
    entry = {str(f): f for f in dist.files or []}.get(name)
    path = Path(dist.locate_file(name))
    if not path.is_file():
        raise DataError(f"the installed {DISTRIBUTION} {dist.version} has no weights file "
                        f"'{path}'; reinstall it: {reinstall(dist.version)}")
    digest = f"{entry.hash.mode}={entry.hash.value}" if entry and entry.hash else ""
    return path, digest, dist.version


def reinstall(version: str) -> str:
    """The command that restores the installed package's files."""
    return f"pip install --force-reinstall --no-deps '{DISTRIBUTION}=={version}'"


def file_digest(data: bytes) -> str:
    """A file's hash as pip's RECORD writes it: ``sha256=<urlsafe base64, no padding>``."""
    value = hashlib.sha256(data).digest()
    return "sha256=" + urlsafe_b64encode(value).rstrip(b"=").decode("ascii")


def decode_weights(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    """The tensors of a ``.onnx`` or ``.safetensors`` file's bytes, by :data:`SHAPES`' names.

    Raises
    ------
    ValueError
        If the bytes do not decode.
    """
    if path.suffix == ".onnx":
        tensors = onnx_initializers(data)
        return {key: torch.from_numpy(tensors[name]) for key, name in ONNX_NAMES.items()
                if name in tensors}
    from safetensors.torch import load

    return load(data)


def read_weights(path: str | Path, fix: str = "replace the file",
                 recorded: str = "") -> dict[str, torch.Tensor]:
    """Read and check Silero VAD weights: every tensor of :data:`SHAPES`, float32, finite.

    Parameters
    ----------
    path : str or Path
        A ``.onnx`` file (tensors named as in :data:`ONNX_NAMES`) or a ``.safetensors`` file.
    fix : str
        How to fix a broken file, ending each error message.
    recorded : str
        The hash the file must have (``sha256=…`` as pip records it); empty: not checked.

    Raises
    ------
    DataError
        If the file is missing, differs from its recorded hash, does not decode (truncated,
        corrupt), or lacks a tensor, has another shape or non-finite values, naming the file
        and the tensor.
    """
    path = Path(path)
    if path.suffix not in (".onnx", ".safetensors"):
        raise DataError(f"Silero VAD weights '{path}': expected a .onnx or .safetensors file")
    if not path.is_file():
        raise DataError(f"Silero VAD weights '{path}' do not exist; {fix}")
    data = path.read_bytes()
    if recorded and file_digest(data) != recorded:
        raise DataError(f"Silero VAD weights '{path}' differ from the file pip installed "
                        f"(hash mismatch); {fix}")
    try:
        weights = decode_weights(path, data)
    except Exception as err:  # safetensors and the ONNX reader raise their own types
        raise DataError(f"Silero VAD weights '{path}' do not decode ({first_line(err)}); "
                        f"{fix}") from None
    for key, shape in SHAPES.items():
        tensor = weights.get(key)
        if tensor is None:
            raise DataError(f"Silero VAD weights '{path}' have no tensor '{key}'; this is not "
                            f"the 16 kHz Silero VAD v5/v6 model; {fix}")
        if tuple(tensor.shape) != shape or tensor.dtype != torch.float32:
            raise DataError(f"Silero VAD weights '{path}': '{key}' is {tensor.dtype} of shape "
                            f"{tuple(tensor.shape)}, expected float32 {shape}; {fix}")
        if not torch.isfinite(tensor).all():
            raise DataError(f"Silero VAD weights '{path}': '{key}' holds NaN or infinite "
                            f"values; {fix}")
    return weights


def load_silero_vad(path: str | Path | None = None, kind: str = "onnx") -> SileroVad:
    """Silero VAD with its pretrained weights, in eval mode, on the CPU.

    Parameters
    ----------
    path : str or Path, optional
        A weights file (``.onnx`` as ``silero_vad_16k_op15.onnx``, or ``.safetensors``); by
        default the installed ``silero-vad`` package's file of ``kind``, checked first against
        the hash pip recorded for it.
    kind : {"onnx", "safetensors"}
        Which of the package's files (:data:`WEIGHT_FILES`): ``"onnx"``, the model the
        package runs, or ``"safetensors"``, its tinygrad example's (another network).

    Returns
    -------
    SileroVad
        The module; ``source`` says which file it read.

    Raises
    ------
    SvdError
        If ``silero-vad`` is not installed (the ``pretrained`` extra), or (``DataError``) if
        the weights file is missing, differs from what pip installed, or does not read as the
        16 kHz model.

    Examples
    --------
    >>> import torch
    >>> from svdlib.pretrained.silero_vad import SAMPLE_RATE, load_silero_vad
    >>> vad = load_silero_vad()                      # needs the pretrained extra
    >>> silence = torch.zeros(1, SAMPLE_RATE)        # one second: 32 chunks
    >>> vad.chunk_probabilities(silence).shape
    torch.Size([1, 32])
    >>> bool(vad.probability(silence) < 0.5)
    True
    """
    if kind not in WEIGHT_FILES:
        raise ValueError(f"kind must be one of {sorted(WEIGHT_FILES)}, got {kind!r}")
    if path is not None:
        return SileroVad().load_weights(read_weights(path), str(path)).eval()
    path, recorded, version = installed_weights(kind)
    weights = read_weights(path, f"reinstall it: {reinstall(version)}", recorded)
    return SileroVad().load_weights(weights, f"{DISTRIBUTION} {version}: {path.name}").eval()
