import numpy as np
import pytest
import soundfile as sf

from svdlib.audio.settings import FrontEndConfig
from svdlib.data.jamendo import frame_targets, open_layout, read_filelist, read_lab
from svdlib.data.songs import ExcerptSampler, load_song, load_split
from svdlib.digests import is_sidecar
from svdlib.errors import SvdError

FE = FrontEndConfig()
NAMES = ["01 - Les Jardins Japonais.ogg", "02 - Sakura Mōri.mp3", "03 - Chanson d'été.wav"]


def make_jamendo(root, filelist_dir="filelists", sr=44100):
    (root / "audio").mkdir(parents=True)
    (root / filelist_dir).mkdir()
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for name in NAMES:
        sf.write(root / "audio" / name, 0.1 * rng.standard_normal((sr * 3, 2)), sr)
        stem = name.rsplit(".", 1)[0]
        (root / "labels" / f"{stem}.lab").write_text("0 1.0 nosing\n1.0 2.5 sing\n2.5 3.0 nosing\n",
                                                     encoding="utf-8")
    for split, names in (("train", NAMES[:1]), ("valid", NAMES[1:2]), ("test", NAMES[2:])):
        (root / filelist_dir / split).write_text("\n".join(names) + "\n", encoding="utf-8")
    return root


def test_reads_a_jamendo_copy_with_awkward_names(tmp_path):
    layout = open_layout(make_jamendo(tmp_path / "jamendo"))
    assert read_filelist(layout, "valid") == [NAMES[1]]
    songs = load_split(layout, "test", FE, cache_dir=tmp_path / "cache")
    song = songs[0]
    assert song.name == NAMES[2]
    assert song.spec.shape == (1 + 3 * 22050 // 315, 513)
    assert song.targets[:70].sum() == 0
    assert song.targets[70:175].all()
    assert not song.targets[175:].any()
    assert len([p for p in (tmp_path / "cache").iterdir() if not is_sidecar(p)]) == 1
    cached = load_song(layout, NAMES[2], FE, cache_dir=tmp_path / "cache")
    assert np.array_equal(np.asarray(cached.spec), song.spec)


def test_accepts_the_original_readme_spelling_filelist(tmp_path):
    layout = open_layout(make_jamendo(tmp_path / "j", filelist_dir="filelist"))
    assert layout.filelists.name == "filelist"
    assert read_filelist(layout, "train") == [NAMES[0]]


def test_frame_targets_follow_the_original_alignment():
    # frames at i/70 s; [start, end) by left searchsorted; later segments overwrite
    segments = [(0.0, 1.0, False), (0.5, 1.0, True), (1.0, 1.5, False)]
    targets = frame_targets(segments, 140, 70)
    assert not targets[:35].any() and targets[35:70].all() and not targets[70:].any()
    assert frame_targets([(0.01, 0.02, True)], 10, 70).sum() == 1   # frame 1 at 0.0143 s


@pytest.mark.parametrize("text,message", [
    ("0 1 sing\n0.5 2 nosing\n", "overlaps"),
    ("0 1\n", "expected 'start end sing|nosing'"),
    ("0 one sing\n", "must be numbers"),
    ("2 1 sing\n", "need 0 <= start <= end"),
])
def test_bad_lab_files(tmp_path, text, message):
    path = tmp_path / "x.lab"
    path.write_text(text)
    with pytest.raises(SvdError, match=message) as info:
        read_lab(path)
    assert str(path) in str(info.value)


def test_lab_labels_are_sing_or_nosing(tmp_path):
    path = tmp_path / "x.lab"
    path.write_text("0 1 nosing\n1 2 sing\n2 3 nosing\n")
    assert [s[2] for s in read_lab(path)] == [False, True, False]


@pytest.mark.parametrize("label", ["speech", "Sing", "no_sing", "singing"])
def test_unknown_lab_label_is_an_error_naming_file_and_line(tmp_path, label):
    path = tmp_path / "x.lab"
    path.write_text(f"0 1 nosing\n1 2 sing\n2 3 {label}\n")
    with pytest.raises(SvdError) as info:
        read_lab(path)
    assert str(info.value) == f"{path}:3: unknown label '{label}'; use sing or nosing"


def test_layout_and_filelist_errors(tmp_path):
    with pytest.raises(SvdError, match="does not exist"):
        open_layout(tmp_path / "nowhere")
    root = make_jamendo(tmp_path / "j")
    (root / "labels").rename(root / "labelz")
    with pytest.raises(SvdError, match="no 'labels/'"):
        open_layout(root)
    (root / "labelz").rename(root / "labels")
    (root / "filelists" / "test").write_text("04 - Missing Song.ogg\n")
    with pytest.raises(SvdError, match="names '04 - Missing Song.ogg'"):
        read_filelist(open_layout(root), "test")
    (root / "filelists" / "test").write_text("\n\n")
    with pytest.raises(SvdError, match="is empty"):
        read_filelist(open_layout(root), "test")


def test_missing_label_file(tmp_path):
    root = make_jamendo(tmp_path / "j")
    (root / "labels" / "01 - Les Jardins Japonais.lab").unlink()
    with pytest.raises(SvdError, match="label file .* does not exist"):
        load_split(open_layout(root), "train", FE)


def test_excerpt_sampler_covers_all_positions_once_per_pass():
    from svdlib.data.songs import Song

    songs = [Song("a", None, np.arange(130 * 2, dtype=np.float32).reshape(130, 2),
                  np.arange(130) % 2 == 0),
             Song("b", None, np.zeros((120, 2), np.float32), np.ones(120, bool))]
    sampler = ExcerptSampler(songs, 115, np.random.default_rng(0))
    total = (130 - 115 + 1) + (120 - 115 + 1)
    specs, labels = sampler.batch(total)
    starts = sorted(int(s[0, 0]) // 2 for s, lab in zip(specs, labels, strict=True) if s[0, 0] > 0)
    assert specs.shape == (total, 115, 2)
    assert starts == list(range(1, 130 - 115 + 1))    # every start of song a (start 0 is 0.0)
    a_rows = specs[:, 0, 0] > 0
    assert np.array_equal(labels[a_rows], ((specs[a_rows, 0, 0] // 2 + 57) % 2 == 0))
    assert labels[specs[:, 57, 0] == 0].sum() >= (120 - 115 + 1)


def _song_with_labels(root, lab_text, seconds=3.0, sr=22050):
    """A one-song corpus: ``seconds`` of noise and the given ``.lab`` text."""
    for folder in ("audio", "filelists", "labels"):
        (root / folder).mkdir(parents=True)
    rng = np.random.default_rng(1)
    sf.write(root / "audio" / "song.wav", 0.1 * rng.standard_normal(int(sr * seconds)), sr)
    (root / "labels" / "song.lab").write_text(lab_text, encoding="utf-8")
    (root / "filelists" / "train").write_text("song.wav\n", encoding="utf-8")
    return open_layout(root)


def test_labels_past_the_end_of_the_audio_are_an_error_with_and_without_cache(tmp_path):
    # 3 s of audio (211 frames at 70 fps: 3.01 s); the label runs to 4.5 s, over 1 s too far
    layout = _song_with_labels(tmp_path / "j", "0 1 nosing\n1 4.5 sing\n")
    cache = tmp_path / "cache"
    expected = (f"{layout.labels / 'song.lab'}:2: label ends at 4.5 s, but the audio 'song.wav' "
                "lasts 3.01 s (tolerance 1 s); fix the label times or replace the audio")
    with pytest.raises(SvdError) as first:
        load_song(layout, "song.wav", FE, cache_dir=cache)
    assert str(first.value) == expected
    assert len([p for p in cache.iterdir() if not is_sidecar(p)]) == 1  # cached: read next
    with pytest.raises(SvdError) as second:
        load_song(layout, "song.wav", FE, cache_dir=cache)
    assert str(second.value) == expected


def test_labels_may_run_past_the_end_within_the_tolerance(tmp_path):
    layout = _song_with_labels(tmp_path / "j", "0 1 nosing\n1 3.9 sing\n")
    for _ in range(2):  # computed, then from the cache
        song = load_song(layout, "song.wav", FE, cache_dir=tmp_path / "cache")
        assert song.n_frames == 211 and song.targets[70:].all()
