import pytest

from svdlib.errors import SvdError
from svdlib.experiments.config.checks import DISTANCE_METRICS, FEATURE_SELECTIONS
from svdlib.experiments.config.loading import PROFILES_DIR, config_from_dict, load_config, validate
from svdlib.experiments.config.overrides import parse_overrides
from svdlib.experiments.config.vars import apply_vars, read_vars

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
    ("train.epochs=abc", "'train.epochs' must be an integer in 1..1000000 .*, got 'abc'"),
    ("attack.wave.sign=maybe", "'attack.wave.sign' must be a boolean"),
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


def test_env_and_flag_paths(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SVD_RESULTS", "from-env")
    assert load_config("quick").paths.results == str(tmp_path / "from-env")
    assert load_config("quick", results="from-flag").paths.results == str(tmp_path / "from-flag")
    assert load_config("quick", results="/abs/flag").paths.results == "/abs/flag"


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


# -- every setting is range-checked when the configuration loads ---------------------------------
BAD_SETTINGS = [
    ("seed", -1),
    ("frontend.sample_rate", 0),
    ("frontend.frame_len", 1),
    ("frontend.fps", 0),
    ("frontend.fps", 10),  # hop 2205 > frame_len: samples between frames never seen
    ("frontend.fps", 30000),  # hop 0
    ("frontend.filterbank", "bark"),
    ("frontend.mel_bands", 24),
    ("frontend.mel_min", -1.0),
    ("frontend.mel_max", 20.0),  # below mel_min
    ("frontend.mel_max", 12000.0),  # above Nyquist
    ("frontend.magscale", "db"),
    ("model.arch", "resnet"),
    ("model.width", 0),
    ("model.blocklen", 100),
    ("model.convdrop", "channels"),
    ("train.learn_scheme", "sgd"),
    ("train.batchsize", 0),
    ("train.initial_eta", 0),
    ("train.eta_decay", 0),
    ("train.eta_decay", 1.5),
    ("train.eta_decay_every", 0),
    ("train.momentum", 1.0),
    ("train.momentum", -0.1),
    ("train.epochs", 0),
    ("train.epochsize", 0),
    ("train.l2_decay", -1e-4),
    ("train.max_stretch", 1.0),
    ("train.max_shift", -0.1),
    ("train.max_db", -1),
    ("train.spline_order", 6),
    ("train.label_low", -0.1),
    ("train.label_high", 0.01),  # not above label_low
    ("train.label_high", 1.5),
    ("train.seeds", []),
    ("train.seeds", [-1]),
    ("train.seeds", [1, 1]),
    ("evaluate.smooth_width", 0),
    ("evaluate.smooth_method", "max"),
    ("evaluate.threshold", 0.0),
    ("attack.subset", "all"),
    ("attack.wave.lr", 0),
    ("attack.wave.alpha", 0),
    ("attack.wave.clip_eps", -1),
    ("attack.wave.clip_eps", 0),
    ("attack.wave.max_iterations", -1),
    ("attack.wave.req_change_factor", 0),
    ("attack.wave.req_change_factor", 1.5),
    ("attack.spec.lr", float("nan")),
    ("attack.spec.alpha", -15),
    ("attack.spec.clip_eps", float("inf")),
    ("attack.spec.max_iterations", -5),
    ("attack.spec.req_change_factor", -1),
    ("lime.n_time_segments", 0),
    ("lime.n_time_segments", 116),
    ("lime.n_freq_segments", 0),
    ("lime.n_freq_segments", 81),
    ("lime.baseline", "median"),
    ("lime.num_samples", 1),
    ("lime.kernel_width", 0),
    ("lime.distance_metric", "nope"),
    ("lime.distance_metric", "correlation"),  # NaN against the all-ones row
    ("lime.feature_selection", "best"),
    ("lime.batch_size", 0),
    ("lime.pick_per_file", 0),
    ("lime.pick_max_draws", 0),
    ("lime.pick_max_draws", 2),  # fewer draws than lime.pick_per_file (3 in tiny)
    ("lime.pick_seed", -1),
    ("experiment.subset_ks", []),
    ("experiment.subset_ks", [0]),
    ("experiment.subset_ks", [1, 21]),  # 5 x 4 = 20 segments
    ("experiment.subset_ks", [3, 3]),
    ("experiment.table1_k", 0),
    ("experiment.table1_k", 21),
    ("experiment.bootstrap", 0),
    ("experiment.bootstrap", 10),
    ("experiment.horses_per_shape", 0),
    ("experiment.horse_probability", 0.4),  # not above evaluate.threshold (0.5 in tiny)
    ("experiment.horse_probability", 1.0),
    ("benchmark.explainers", ["lime", "shapley"]),
    ("benchmark.explainers", []),
    ("benchmark.explainers", ["lime", "lime"]),
    ("benchmark.kernelshap_samples", -1),
    ("benchmark.ig_steps", 0),
    ("benchmark.max_k", 0),
    ("benchmark.max_k", 5),
    ("corpus.seed", -1),
    ("corpus.n_train", 0),
    ("corpus.n_valid", 0),
    ("corpus.n_test", 0),
    ("corpus.bars", 2),
    ("corpus.bars", 5),
    ("run.device", "gpu"),
    ("run.device", "cuda:x"),
    ("run.num_threads", -1),
    ("run.workers", -2),
]


@pytest.mark.parametrize("key,value", BAD_SETTINGS)
def test_bad_setting_fails_at_load_naming_the_key(key, value):
    with pytest.raises(SvdError) as info:
        load_config("tiny", {key: value})
    message = str(info.value)
    assert f"configuration key '{key}' must be " in message
    assert ", got '" in message
    assert "\n" not in message


@pytest.mark.parametrize("key,value", [
    ("attack.wave.max_iterations", 0),  # the clean song is recorded, nothing is optimised
    ("train.learn_scheme", "momentum"), ("train.momentum", 0.0), ("train.max_db", 0.0),
    ("train.max_stretch", 0.0), ("train.spline_order", 0), ("evaluate.smooth_width", 1),
    ("lime.n_time_segments", 115), ("lime.n_freq_segments", 80),
    ("lime.distance_metric", "euclidean"), ("lime.feature_selection", "none"),
    ("experiment.subset_ks", [1, 20]), ("experiment.table1_k", 20), ("run.device", "cuda:1"),
    ("frontend.mel_max", 11025.0), ("corpus.bars", 4),
])
def test_edge_values_are_accepted(key, value):
    load_config("tiny", {key: value})


def test_nesterov_needs_momentum():
    load_config("tiny", {"train.learn_scheme": "nesterov"})
    with pytest.raises(SvdError, match="'train.momentum'.*nesterov"):
        load_config("tiny", {"train.learn_scheme": "nesterov", "train.momentum": 0.0})


def test_bad_settings_fail_in_config_from_dict_and_apply_vars(tmp_path):
    mapping = load_config("tiny").to_dict()
    mapping["lime"]["n_freq_segments"] = 0
    with pytest.raises(SvdError, match="lime.n_freq_segments"):
        config_from_dict(mapping)
    path = tmp_path / "adv.vars"
    path.write_text("clip_eps=-0.5\n")
    with pytest.raises(SvdError, match="'attack.spec.clip_eps' must be a positive number, "
                                       "got '-0.5'"):
        apply_vars(load_config("tiny"), path, attack_domain="spec")


@pytest.mark.parametrize("path", sorted(PROFILES_DIR.glob("*.yml")), ids=lambda p: p.stem)
def test_every_shipped_profile_validates(path):
    cfg = load_config(path.stem)
    validate(cfg)
    assert config_from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()


def test_shipped_profiles_include_the_three():
    assert {"quick", "paper", "tiny"} <= {p.stem for p in PROFILES_DIR.glob("*.yml")}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning")
def test_choices_match_what_explain_accepts():
    import numpy as np

    from svdlib.explain.sampling import FEATURE_SELECTION, neighborhood_distances

    assert FEATURE_SELECTIONS == FEATURE_SELECTION
    masks = np.random.default_rng(0).integers(0, 2, size=(64, 20)).astype(np.uint8)
    masks[0] = 1
    for metric in DISTANCE_METRICS:
        distances = neighborhood_distances(masks, metric)
        assert np.isfinite(distances).all() and np.ptp(distances) > 0, metric


@pytest.mark.parametrize("text,line,column,problem", [
    ("train:\n  epochs: 3\n  bad: key: value\n", 3, 11, "mapping values are not allowed here"),
    ("lime: [1, 2\n", 2, 1, "expected ',' or ']'"),
    ("seed: 0\nlime: \x01\n", 2, 7, "unacceptable character #x0001"),
])
def test_broken_yaml_reports_line_and_column(tmp_path, text, line, column, problem):
    path = tmp_path / "my.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SvdError) as info:
        load_config(str(path))
    message = str(info.value)
    assert message.startswith(f"profile '{path}' is not valid YAML at line {line}, "
                              f"column {column}: ")
    assert problem in message and message.endswith("; fix the file")
    assert "\n" not in message


@pytest.mark.parametrize("command,setting", [
    ("attack", "attack.wave.clip_eps=-1"),
    ("attack", "lime.n_time_segments=0"),
    ("explain", "lime.n_time_segments=0"),
])
def test_cli_rejects_bad_setting_before_any_artifact(tmp_path, capsys, command, setting):
    from svdlib.cli import main

    results, data = tmp_path / "results", tmp_path / "data"
    code = main([command, "--profile", "tiny", "--set", setting, "--results", str(results),
                 "--data", str(data), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    key = setting.split("=")[0]
    assert lines[0].startswith(f"svd: error: configuration key '{key}' must be ")
    assert list(tmp_path.iterdir()) == []
