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

import torch
import torch.nn.functional as F
from torch import nn

from svdlib.audio.frontend import LogMel
from svdlib.audio.settings import FrontEndConfig
from svdlib.constants import EXCERPT_FRAMES
from svdlib.detector.settings import ModelConfig

BLOCKLEN = EXCERPT_FRAMES
HALF_BLOCK = BLOCKLEN // 2



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

    Examples
    --------
    A quarter-width detector (the ``tiny`` and ``quick`` profiles'), untrained: one P(sing) per
    115-frame window of a 2-second spectrogram (141 frames):

    >>> import torch
    >>> from svdlib import FrontEndConfig, ModelConfig, SingingVoiceDetector, Spectrogram
    >>> _ = torch.manual_seed(0)
    >>> net = SingingVoiceDetector(ModelConfig(width=0.25), FrontEndConfig()).eval()
    >>> spec = Spectrogram()(0.1 * torch.randn(2 * 22050))        # (141 frames, 513 bins)
    >>> with torch.no_grad():
    ...     p = net.probabilities(spec[None])
    >>> tuple(p.shape), bool(((p > 0) & (p < 1)).all())
    ((1, 27), True)
    """

    def __init__(self, model: ModelConfig, frontend: FrontEndConfig) -> None:
        super().__init__()
        self.model_config = model
        self.frontend_config = frontend
        widths = [max(1, round(c * model.width)) for c in (64, 32, 128, 64)]
        self.widths = widths
        bands = frontend.mel_bands
        freq_after = (((bands - 4) // 3) - 4) // 3  # 7 for 80 bands
        self.logmel = LogMel.from_settings(frontend)
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
    """Create an untrained detector.

    Examples
    --------
    >>> from svdlib import FrontEndConfig, ModelConfig, build_model
    >>> net = build_model(ModelConfig(width=0.25), FrontEndConfig())
    >>> net.widths, net.receptive_field
    ([16, 8, 32, 16], 115)
    """
    return SingingVoiceDetector(model, frontend)
