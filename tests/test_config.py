import pytest

from svdlib.config import apply_vars, load_config, parse_overrides, read_vars
from svdlib.errors import SvdError

MODEL_VARS = """\
sample_rate = 22050
frame_len = 1024
fps = 70
filterbank = mel_orig
mel_bands = 80
mel_min = 27.5
mel_max = 8000
magscale = log
blocklen = 115
learn_scheme = adam
batchsize = 32
initial_eta = 0.001
eta_decay = 0.85
eta_decay_every = 1
momentum = 0.9
epochs = 20
epochsize = 2000
l2_decay = 0
first_params = 1
first_params_eta_scale = 1
first_params_log = 0
spline_order = 2
max_stretch = 0.3
max_shift = 0.3
max_db = 10
bg_threads = 3
bg_processes = 0
arch = ismir2015
arch.batch_norm = 1
arch.convdrop = none
arch.firstconv_zeromean = 0mean
"""


@pytest.mark.parametrize("name", ["quick", "paper", "tiny"])
def test_profiles_load(name):
    cfg = load_config(name)
    assert cfg.profile == name
    assert cfg.frontend.hop == 315
    assert cfg.frontend.n_bins == 513


def test_paper_profile_has_paper_settings():
    cfg = load_config("paper")
    wave, spec = cfg.attack.wave, cfg.attack.spec
    assert (wave.lr, wave.alpha, wave.clip_eps) == (3e-4, 2, 0.01)
    assert (spec.lr, spec.alpha, spec.clip_eps) == (5e-4, 15, 0.1)
    assert cfg.lime.num_samples == 8192 and cfg.lime.kernel_width == 0.25
    assert cfg.evaluate.threshold == 0.51
    assert (cfg.corpus.n_train, cfg.corpus.n_valid, cfg.corpus.n_test) == (61, 16, 16)
    assert cfg.train.epochs == 20 and cfg.train.epochsize == 2000 and cfg.model.width == 1.0


def test_overrides_are_typed():
    cfg = load_config("quick", parse_overrides(["train.epochs=3", "attack.wave.sign=false",
                                                "train.seeds=[1,2]", "lime.baseline=min"]))
    assert cfg.train.epochs == 3
    assert cfg.attack.wave.sign is False
    assert cfg.train.seeds == [1, 2]
    assert cfg.lime.baseline == "min"


@pytest.mark.parametrize("override,message", [
    ("train.nope=1", "unknown configuration key 'train.nope'"),
    ("train.epochs=abc", "needs an integer"),
    ("attack.wave.sign=maybe", "needs a boolean"),
    ("lime.baseline=median", "lime.baseline"),
    ("evaluate.threshold=1.5", "evaluate.threshold"),
])
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(SvdError, match=message) as info:
        load_config("quick", parse_overrides([override]))
    assert "\n" not in str(info.value)


def test_unknown_key_in_profile_file(tmp_path):
    path = tmp_path / "mine.yml"
    path.write_text("train:\n  epochz: 3\n")
    with pytest.raises(SvdError, match="train.epochz"):
        load_config(str(path))


def test_env_and_flag_paths(monkeypatch):
    monkeypatch.setenv("SVD_RESULTS", "from-env")
    assert load_config("quick").paths.results == "from-env"
    assert load_config("quick", results="from-flag").paths.results == "from-flag"


def test_section_hash_tracks_only_named_sections():
    a = load_config("quick")
    b = load_config("quick", {"train.epochs": 99})
    assert a.section_hash("model") == b.section_hash("model")
    assert a.section_hash("train") != b.section_hash("train")


def test_original_model_vars_parse_with_real_booleans(tmp_path):
    path = tmp_path / "model.vars"
    path.write_text(MODEL_VARS)
    cfg = load_config("quick")
    cfg.model.firstconv_zeromean = False
    cfg.frontend.magscale = "log1p"
    apply_vars(cfg, path)
    assert cfg.model.firstconv_zeromean is True
    assert cfg.model.batch_norm is True
    assert cfg.frontend.magscale == "log"
    assert cfg.frontend.mel_max == 8000.0
    assert cfg.train.epochsize == 2000


def test_attack_vars_booleans_are_parsed(tmp_path):
    path = tmp_path / "adv.vars"
    path.write_text("experiment=raw_test\nattack=cw\nlr=0.0003\nalpha=2.\nsign=False\n"
                    "clipping=True\nclip_eps=0.01\nreq_change_factor=1.\n")
    cfg = load_config("quick")
    apply_vars(cfg, path, attack_domain="wave")
    # the original kept 'False' as a truthy string; we parse it
    assert cfg.attack.wave.sign is False
    assert cfg.attack.wave.clipping is True
    assert read_vars(path)["alpha"] == "2."


def test_bad_vars_files(tmp_path):
    path = tmp_path / "bad.vars"
    path.write_text("magscale log\n")
    with pytest.raises(SvdError, match="bad.vars:1"):
        apply_vars(load_config("quick"), path)
    path.write_text("nonsense_key = 3\n")
    with pytest.raises(SvdError, match="unknown key 'nonsense_key'"):
        apply_vars(load_config("quick"), path)
