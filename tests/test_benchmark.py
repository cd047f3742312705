"""The explainer benchmark (svdlib.veracity.benchmark) on a hand-made linear model: where
δ acts is known, so a truthful explainer reaches the attainable rate and random does not."""

import numpy as np
import torch

from svdlib import Segmentation, make_explainer, threshold_rule
from svdlib.veracity.benchmark import ENERGY, benchmark_table, run_benchmark

SEG = Segmentation(8, 6, 4, 3)          # 12 segments of 2 × 2 cells


def _model():
    """P(class 1) = sigmoid(4 · (sum over segments 0–2) − 2): only three segments matter."""
    weight = torch.zeros(SEG.shape)
    masks = torch.from_numpy(SEG.masks_np(np.eye(12, dtype=np.uint8)[:3]).astype(np.float32))
    weight += masks.sum(0) * 4.0

    def probability(x):
        return torch.sigmoid((x * weight).sum(dim=(1, 2)) - 2.0)

    return probability


def _pairs(n=6, seed=0):
    """Originals at zero (class 0); δ: 0.2 per cell in one of segments 0–2 (enough alone:
    4 · 0.8 − 2 > 0) plus decoy energy 1.0 per cell in a segment the model ignores."""
    rng = np.random.default_rng(seed)
    original = np.zeros((n, *SEG.shape), np.float32)
    masks = SEG.masks_np(np.eye(12, dtype=np.uint8)).astype(np.float32)
    adversarial = original.copy()
    for i in range(n):
        adversarial[i] += 0.2 * masks[rng.integers(0, 3)] + 1.0 * masks[rng.integers(3, 12)]
    return original, adversarial


def test_truthful_explainers_reach_the_attainable_rate_and_random_does_not():
    probability = _model()

    def predict(e):
        return probability(torch.from_numpy(np.asarray(e))).numpy()

    original, adversarial = _pairs()
    explainers = {name: make_explainer(name, probability, SEG, seed=1)
                  for name in ("occlusion", "gradient_x_input", "random")}
    run = run_benchmark(original, adversarial, SEG, predict, threshold_rule(1, 0.5),
                        explainers, subset_ks=(1,))
    table = benchmark_table(run, k=1, n_boot=100).set_index("method")
    # by construction one segment flips each pair: attainable 100 %, chance 1 of 12
    assert table.loc["attainable (k=1)", "percent"] == 100.0
    assert np.isclose(table.loc["chance (k=1)", "percent"], 100 / 12)
    for name in ("occlusion", "gradient_x_input"):
        assert table.loc[name, "percent"] == 100.0
        assert table.loc[name, "contains smallest %"] == 100.0
    # the decoy carries more energy, so the energy ranking's top segment never flips
    assert table.loc[ENERGY, "percent"] == 0.0
    assert table.loc["random", "percent"] < 100.0
    assert (run.costs["seconds_per_explanation"] > 0).all()
    assert list(table.index[:2]) != ["random", ENERGY]          # ranked by the Table 1 rate
