"""The seven segment explainers, checked on small models whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svdlib.explain.attribution import Relevance, SegmentExplainer
from svdlib.explain.explainers import EXPLAINERS, LimeExplainer, make_explainer, needs_gradient
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.lime import LimeAudioExplainer
from svdlib.explain.segments import Segmentation

SEG = Segmentation(8, 6, 4, 3)  # 12 segments of 2 × 2 bins
N = SEG.n_components
#: Distinct signed values with distinct magnitudes, one per segment, in a shuffled order.
SEGMENT_W = np.random.default_rng(3).permutation(
    [-0.9, -0.6, -0.35, -0.15, 0.05, 0.1, 0.2, 0.3, 0.45, 0.65, 0.8, 1.0])
#: Small sample counts that still resolve the tests' models.
FAST = {"lime": {"num_samples": 2048}, "lime_forest": {"num_samples": 2048},
        "lime_zero": {"num_samples": 2048}, "lime_noise": {"num_samples": 2048},
        "kernelshap": {"num_samples": 1024},
        "integrated_gradients": {"n_steps": 16}}
CELLS = SEG.cell_ids()


class Linear(torch.nn.Module):
    """``out = Σ W · x + b`` (``sigmoid`` of it with ``probability``), ``(B,)``."""

    def __init__(self, weight: np.ndarray, bias: float = 0.0, probability: bool = False):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(weight, dtype=torch.float32))
        self.bias = bias
        self.probability = probability

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (self.weight * x).sum(dim=(-2, -1)) + self.bias
        return torch.sigmoid(z) if self.probability else z


class Nonlinear(torch.nn.Module):
    """A small nonlinear probability model with interactions between segments."""

    def __init__(self, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.register_buffer("w1", torch.as_tensor(rng.normal(size=SEG.shape), dtype=torch.float32))
        self.register_buffer("w2", torch.as_tensor(rng.normal(size=SEG.shape), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = (self.w1 * torch.tanh(x)).sum(dim=(1, 2))
        b = (self.w2 * x).sum(dim=(1, 2))
        return torch.sigmoid(0.3 * a + 0.05 * b * b - 0.5)


class MultiClass(torch.nn.Module):
    """``(B, 3)`` logits, column ``c`` linear with weights ``W[c]``."""

    def __init__(self, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.register_buffer("weight", torch.as_tensor(rng.normal(size=(3, *SEG.shape)),
                                                       dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("cfb,nfb->nc", self.weight, torch.tanh(x))


class Column(torch.nn.Module):
    """One column of a ``(B, C)`` model, as a ``(B,)`` output."""

    def __init__(self, model: torch.nn.Module, column: int):
        super().__init__()
        self.model = model
        self.column = column

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.column]


def per_segment(bin_map: np.ndarray) -> np.ndarray:
    """Sum of a ``(frames, bands)`` map inside every segment, by explicit slices."""
    return np.array([bin_map[SEG.component_slices(c)].sum() for c in range(N)])


def excerpts(n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(-1.0, 1.0, (n, *SEG.shape)).astype(np.float32)


def explainer(name: str, model, **kwargs) -> SegmentExplainer:
    return make_explainer(name, model, SEG, **{**FAST.get(name, {}), **kwargs})


# -- the interface -----------------------------------------------------------------------------
def test_attribution_keeps_its_first_two_fields():
    a = Relevance(np.ones(3), 0.5)
    assert a.score == 0.5
    assert a.bin_map is None
    assert a.signed is True
    assert np.isnan(Relevance(np.ones(3)).score)
    assert Relevance(np.ones(3), 0.0, np.zeros((2, 2)), False)._fields == (
        "weights", "score", "bin_map", "signed")


def test_names_and_errors():
    assert EXPLAINERS == ("lime", "lime_forest", "lime_zero", "lime_noise", "kernelshap",
                          "occlusion", "integrated_gradients", "saliency", "gradient_x_input",
                          "random")
    model = Nonlinear()
    for name in EXPLAINERS:
        e = explainer(name, model)
        assert isinstance(e, SegmentExplainer)
        assert e.name == name
    with pytest.raises(ValueError, match="unknown explainer"):
        make_explainer("shap", model, SEG)
    with pytest.raises(ValueError, match="shape"):
        explainer("occlusion", model)(np.zeros((6, 8), np.float32))


@pytest.mark.parametrize("name", [n for n in EXPLAINERS if n != "random"])
def test_shapes_types_and_signs(name):
    a = explainer(name, Nonlinear())(excerpts(1)[0])
    assert isinstance(a.weights, np.ndarray)
    assert a.weights.shape == (N,)
    assert np.isfinite(a.weights).all()
    assert a.signed is (name != "saliency")
    if name in ("integrated_gradients", "saliency", "gradient_x_input"):
        assert isinstance(a.bin_map, np.ndarray)
        assert a.bin_map.shape == SEG.shape
        np.testing.assert_allclose(a.weights, per_segment(a.bin_map.astype(np.float64)),
                                   rtol=1e-6, atol=1e-9)
    else:
        assert a.bin_map is None
    if name == "saliency":
        assert (a.weights >= 0).all()


# -- every explainer finds the true order on a model built to have one -------------------------
def ranking_model() -> tuple[Linear, np.ndarray, np.ndarray]:
    """``p = sigmoid(0.1 Σ W x + b)``, W constant per segment, x = 1, baseline 0.

    Switching segment s off changes the logit by ``0.1 · 4 · W_s``: its true relevance.
    """
    weight = 0.1 * SEGMENT_W[CELLS]
    truth = 0.1 * 4 * SEGMENT_W
    model = Linear(weight, bias=-truth.sum() / 2, probability=True)
    return model, np.ones(SEG.shape, np.float32), truth


# (LIME with noise masking is left out: on this constant excerpt its noise, of the excerpt's
# mean and zero spread, is the excerpt itself, so no segment can be switched off)
@pytest.mark.parametrize("name", [n for n in EXPLAINERS if n not in ("random", "lime_noise")])
def test_ranks_segments_in_the_true_order(name):
    model, x, truth = ranking_model()
    a = explainer(name, model, baseline="zero")(x)
    if a.signed:
        expected = np.argsort(-truth, kind="stable")
        np.testing.assert_array_equal(np.argsort(-a.weights, kind="stable"), expected)
        # target 0 (ascending) is the opposite order, and the signs are the true ones
        np.testing.assert_array_equal(np.argsort(a.weights, kind="stable"), expected[::-1])
        np.testing.assert_array_equal(np.sign(a.weights), np.sign(truth))
    else:  # saliency: |gradient|, ranked descending by magnitude
        np.testing.assert_array_equal(np.argsort(-a.weights, kind="stable"),
                                      np.argsort(-np.abs(truth), kind="stable"))


def test_random_is_a_floor():
    model, x, truth = ranking_model()
    expected = np.argsort(-truth, kind="stable")
    rankings = [np.argsort(-make_explainer("random", model, SEG, seed=s)(x).weights)
                for s in range(6)]
    assert len({tuple(r) for r in rankings}) == 6
    assert not all(np.array_equal(r, expected) for r in rankings)
    e = make_explainer("random", None, SEG, seed=0)
    a, b = e.explain_many(excerpts(2))
    assert not np.array_equal(np.argsort(a.weights), np.argsort(b.weights))
    np.testing.assert_array_equal(e(excerpts(2)[0]).weights, a.weights)
    assert (a.weights > 0).any() and (a.weights < 0).any()


# -- captum's numbers equal hand computations --------------------------------------------------
def linear_output() -> tuple[Linear, np.ndarray, np.ndarray]:
    w = np.random.default_rng(5).normal(size=SEG.shape).astype(np.float32)
    return Linear(w, bias=0.3), w, excerpts(1, seed=6)[0]


def test_occlusion_equals_replacing_each_segment_by_the_baseline():
    model = Nonlinear(seed=1)
    x = excerpts(1, seed=2)[0]
    baseline = np.full_like(x, x.astype(np.float64).mean())

    def f(inputs: np.ndarray) -> float:
        with torch.no_grad():
            return float(model(torch.from_numpy(inputs[None]))[0])

    expected = []
    for c in range(N):
        occluded = x.copy()
        occluded[SEG.component_slices(c)] = baseline[SEG.component_slices(c)]
        expected.append(f(x) - f(occluded))
    a = explainer("occlusion", model, perturbations_per_eval=5)(x)
    np.testing.assert_allclose(a.weights, expected, rtol=1e-5, atol=1e-7)


def test_gradient_x_input_of_a_linear_output_is_w_times_x():
    model, w, x = linear_output()
    a = explainer("gradient_x_input", model)(x)
    np.testing.assert_allclose(a.bin_map, w * x, rtol=1e-6)
    np.testing.assert_allclose(a.weights, per_segment((w * x).astype(np.float64)),
                               rtol=1e-5, atol=1e-6)


def test_integrated_gradients_of_a_linear_output_is_w_times_x_minus_baseline():
    model, w, x = linear_output()
    mean = x.astype(np.float64).mean()
    a = explainer("integrated_gradients", model)(x)
    expected = w.astype(np.float64) * (x - mean)
    np.testing.assert_allclose(a.bin_map, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(a.weights, per_segment(expected), rtol=1e-4, atol=1e-5)
    # completeness on this linear model: the relevances add up to f(x) − f(baseline)
    assert a.weights.sum() == pytest.approx(float((w * (x - mean)).sum()), abs=1e-4)


def test_saliency_of_a_linear_output_is_abs_w():
    model, w, x = linear_output()
    a = explainer("saliency", model)(x)
    assert a.signed is False
    np.testing.assert_allclose(a.bin_map, np.abs(w), rtol=1e-6)
    np.testing.assert_allclose(a.weights, per_segment(np.abs(w).astype(np.float64)),
                               rtol=1e-5)


def test_kernelshap_recovers_additive_contributions():
    model, w, x = linear_output()
    mean = x.astype(np.float64).mean()
    contributions = per_segment(w.astype(np.float64) * (x - mean))
    a = explainer("kernelshap", model, num_samples=256, perturbations_per_eval=64)(x)
    np.testing.assert_allclose(a.weights, contributions, atol=1e-3 * np.abs(contributions).max())
    assert a.score == pytest.approx(1.0, abs=1e-9)  # an additive model is fitted exactly


def test_kernelshap_agrees_with_captum_on_an_additive_model():
    from captum.attr import KernelShap

    model, w, x = linear_output()
    xt = torch.from_numpy(x[None])
    baseline = torch.full_like(xt, float(x.astype(np.float64).mean()))
    with torch.no_grad():
        theirs = KernelShap(model).attribute(
            xt, baselines=baseline, feature_mask=torch.as_tensor(CELLS)[None], n_samples=256,
            perturbations_per_eval=64, return_input_shape=False)[0].double().numpy()
    ours = explainer("kernelshap", model, num_samples=256, perturbations_per_eval=64)(x).weights
    contributions = per_segment(w.astype(np.float64) * (x - x.astype(np.float64).mean()))
    scale = np.abs(contributions).max()
    np.testing.assert_allclose(theirs, contributions, atol=1e-3 * scale)
    np.testing.assert_allclose(ours, theirs, atol=2e-3 * scale)


@pytest.mark.parametrize("seed", [0, 5])
def test_kernelshap_with_captums_sampler_equals_captum(seed):
    from captum.attr import KernelShap

    model = Nonlinear(seed=4)
    x = excerpts(1, seed=7)[0]
    xt = torch.from_numpy(x[None])
    baseline = torch.full_like(xt, float(x.astype(np.float64).mean()))
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        theirs = KernelShap(model).attribute(
            xt, baselines=baseline, feature_mask=torch.as_tensor(CELLS)[None], n_samples=300,
            perturbations_per_eval=50, return_input_shape=False)[0].double().numpy()
    ours = explainer("kernelshap", model, num_samples=300, sampler="captum", seed=seed)(x)
    np.testing.assert_allclose(ours.weights, theirs, rtol=1e-3,
                               atol=1e-4 * np.abs(theirs).max())
    with pytest.raises(ValueError, match="unknown sampler"):
        explainer("kernelshap", model, sampler="shap")


def test_kernelshap_coalitions_follow_the_shapley_kernel():
    from math import comb

    from svdlib.explain.kernelshap import sample_coalitions, size_distribution

    m, s = 6, 40000
    rows = sample_coalitions(m, s, np.random.default_rng(0))
    assert rows.shape == (s, m) and rows.dtype == np.uint8
    assert rows[0].all() and not rows[1].any()
    sizes = rows[2:].sum(axis=1)
    assert sizes.min() >= 1 and sizes.max() <= m - 1
    _, p = size_distribution(m)
    expected = np.array([(m - 1) / (j * (m - j)) for j in range(1, m)])
    np.testing.assert_allclose(p, expected / expected.sum())
    np.testing.assert_allclose(np.bincount(sizes, minlength=m)[1:] / (s - 2), p, atol=0.01)
    # within a size every coalition is equally likely: each player in k/m of them
    for j in (1, 3):
        chosen = rows[2:][sizes == j]
        np.testing.assert_allclose(chosen.mean(axis=0), j / m, atol=0.03)
        assert len({r.tobytes() for r in chosen}) == comb(m, j)
    np.testing.assert_array_equal(sample_coalitions(m, 50, np.random.default_rng(1)),
                                  sample_coalitions(m, 50, np.random.default_rng(1)))


def test_kernelshap_fit_is_sklearns_weighted_linear_regression():
    from sklearn.linear_model import LinearRegression

    from svdlib.explain.kernelshap import (
        INF_WEIGHT,
        sample_coalitions,
        shapley_weights,
        weighted_linear_fit,
    )

    rng = np.random.default_rng(2)
    design = sample_coalitions(7, 300, rng)
    weights = shapley_weights(design)
    assert weights[0] == weights[1] == INF_WEIGHT and (weights[2:] == 1).all()
    targets = rng.normal(size=(300, 2))
    coef, intercept, r2 = weighted_linear_fit(design, targets, weights)
    for col in range(2):
        reg = LinearRegression().fit(design, targets[:, col], sample_weight=weights)
        np.testing.assert_allclose(coef[:, col], reg.coef_, rtol=1e-8, atol=1e-10)
        assert intercept[col] == pytest.approx(reg.intercept_, rel=1e-8, abs=1e-10)
        assert r2[col] == pytest.approx(
            reg.score(design, targets[:, col], sample_weight=weights), rel=1e-8, abs=1e-10)


def test_kernelshap_batching_does_not_change_the_result():
    model = Nonlinear(seed=3)
    x = excerpts(1, seed=5)[0]
    one = explainer("kernelshap", model, num_samples=300, perturbations_per_eval=1)(x)
    many = explainer("kernelshap", model, num_samples=300, perturbations_per_eval=300)(x)
    np.testing.assert_allclose(one.weights, many.weights, rtol=1e-6, atol=1e-9)
    assert one.score == pytest.approx(many.score, rel=1e-9)
    # completeness: the relevances add up to about f(x) − f(baseline)
    xt = torch.from_numpy(x[None])
    with torch.no_grad():
        base = torch.full_like(xt, float(x.astype(np.float64).mean()))
        gap = float(model(xt)[0] - model(base)[0])
    assert one.weights.sum() == pytest.approx(gap, abs=1e-4)


# -- LIME is audioLIME's, unchanged ------------------------------------------------------------
def test_lime_is_one_explainer_equal_to_the_audiolime_engine():
    model = Nonlinear()
    x = excerpts(1, seed=4)[0]
    for seed, baseline in ((0, "mean"), (7, "mean"), (1, "zero")):
        lime = LimeExplainer(model, SEG, seed=seed, baseline=baseline, num_samples=300)
        ours = lime(x)
        assert isinstance(make_explainer("lime", model, SEG), LimeExplainer)
        made = make_explainer("lime", model, SEG, seed=seed, baseline=baseline,
                              num_samples=300)(x)
        np.testing.assert_array_equal(made.weights, ours.weights)
        # the engine, driven by hand: audioLIME's explainer on the factorized excerpt
        factorization = TimeFrequencyFactorization(x, SEG, baseline, seed=seed)
        engine = LimeAudioExplainer(random_state=seed).explain_instance(
            factorization, model, labels=(0, 1), num_samples=300)
        np.testing.assert_array_equal(ours.weights, engine.weights(1))
        assert ours.score == engine.score[1]
        whole = lime.explanation(x)
        assert whole.labels == [0, 1]
        np.testing.assert_array_equal(whole.neighborhood_data, engine.neighborhood_data)
        np.testing.assert_array_equal(whole.weights(0), engine.weights(0))
        np.testing.assert_array_equal(whole.weights(1), ours.weights)


class Counting(torch.nn.Module):
    """A model that counts the inputs it is asked to evaluate."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.inputs = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs += len(x)
        return self.model(x)


@pytest.mark.parametrize("name", ["lime", "kernelshap"])
def test_sampling_explainers_spend_num_samples_model_evaluations(name):
    model = Counting(Nonlinear())
    explainer(name, model, num_samples=123)(excerpts(1)[0])
    assert model.inputs == 123           # LIME: no probe, no extra forward of the excerpt
    with pytest.raises(TypeError, match="n_samples"):
        make_explainer(name, model, SEG, n_samples=123)


def test_only_the_gradient_methods_need_a_differentiable_model():
    assert [n for n in EXPLAINERS if needs_gradient(n)] == [
        "integrated_gradients", "saliency", "gradient_x_input"]
    with pytest.raises(ValueError, match="unknown explainer"):
        needs_gradient("shap")


# -- batching, classes, randomness -------------------------------------------------------------
@pytest.mark.parametrize("name", EXPLAINERS)
def test_explain_many_equals_one_by_one(name):
    model = Nonlinear(seed=2)
    xs = excerpts(3, seed=8)
    settings = {"batch_size": 2} if name in ("occlusion", "integrated_gradients", "saliency",
                                               "gradient_x_input") else {}
    e = explainer(name, model, **settings)
    many = e.explain_many(xs)
    assert len(many) == 3
    for x, a in zip(xs, many, strict=True):
        b = e(x)
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-6, atol=1e-8)
        assert a.signed == b.signed
        if b.bin_map is not None:
            np.testing.assert_allclose(a.bin_map, b.bin_map, rtol=1e-6, atol=1e-8)
    assert e.explain_many(np.zeros((0, *SEG.shape), np.float32)) == []


@pytest.mark.parametrize("name", [n for n in EXPLAINERS if n != "random"])
def test_multiclass_label_is_that_column(name):
    model = MultiClass()
    x = excerpts(1, seed=9)[0]
    multi = explainer(name, model, label=2)(x)
    single = explainer(name, Column(model, 2))(x)
    np.testing.assert_allclose(multi.weights, single.weights, rtol=1e-5, atol=1e-7)
    other = explainer(name, model, label=0)(x)
    assert not np.allclose(other.weights, multi.weights)
    with pytest.raises(ValueError, match="label 3"):
        explainer(name, model, label=3)(x)


def test_multiclass_gradient_x_input_by_hand():
    model = MultiClass()
    x = excerpts(1, seed=9)[0]
    w = model.weight[1].numpy().astype(np.float64)
    t = np.tanh(x.astype(np.float64))
    expected = x * w * (1 - t * t)  # x · ∂(Σ w tanh x)/∂x
    a = explainer("gradient_x_input", model, label=1)(x)
    np.testing.assert_allclose(a.weights, per_segment(expected), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["lime", "occlusion", "integrated_gradients"])
def test_binary_models_explain_class_one_whatever_the_label(name):
    model = Nonlinear()
    x = excerpts(1, seed=3)[0]
    np.testing.assert_array_equal(explainer(name, model, label=0)(x).weights,
                                  explainer(name, model, label=1)(x).weights)


def test_seeded_and_global_generators_untouched():
    model = Nonlinear()
    x = excerpts(1)[0]
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    first = explainer("kernelshap", model, num_samples=200, seed=3)(x).weights
    explainer("random", model, seed=3)(x)
    explainer("lime", model, num_samples=100)(x)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state[1])  # noqa: NPY002
    np.testing.assert_array_equal(
        explainer("kernelshap", model, num_samples=200, seed=3)(x).weights, first)
    assert not np.array_equal(
        explainer("kernelshap", model, num_samples=200, seed=4)(x).weights, first)


def test_gradient_methods_need_a_differentiable_model():
    module = Nonlinear()

    def frozen(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return module(batch)

    x = excerpts(1)[0]
    with pytest.raises(ValueError, match="no gradient"):
        explainer("saliency", frozen)(x)
    # perturbation methods take any callable, numpy outputs included
    def as_numpy(batch: torch.Tensor) -> np.ndarray:
        return frozen(batch).numpy()

    np.testing.assert_allclose(explainer("occlusion", as_numpy)(x).weights,
                               explainer("occlusion", module)(x).weights, rtol=1e-6)
