"""The `svd` command end to end on a toy corpus, and every user error: one line, exit code 2,
nothing half-written."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import tomllib
import yaml
from conftest import run_cli, write_toy_corpus

from svdlib.digests import is_sidecar

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--set", "train.epochs=1", "--set", "train.epochsize=5", "--set", "train.batchsize=8",
        "--quiet"]


run = run_cli


@pytest.fixture
def corpus(tmp_path):
    return write_toy_corpus(tmp_path / "jamendo", 2, 1, 1, seconds=4.0)


def test_stages_end_to_end_on_an_external_corpus(capsys, tmp_path, corpus):
    common = ["--profile", "tiny", "--data", str(corpus), "--results", str(tmp_path / "r"),
              *FAST]
    code, out, _ = run(capsys, "corpus", *common)
    assert code == 0 and "external corpus" in out and "2 train, 1 valid, 1 test" in out
    assert run(capsys, "train", "--save-errors", *common)[0] == 0
    models = list((tmp_path / "r" / "models").glob("*/model.safetensors"))
    assert len(models) == 1
    assert (models[0].parent / "model_train_loss.err.npz").is_file()
    assert run(capsys, "predict", *common)[0] == 0
    code, out, _ = run(capsys, "eval", "--auroc", *common)
    assert code == 0 and "auroc" in out and "err" in out
    # a second run skips the finished stage (the model file is not rewritten)
    stamp = models[0].stat().st_mtime_ns
    assert run(capsys, "train", *common)[0] == 0
    assert models[0].stat().st_mtime_ns == stamp


def _one_line_error(code, err, *needles):
    assert code == 2
    assert err.startswith("svd: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def _no_half_written_files(root: Path) -> None:
    if root.exists():
        leftovers = [p for p in root.rglob("*")
                     if p.name.startswith(".") and p.is_file() and not is_sidecar(p)]
        assert not leftovers, leftovers
        assert not list(root.rglob("model.safetensors"))


@pytest.mark.parametrize("breakage,needles", [
    ("missing_audio", ["names '03 - Chanson d'été 3.flac'", "not in"]),
    ("empty_audio", ["empty", "03 - Chanson d'été 3.flac"]),
    ("corrupt_audio", ["cannot decode", "03 - Chanson d'été 3.flac"]),
    ("overlapping_lab", ["overlaps", ".lab:2"]),
    ("malformed_lab", ["expected 'start end sing|nosing'", ".lab:1"]),
    ("missing_lab", ["label file", "does not exist"]),
    ("no_labels_folder", ["no 'labels/' subfolder"]),
])
def test_bad_data_is_one_line_and_leaves_nothing(capsys, tmp_path, corpus, breakage, needles):
    name = "03 - Chanson d'été 3"
    audio, lab = corpus / "audio" / f"{name}.flac", corpus / "labels" / f"{name}.lab"
    if breakage == "missing_audio":
        audio.unlink()
    elif breakage == "empty_audio":
        audio.write_bytes(b"")
    elif breakage == "corrupt_audio":
        audio.write_bytes(b"fLaC" + bytes(range(256)) * 4)
    elif breakage == "overlapping_lab":
        lab.write_text("0 2 sing\n1 3 nosing\n")
    elif breakage == "malformed_lab":
        lab.write_text("0 2\n")
    elif breakage == "missing_lab":
        lab.unlink()
    elif breakage == "no_labels_folder":
        shutil.rmtree(corpus / "labels")
    results = tmp_path / "r"
    # song 3 is the validation song, which training reads too
    code, _, err = run(capsys, "train", "--profile", "tiny", "--data", str(corpus),
                       "--results", str(results), *FAST)
    _one_line_error(code, err, *needles)
    _no_half_written_files(results)


def test_bad_configuration(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--set", "train.epocs=3")
    _one_line_error(code, err, "unknown configuration key 'train.epocs'")
    code, _, err = run(capsys, "train", "--profile", "nonexistent")
    _one_line_error(code, err, "unknown profile 'nonexistent'")
    profile = tmp_path / "p.yml"
    profile.write_text("lime:\n  kernel_widht: 0.3\n")
    code, _, err = run(capsys, "corpus", "--profile", str(profile))
    _one_line_error(code, err, "lime.kernel_widht")


def test_bad_model_files(capsys, tmp_path, corpus):
    common = ["--profile", "tiny", "--data", str(corpus), "--results", str(tmp_path / "r"),
              *FAST]
    code, _, err = run(capsys, "predict", *common)
    assert code == 2  # no model yet: it says so
    assert "run `svd train`" in err or "does not exist" in err
    assert run(capsys, "train", *common)[0] == 0
    model = next((tmp_path / "r" / "models").glob("*/model.safetensors"))
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 3])        # truncated
    code, _, err = run(capsys, "predict", *common)
    _one_line_error(code, err, "truncated", str(model))
    assert not list(model.parent.glob("predictions-*.npz"))
    # a model of another architecture (a wider network saved under this name)
    from svdlib.audio.settings import FrontEndConfig
    from svdlib.detector.checkpoint import save_model
    from svdlib.detector.model import build_model
    from svdlib.detector.settings import ModelConfig

    save_model(model, build_model(ModelConfig(width=0.5), FrontEndConfig()))
    code, _, err = run(capsys, "predict", *common)
    _one_line_error(code, err, "another architecture", "width")


def test_stereo_44k_audio_of_any_format_trains(capsys, tmp_path, corpus):
    # replace one song by a stereo 44.1 kHz ogg with the same stem and list it
    name = "01 - Chanson d'été 1"
    signal, _ = sf.read(corpus / "audio" / f"{name}.flac")
    from scipy.signal import resample_poly

    stereo = np.stack([resample_poly(signal, 2, 1)] * 2, axis=1)
    (corpus / "audio" / f"{name}.flac").unlink()
    sf.write(corpus / "audio" / f"{name}.ogg", stereo, 44100)
    listed = (corpus / "filelists" / "train").read_text().replace(f"{name}.flac", f"{name}.ogg")
    (corpus / "filelists" / "train").write_text(listed)
    code, _, err = run(capsys, "train", "--profile", "tiny", "--data", str(corpus),
                       "--results", str(tmp_path / "r"), *FAST)
    assert code == 0, err


def test_console_script_and_help():
    result = subprocess.run([sys.executable, "-m", "svdlib.cli", "--help"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0
    for command in ("corpus", "train", "predict", "eval", "attack", "pick", "explain",
                    "horses", "experiment", "book", "run"):
        assert command in result.stdout


def test_environment_yml_pins_every_declared_dependency_within_its_range():
    """pyproject.toml declares ranges; environment.yml pins each exactly, inside its range."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "pins.py")],
                            capture_output=True, text=True, check=True)
    pins = dict(line.split("==") for line in result.stdout.split())
    pins = {canonicalize_name(name): version for name, version in pins.items()}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert len(pins) == sum(not s.startswith("-e") for s in pip)   # every line is a pin
    for spec in declared:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is declared in pyproject.toml but not pinned"
        assert requirement.specifier.contains(pins[name], prereleases=True), (spec, pins[name])


@pytest.mark.parametrize("breakage,needles", [
    ("unknown_label", [".lab:2: unknown label 'speech'; use sing or nosing"]),
    ("label_past_end", [".lab:2: label ends at 5.5 s", "lasts 4.01 s (tolerance 1 s)"]),
    ("truncated_wav", ["03 - Chanson d'été 3.wav' is truncated: header promises 88200 samples",
                       "re-export or replace it"]),
])
def test_bad_labels_and_truncated_audio_are_one_line(capsys, tmp_path, corpus, breakage, needles):
    name = "03 - Chanson d'été 3"  # the validation song, which training reads
    lab = corpus / "labels" / f"{name}.lab"
    if breakage == "unknown_label":
        lab.write_text("0 2 nosing\n2 4 speech\n")
    elif breakage == "label_past_end":
        lab.write_text("0 2 nosing\n2 5.5 sing\n")
    elif breakage == "truncated_wav":
        signal, rate = sf.read(corpus / "audio" / f"{name}.flac")
        (corpus / "audio" / f"{name}.flac").unlink()
        wav = corpus / "audio" / f"{name}.wav"
        sf.write(wav, signal, rate)
        wav.write_bytes(wav.read_bytes()[:len(wav.read_bytes()) // 2])
        (corpus / "filelists" / "valid").write_text(f"{name}.wav\n")
    results = tmp_path / "r"
    code, _, err = run(capsys, "train", "--profile", "tiny", "--data", str(corpus),
                       "--results", str(results), *FAST)
    _one_line_error(code, err, *needles)
    _no_half_written_files(results)


@pytest.mark.parametrize("ext", ["wav", "ogg"])
def test_random_bytes_as_audio_give_one_stderr_line_from_a_fresh_process(tmp_path, corpus, ext):
    # a subprocess, so that what C libraries write to file descriptor 2 is seen too
    name = "01 - Chanson d'été 1"
    (corpus / "audio" / f"{name}.flac").unlink()
    (corpus / "audio" / f"{name}.{ext}").write_bytes(np.random.default_rng(1).bytes(100_000))
    listed = (corpus / "filelists" / "train").read_text().replace(f"{name}.flac", f"{name}.{ext}")
    (corpus / "filelists" / "train").write_text(listed)
    results = tmp_path / "r"
    result = subprocess.run([sys.executable, "-m", "svdlib.cli", "train", "--profile", "tiny",
                             "--data", str(corpus), "--results", str(results), "--quiet"],
                            capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("svd: error: cannot decode audio file ")
    assert f"{name}.{ext}': not a recognised audio format (format not recognised by " \
           "libsndfile)" in result.stderr
    _no_half_written_files(results)


_WITHOUT_CORPUS_EXTRA = ("import sys\n"
                         "for name in ('pysinsy', 'pretty_midi', 'tinysoundfont'):\n"
                         "    sys.modules[name] = None   # as if not installed\n"
                         "from svdlib.cli import main\n"
                         "sys.exit(main(sys.argv[1:]))\n")


def test_own_data_needs_no_corpus_extra_and_the_embedded_corpus_says_what_is_missing(
        tmp_path, corpus):
    common = ["--profile", "tiny", "--results", str(tmp_path / "r"), *FAST]
    own = subprocess.run([sys.executable, "-c", _WITHOUT_CORPUS_EXTRA, "train", "--data",
                          str(corpus), *common], capture_output=True, text=True, check=False)
    assert own.returncode == 0, own.stderr
    assert list((tmp_path / "r" / "models").glob("*/model.safetensors"))
    embedded = subprocess.run([sys.executable, "-c", _WITHOUT_CORPUS_EXTRA, "corpus",
                               "--profile", "tiny", "--results", str(tmp_path / "e"), "--quiet"],
                              capture_output=True, text=True, check=False)
    assert embedded.returncode == 2
    assert embedded.stderr.count("\n") == 1
    assert "needs the corpus extra (missing: pysinsy, pretty_midi, tinysoundfont)" in \
        embedded.stderr
    assert "pip install 'svdlib[corpus]'" in embedded.stderr
    assert not list((tmp_path / "e").rglob("*.flac"))
