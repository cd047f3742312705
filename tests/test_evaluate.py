import numpy as np
import pytest
import torch

from svdlib.audio.settings import FrontEndConfig
from svdlib.detector.inference import load_predictions, predict_song, save_predictions, smooth
from svdlib.detector.metrics import (
    THRESHOLDS,
    best_threshold,
    confusion,
    evaluate_predictions,
    format_summary,
    metrics_from_counts,
    summarize_runs,
)
from svdlib.detector.model import build_model
from svdlib.detector.settings import ModelConfig


def test_threshold_grid():
    assert len(THRESHOLDS) == 105
    assert THRESHOLDS[0] == 1e-5 and THRESHOLDS[3] == 0.01 and THRESHOLDS[-1] == 1 - 1e-5
    assert np.all(np.diff(THRESHOLDS) > 0)


def test_median_smoothing_is_the_original_upper_median_window():
    rng = np.random.default_rng(1)
    p = rng.random(300).astype(np.float32)
    ours = smooth(p, 56, "median")
    padded = np.concatenate([np.full(28, p[0]), p, np.full(27, p[-1])])
    expected = np.array([np.sort(padded[i:i + 56])[28] for i in range(len(p))])
    assert np.allclose(ours, expected)
    assert np.array_equal(smooth(p[:1], 56), p[:1])
    assert np.array_equal(smooth(p, 56, "none"), p)


def test_metrics_by_hand():
    preds = {"a": np.array([0.9, 0.8, 0.2, 0.1]), "b": np.array([0.6, 0.4])}
    truth = {"a": np.array([1, 0, 1, 0], bool), "b": np.array([1, 1], bool)}
    m = metrics_from_counts(confusion(preds, truth, np.array([0.5])), 0)
    # positives predicted: 0.9(T), 0.8(F), 0.6(T) -> TP 2, FP 1; FN: 0.2, 0.4 -> 2; TN: 0.1 -> 1
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["specificity"] == pytest.approx(1 / 2)
    assert m["error"] == pytest.approx(3 / 6)
    assert m["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_threshold_chosen_on_validation_applies_to_test():
    valid = {"v": np.array([0.1, 0.123, 0.7, 0.8])}
    test = {"t": np.array([0.3, 0.75, 0.8, 0.1])}
    truth = {"v": np.array([0, 0, 1, 1], bool), "t": np.array([0, 1, 1, 0], bool)}
    threshold = best_threshold(valid, truth)
    assert threshold == pytest.approx(0.13)         # first grid value with 100 % accuracy
    result = evaluate_predictions(valid, test, truth, smooth_width=1)
    assert result["threshold"] == pytest.approx(0.13)
    assert result["error"] == pytest.approx(0.25)     # 0.3 > 0.13 is a false positive
    assert result["auroc"] == pytest.approx(1.0)


def test_summary_over_runs():
    runs = [{"error": 0.10, "recall": 0.9}, {"error": 0.12, "recall": 0.8}]
    summary = summarize_runs(runs)
    assert summary["error"] == pytest.approx((0.11, 0.01))
    assert "error 11.00 ± 1.00 %" in format_summary(summary, 2)


def test_predictions_roundtrip(tmp_path):
    preds = {"01 - Été.ogg": np.arange(5, dtype=np.float32), "b c.mp3": np.ones(3, np.float32)}
    save_predictions(tmp_path / "p.npz", preds)
    again = load_predictions(tmp_path / "p.npz")
    assert list(again) == list(preds)
    assert all(np.array_equal(again[k], preds[k]) for k in preds)


def test_whole_song_prediction_equals_padded_excerpts_and_is_chunk_exact():
    torch.manual_seed(0)
    net = build_model(ModelConfig(width=0.25), FrontEndConfig()).eval()
    spec = np.random.default_rng(0).random((200, 513)).astype(np.float32)
    full = predict_song(net, spec)
    chunked = predict_song(net, spec, chunk=37)
    assert full.shape == (200,)
    assert np.allclose(full, chunked, atol=1e-6)
    padded = np.pad(spec, ((57, 57), (0, 0)))
    frame = 10
    with torch.no_grad():
        single = torch.sigmoid(net(torch.from_numpy(padded[frame:frame + 115][None])))
    assert full[frame] == pytest.approx(float(single), abs=1e-5)
