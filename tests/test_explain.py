"""LIME over time-frequency segments, checked on models whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svdlib.audio.settings import FrontEndConfig
from svdlib.detector.model import build_model
from svdlib.detector.predictor import DetectorPredictor, FoldedDetector, detector_predict_fn
from svdlib.detector.settings import ModelConfig
from svdlib.experiments.config.factories import lime_settings
from svdlib.experiments.config.settings import LimeConfig
from svdlib.explain.explainers import LimeExplainer
from svdlib.explain.explanation import Explanation, stack_explanations, unstack_explanations
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.lime import LimeAudioExplainer
from svdlib.explain.neighbourhood import predict_neighborhood
from svdlib.explain.sampling import default_kernel, neighborhood_distances, sample_masks
from svdlib.explain.segments import Segmentation
from svdlib.files import load_arrays, save_arrays

SEG = Segmentation()


@pytest.fixture
def excerpt() -> np.ndarray:
    return np.random.default_rng(0).normal(-2.0, 1.0, (115, 80)).astype(np.float32)


def segment_means(batch: torch.Tensor) -> torch.Tensor:
    """``(B, 115, 80)`` → ``(B, 20)``: the mean of every segment."""
    return torch.stack([batch[(slice(None), *SEG.component_slices(c))].mean(dim=(1, 2))
                        for c in range(SEG.n_components)], dim=1)


def explain(model, excerpt, labels=(0, 1), top_labels=None, **settings) -> Explanation:
    """LIME's whole explanation of one excerpt, through its one entry point."""
    return LimeExplainer(model, **settings).explanation(excerpt, labels, top_labels)


def one_segment_model(c: int):
    rows, cols = SEG.component_slices(c)

    def predict(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(4.0 * (batch[:, rows, cols].mean(dim=(1, 2)) + 2.0))

    return predict


def test_kernel_and_distances():
    # spec A.4: for n = 20, k ones → d = 1 − sqrt(k/20), weights 1.0, .866, .503, .135, .008
    n = 20
    data = np.zeros((6, n), dtype=np.uint8)
    for row, k in enumerate((20, 15, 10, 5, 1, 0)):
        data[row, :k] = 1
    d = neighborhood_distances(data)
    np.testing.assert_allclose(d[:5], 1 - np.sqrt([1, 0.75, 0.5, 0.25, 0.05]), atol=1e-12)
    assert d[5] == 1.0
    w = default_kernel(d, 0.25)
    np.testing.assert_allclose(w, [1.0, 0.866, 0.503, 0.135, 0.008, 3.4e-4], rtol=0.02,
                               atol=1e-3)


def test_masks_are_fair_coins_with_row_zero_ones():
    masks = sample_masks(20, 4096, 0)
    assert masks.shape == (4096, 20)
    assert masks.dtype == np.uint8
    assert (masks[0] == 1).all()
    assert abs(masks[1:].mean() - 0.5) < 0.01
    assert set(np.unique(masks)) == {0, 1}
    np.testing.assert_array_equal(masks, sample_masks(20, 4096, 0))
    assert not np.array_equal(masks, sample_masks(20, 4096, 1))


def test_audiolime_compatible_masks():
    seed, n, count = 1234, 20, 300
    rs = np.random.RandomState(seed)
    rs.randint(0, 1000)
    expected = rs.randint(0, 2, count * n).reshape(count, n)
    expected[0, :] = 1
    np.testing.assert_array_equal(sample_masks(n, count, seed, sampler="audiolime"), expected)
    rs = np.random.RandomState(seed)
    expected = rs.randint(0, 2, count * n).reshape(count, n)
    expected[0, :] = 1
    np.testing.assert_array_equal(sample_masks(n, count, seed, sampler="randomstate"), expected)
    # the explainer keeps consuming one RandomState, as audioLIME's does
    explainer = LimeAudioExplainer(random_state=seed, sampler="audiolime")
    fact = TimeFrequencyFactorization(np.zeros((115, 80), np.float32))
    first, _ = explainer.data_labels(fact, lambda b: b.mean(dim=(1, 2)), count)
    second, _ = explainer.data_labels(fact, lambda b: b.mean(dim=(1, 2)), count)
    np.testing.assert_array_equal(first, sample_masks(n, count, seed, sampler="audiolime"))
    assert not np.array_equal(first, second)


def test_exhaustive_masks():
    masks = sample_masks(4, "exhaustive")
    assert masks.shape == (16, 4)
    assert (masks[0] == 1).all()
    assert (masks[-1] == 0).all()
    assert len({tuple(r) for r in masks}) == 16
    with pytest.raises(ValueError, match="num_samples"):
        sample_masks(4, 0)
    with pytest.raises(ValueError, match="sampler"):
        sample_masks(4, 10, sampler="global")


def test_one_segment_model_gets_that_segment_with_fidelity_one(excerpt):
    c = 6
    rows, cols = SEG.component_slices(c)
    excerpt[rows, cols] += 2.0  # switching the segment on raises P(sing)
    exp = explain(one_segment_model(c), excerpt, num_samples=2048, seed=0)
    assert exp.local_exp[1][0][0] == c
    weights = exp.weights(1)
    assert weights[c] > 0.3
    assert np.abs(np.delete(weights, c)).max() < 1e-3
    assert exp.score[1] > 0.99
    # label 0's target is 1 − p: its surrogate is the negation of label 1's
    np.testing.assert_allclose(exp.weights(0), -weights, atol=1e-9)
    assert exp.local_exp[0][-1][0] == c
    assert exp.local_pred[1] == pytest.approx(exp.model_output(1), abs=1e-3)
    assert exp.metrics(1)["fidelity"] == exp.score[1]


@pytest.mark.parametrize("baseline", ["zero", "mean"])
def test_linear_model_weights_are_proportional_to_truth(excerpt, baseline):
    true_w = np.random.default_rng(3).uniform(-1, 1, SEG.n_components)
    w_t = torch.as_tensor(true_w, dtype=torch.float32)

    def predict(batch: torch.Tensor) -> torch.Tensor:
        return 0.5 + 0.02 * segment_means(batch) @ w_t.to(batch.device)

    fact = TimeFrequencyFactorization(excerpt, baseline=baseline)
    contrast = [excerpt[SEG.component_slices(c)].mean() - fact.baseline[SEG.component_slices(c)]
                .mean() for c in range(SEG.n_components)]
    expected = true_w * np.asarray(contrast)
    exp = explain(predict, excerpt, baseline=baseline, num_samples=4096, seed=1)
    assert np.corrcoef(exp.weights(1), expected)[0, 1] > 0.99
    assert exp.score[1] > 0.99


def test_seeds_and_batching(excerpt):
    predict = one_segment_model(3)
    a = explain(predict, excerpt, num_samples=512, seed=5, batch_size=64)
    b = explain(predict, excerpt, num_samples=512, seed=5, batch_size=7)
    c = explain(predict, excerpt, num_samples=512, seed=6)
    np.testing.assert_array_equal(a.neighborhood_data, b.neighborhood_data)
    np.testing.assert_allclose(a.weights(1), b.weights(1), rtol=0, atol=1e-12)
    assert a.local_exp == b.local_exp
    assert not np.array_equal(a.neighborhood_data, c.neighborhood_data)
    assert not np.allclose(a.weights(1), c.weights(1))


def test_batched_equals_per_sample_path(excerpt):
    true_w = torch.linspace(-1, 1, SEG.n_components)

    def predict(batch: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(segment_means(batch) @ true_w.to(batch.device)
                             + 0.1 * batch.std(dim=(1, 2)))

    batched = explain(predict, excerpt, num_samples=300, seed=2, batch_size=128)
    single = explain(predict, excerpt, num_samples=300, seed=2, per_sample=True)
    np.testing.assert_array_equal(batched.neighborhood_data, single.neighborhood_data)
    np.testing.assert_allclose(batched.neighborhood_labels, single.neighborhood_labels,
                               atol=1e-6)
    for label in (0, 1):
        np.testing.assert_allclose(batched.weights(label), single.weights(label), atol=1e-5)
        assert batched.score[label] == pytest.approx(single.score[label], abs=1e-5)


def test_multiclass_numpy_model_and_top_labels(excerpt):
    def predict(batch: torch.Tensor) -> np.ndarray:
        means = segment_means(batch).cpu().numpy()
        return np.stack([means[:, 0], means[:, 5], means[:, 10]], axis=1)

    exp = explain(predict, excerpt, baseline="zero", num_samples=256, seed=0,
                  labels=None, top_labels=2)
    top = np.argsort(exp.instance_output)[::-1][:2].tolist()
    assert exp.top_labels == top
    assert exp.labels == top
    for label, comp in zip((0, 1, 2), (0, 5, 10), strict=True):
        if label in exp.labels:
            assert exp.local_exp[label][-1][0] == comp  # negative means: the most negative
    with pytest.raises(ValueError, match="outside"):
        explain(predict, excerpt, num_samples=16, labels=(3,))
    with pytest.raises(ValueError, match="returned shape"):
        explain(lambda b: torch.zeros(len(b), 2, 2), excerpt, num_samples=16)


@pytest.mark.parametrize("method", ["none", "auto", "forward_selection", "highest_weights",
                                    "lasso_path"])
def test_feature_selection_modes(excerpt, method):
    true_w = torch.zeros(SEG.n_components)
    true_w[[2, 9, 15]] = torch.tensor([1.0, -2.0, 3.0])

    def predict(batch: torch.Tensor) -> torch.Tensor:
        return 0.5 + 0.05 * segment_means(batch) @ true_w.to(batch.device)

    exp = explain(predict, excerpt + 3.0, baseline="zero", num_samples=512, seed=0,
                  feature_selection=method, num_features=3)
    ids = [c for c, _ in exp.local_exp[1]]
    if method == "none":
        assert len(ids) == SEG.n_components
    else:
        assert sorted(ids) == [2, 9, 15]
    weights = [w for _, w in exp.local_exp[1]]
    assert weights == sorted(weights, reverse=True)  # signed sort, audioLIME's default


def test_feature_selection_validation_and_absolute_sort(excerpt):
    with pytest.raises(ValueError, match="feature_selection"):
        explain(one_segment_model(0), excerpt, feature_selection="greedy")
    exp = explain(one_segment_model(0), excerpt, num_samples=128,
                  absolute_feature_sort=True)
    magnitudes = [abs(w) for _, w in exp.local_exp[1]]
    assert magnitudes == sorted(magnitudes, reverse=True)


def hand_made_explanation(excerpt: np.ndarray) -> Explanation:
    fact = TimeFrequencyFactorization(excerpt, baseline="zero")
    exp = Explanation(fact, None, None, instance_output=np.array([0.3, 0.7]))
    weights = {0: 0.5, 1: 0.2, 2: 0.0, 3: -0.1, 4: -0.4, 5: 0.05}
    exp.local_exp[1] = sorted(weights.items(), key=lambda e: e[1], reverse=True)
    exp.intercept[1], exp.score[1], exp.local_pred[1] = 0.1, 0.9, 0.65
    return exp


def test_get_sorted_components_semantics(excerpt):
    exp = hand_made_explanation(excerpt)
    _, ids = exp.get_sorted_components(1, return_indices=True)
    assert ids == [0, 1, 5, 2, 3, 4]  # both signs: everything, zero included
    _, ids = exp.get_sorted_components(1, negative_components=False, return_indices=True)
    assert ids == [0, 1, 5]
    # negative only, signed sort: from the least to the most negative (audioLIME's pitfall)
    _, ids = exp.get_sorted_components(1, positive_components=False, num_components=1,
                                       return_indices=True)
    assert ids == [3]
    _, ids = exp.get_sorted_components(1, negative_components=False, num_components=2,
                                       return_indices=True)
    assert ids == [0, 1]
    _, ids = exp.get_sorted_components(1, min_abs_weight=0.2, return_indices=True)
    assert ids == [0, 1, 4]
    composed = exp.get_sorted_components(1, negative_components=False, num_components=1)
    np.testing.assert_array_equal(composed, exp.factorization.retrieve_components([0]))
    assert composed[0, 0] == excerpt[0, 0]
    assert composed[100, 70] == 0
    _, ids = exp.get_sorted_components(1, num_components=0, return_indices=True)
    assert ids == []
    with pytest.raises(KeyError):
        exp.get_sorted_components(0)
    with pytest.raises(ValueError, match="both be False"):
        exp.get_sorted_components(1, positive_components=False, negative_components=False)
    with pytest.raises(ValueError, match="removed"):
        exp.get_sorted_components(1, num_components="auto")
    with pytest.raises(ValueError, match="int"):
        exp.get_sorted_components(1, num_components=2.5)
    np.testing.assert_array_equal(exp.weights(1)[:6], [0.5, 0.2, 0.0, -0.1, -0.4, 0.05])
    assert exp.weights(1)[6:].sum() == 0


def test_arrays_round_trip(tmp_path, excerpt):
    predict = one_segment_model(4)
    exps = [explain(predict, excerpt + shift, num_samples=200, seed=shift)
            for shift in (0, 1)]
    exp = exps[0]
    save_arrays(tmp_path / "one.npz", **exp.to_arrays())
    back = Explanation.from_arrays(load_arrays(tmp_path / "one.npz"))
    assert back.local_exp == exp.local_exp
    assert back.score == exp.score
    assert back.intercept == exp.intercept
    assert back.local_pred == exp.local_pred
    assert back.settings == exp.settings
    np.testing.assert_array_equal(back.neighborhood_data, exp.neighborhood_data)
    np.testing.assert_array_equal(back.neighborhood_labels, exp.neighborhood_labels)
    np.testing.assert_array_equal(back.baseline, exp.baseline)
    assert back.segmentation == exp.segmentation
    assert back.factorization.baseline_kind == "mean"
    np.testing.assert_array_equal(back.get_sorted_components(1, num_components=3),
                                  exp.get_sorted_components(1, num_components=3))
    save_arrays(tmp_path / "many.npz", **stack_explanations(exps))
    many = unstack_explanations(load_arrays(tmp_path / "many.npz"))
    assert [e.local_exp for e in many] == [e.local_exp for e in exps]
    light = Explanation.from_arrays(exp.to_arrays(neighborhood=False))
    assert light.neighborhood_data is None
    assert light.local_exp == exp.local_exp
    assert light.model_output(1) == exp.model_output(1)


def test_lime_settings_from_config(excerpt):
    kwargs = lime_settings(LimeConfig(n_time_segments=2, n_freq_segments=2, num_samples=64))
    exp = explain(one_segment_model(0), excerpt, seed=0, **kwargs)
    assert exp.n_components == 4
    assert len(exp.neighborhood_data) == 64
    assert exp.settings["kernel_width"] == 0.25


def randomized_detector(width: float = 1.0) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_model(ModelConfig(width=width), FrontEndConfig())
    for module in net.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.3, 3)
            if module.weight is not None:
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.3, 0.3)
    return net.eval()


def test_fast_detector_equals_plain_forward():
    net = randomized_detector()
    x = torch.randn(10, 115, 80) * 2 - 3
    with torch.inference_mode():
        plain = net(x, preprocess=False)[:, 0]
        folded = FoldedDetector(net)(x)
        folded_nchw = FoldedDetector(net, channels_last=False)(x)
    assert (folded - plain).abs().max() < 1e-5
    assert (folded_nchw - plain).abs().max() < 1e-5
    for fast, micro in ((True, 5), (True, 0), (False, 8)):
        predictor = DetectorPredictor(net, device="cpu", fast=fast, micro_batch=micro)
        p = predictor(x)
        assert p.shape == (10,)
        assert (p - torch.sigmoid(plain)).abs().max() < 1e-5
    padded = DetectorPredictor(net, device="cpu", micro_batch=4)
    padded.compiled = True  # the compiled path's padding of the last chunk, without compiling
    assert (padded(x) - torch.sigmoid(plain)).abs().max() < 1e-5
    assert not net.training  # the caller's module is left alone
    with pytest.raises(ValueError, match="115"):
        FoldedDetector(net)(torch.zeros(2, 100, 80))


def test_toy_detector_explanation(toy_store):
    from svdlib.experiments.artifacts.detectors import load_trained
    from svdlib.experiments.storage.splits import load_store_split

    net = load_trained(toy_store, device="cpu")
    song = load_store_split(toy_store, "test")[0]
    frame = song.n_frames // 2
    spec = torch.as_tensor(np.array(song.spec[frame - 57:frame + 58]))[None]
    with torch.inference_mode():
        logmel = net.preprocess(spec)[0]
        plain = torch.sigmoid(net(logmel[None], preprocess=False))[0, 0].item()
    predict = detector_predict_fn(net, device="cpu")
    assert predict.device.type == "cpu"
    exp = explain(predict, logmel, num_samples=256, seed=0, progress=False)
    assert exp.model_output(1) == pytest.approx(plain, abs=1e-5)
    assert ((exp.neighborhood_labels >= 0) & (exp.neighborhood_labels <= 1)).all()
    np.testing.assert_allclose(exp.neighborhood_labels.sum(axis=1), 1.0, atol=1e-12)
    for label in (0, 1):
        assert 0.0 <= exp.score[label] <= 1.0
    outputs = predict_neighborhood(predict, exp.factorization, exp.neighborhood_data[:32],
                                   batch_size=32)
    np.testing.assert_allclose(outputs, exp.neighborhood_labels[:32], atol=1e-6)


def test_surrogate_is_the_kernel_weighted_ridge_by_formula():
    # six one-cell segments (3 × 2), zero baseline: switching segment c off sets its cell to 0.
    # The model: a linear function of the kept cells plus an interaction, so that the surrogate
    # is not exact (R² < 1) and the ridge penalty and the weighting both matter.
    seg = Segmentation(3, 2, 3, 2)
    values = np.array([1.0, 2.0, -1.0, 0.5, 1.5, -0.5])
    u = np.array([0.1, -0.1, 0.05, 0.0, 0.2, -0.05])
    excerpt = values.reshape(3, 2).astype(np.float32)

    def model_of_masks(m: np.ndarray) -> np.ndarray:
        x = m * values
        return 0.3 + x @ u + 0.05 * x[:, 0] * x[:, 1]

    def predict(batch: torch.Tensor) -> torch.Tensor:
        x = batch.reshape(len(batch), 6).double()
        return 0.3 + x @ torch.as_tensor(u) + 0.05 * x[:, 0] * x[:, 1]

    exp = explain(predict, excerpt, segmentation=seg, baseline="zero", num_samples=40, seed=3,
                  device="cpu")
    masks = exp.neighborhood_data.astype(np.float64)
    # the documented sampler: row 0 all ones, the rest Generator(seed).integers(0, 2)
    expected_masks = np.random.default_rng(3).integers(0, 2, (40, 6), dtype=np.uint8)
    expected_masks[0] = 1
    np.testing.assert_array_equal(exp.neighborhood_data, expected_masks)
    y = model_of_masks(masks)
    np.testing.assert_allclose(exp.neighborhood_labels[:, 1], y, atol=1e-12)
    # kernel: cosine distance of a row with k of n ones to the all-ones row is 1 − sqrt(k/n)
    # (1 for the empty row); weight sqrt(exp(−d² / w²)) with w = .25
    d = 1 - np.sqrt(masks.sum(1) / 6)
    pi = np.sqrt(np.exp(-d ** 2 / 0.25 ** 2))

    def ridge(alpha: float, weights: np.ndarray) -> tuple[np.ndarray, float]:
        # sklearn's Ridge with sample weights and an intercept: centre X and y on their
        # weighted means, then minimise Σ π (yc − Xc β)² + α |β|²
        x_mean, y_mean = weights @ masks / weights.sum(), weights @ y / weights.sum()
        xc, yc = masks - x_mean, y - y_mean
        beta = np.linalg.solve(xc.T @ (weights[:, None] * xc) + alpha * np.eye(6),
                               xc.T @ (weights * yc))
        return beta, y_mean - x_mean @ beta

    def r2(beta: np.ndarray, intercept: float, weights: np.ndarray) -> float:
        fit = intercept + masks @ beta
        y_mean = weights @ y / weights.sum()
        return 1 - weights @ (y - fit) ** 2 / (weights @ (y - y_mean) ** 2)

    beta, intercept = ridge(1.0, pi)
    np.testing.assert_allclose(exp.weights(1), beta, rtol=0, atol=1e-10)
    assert exp.intercept[1] == pytest.approx(intercept, abs=1e-10)
    assert exp.score[1] == pytest.approx(r2(beta, intercept, pi), abs=1e-10)
    assert exp.local_pred[1] == pytest.approx(intercept + beta.sum(), abs=1e-10)  # all ones
    assert [c for c, _ in exp.local_exp[1]] == np.argsort(-beta).tolist()  # signed, descending
    # label 0 explains 1 − p: the negated surrogate, the same fidelity
    np.testing.assert_allclose(exp.weights(0), -beta, rtol=0, atol=1e-10)
    assert exp.intercept[0] == pytest.approx(1 - intercept, abs=1e-10)
    assert exp.score[0] == pytest.approx(exp.score[1], abs=1e-10)
    # the check tells α = 1 from 0 and .1, and weighted from unweighted fits and R²
    tol = 1e-10
    for wrong in (ridge(0.0, pi), ridge(0.1, pi), ridge(1.0, np.ones(40))):
        assert np.abs(wrong[0] - beta).max() > 1e4 * tol
    assert abs(r2(beta, intercept, np.ones(40)) - exp.score[1]) > 1e4 * tol
    assert 0.5 < exp.score[1] < 0.999
