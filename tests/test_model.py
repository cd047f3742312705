import numpy as np
import pytest
import torch

from svdlib.audio.settings import FrontEndConfig
from svdlib.detector.checkpoint import load_model, load_original_state_dict, save_model
from svdlib.detector.model import ZeroMeanConv2d, build_model
from svdlib.detector.settings import ModelConfig
from svdlib.devices import best_device
from svdlib.errors import SvdError

FE = FrontEndConfig()


def _random_eval_model(width=0.25, seed=0):
    torch.manual_seed(seed)
    net = build_model(ModelConfig(width=width), FE)
    for module in net.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.mark.parametrize("width", [0.25, 1.0])
def test_dense_forward_equals_excerpt_by_excerpt(width):
    net = _random_eval_model(width)
    spec = torch.rand(1, 115 + 40, 513) * 3
    with torch.no_grad():
        dense = net(spec)[0]
        windows = spec[0].unfold(0, 115, 1).permute(0, 2, 1)   # (41, 115, 513)
        per_excerpt = net(windows)[:, 0]
    assert dense.shape == (41,)
    assert torch.allclose(dense, per_excerpt, atol=1e-4)


def test_output_length_and_preprocessed_path():
    net = _random_eval_model()
    spec = torch.rand(2, 300, 513)
    with torch.no_grad():
        direct = net(spec)
        via_logmel = net(net.preprocess(spec), preprocess=False)
    assert direct.shape == (2, 300 - 114)
    assert torch.allclose(direct, via_logmel)
    with pytest.raises(ValueError, match="at least 115"):
        net(torch.rand(1, 100, 513))


def test_zero_mean_first_convolution_ignores_constant_offsets():
    torch.manual_seed(0)
    conv = ZeroMeanConv2d(1, 4, 3, bias=False)
    x = torch.randn(2, 1, 20, 20)
    assert torch.allclose(conv(x), conv(x + 5.0), atol=1e-5)
    plain = torch.nn.Conv2d(1, 4, 3, bias=False)
    assert not torch.allclose(plain(x), plain(x + 5.0), atol=1e-3)


def test_paper_sized_network_parameter_count():
    net = build_model(ModelConfig(width=1.0), FE)
    n = sum(p.numel() for p in net.parameters())
    # 1,852,193 in the original minus the unused ismir2016 layers (conv_16: 442,368 + bias
    # 128, bn_16: 256) and the unused first-layer bias (64)
    assert n == 1_852_193 - 442_368 - 128 - 256 - 64


def test_save_load_roundtrip(tmp_path):
    net = _random_eval_model()
    path = tmp_path / "m.safetensors"
    save_model(path, net, extra={"seed": 3})
    again = load_model(path, ModelConfig(width=0.25), FE)
    x = torch.rand(1, 130, 513)
    with torch.no_grad():
        assert torch.equal(net(x), again(x))


def test_load_rejects_other_architecture_and_truncation(tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(path, _random_eval_model())
    with pytest.raises(SvdError, match="another architecture"):
        load_model(path, ModelConfig(width=0.5), FE)
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(SvdError, match="truncated"):
        load_model(truncated, ModelConfig(width=0.25), FE)
    garbage = tmp_path / "g.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(SvdError, match=str(garbage)):
        load_model(garbage, ModelConfig(width=0.25), FE)
    with pytest.raises(SvdError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors", ModelConfig(width=0.25), FE)


def test_original_state_dict_loads_without_unpickling_code(tmp_path):
    net = _random_eval_model(width=1.0)
    state = dict(net.state_dict())
    state["conv_16.weight"] = torch.zeros(128, 64, 3, 18)   # unused ismir2016 layer
    state["conv1.bias"] = torch.zeros(64)
    path = tmp_path / "model.pt"
    torch.save(state, path)
    loaded = load_original_state_dict(path, FE)
    x = torch.rand(1, 120, 513)
    with torch.no_grad():
        assert torch.allclose(net(x), loaded(x))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nonsense")
    with pytest.raises(SvdError, match="cannot be read"):
        load_original_state_dict(bad, FE)


def test_device_selection():
    assert best_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert best_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(SvdError, match="no CUDA GPU"):
            best_device("cuda:0")


def test_training_mode_uses_batch_statistics():
    net = build_model(ModelConfig(width=0.25), FE).train()
    x = torch.rand(4, 115, 513)
    out = net(x)
    out.sum().backward()
    assert all(p.grad is not None for n, p in net.named_parameters() if p.requires_grad)
    assert np.isfinite(out.detach().numpy()).all()
