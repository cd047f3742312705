"""The time-frequency factorization: borders, masks, baselines, composition, energy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svdlib.experiments.config.factories import segmentation_from
from svdlib.experiments.config.settings import LimeConfig
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.segments import Segmentation, compose, equal_borders, make_baseline


@pytest.fixture
def excerpt() -> np.ndarray:
    return np.random.default_rng(0).normal(-2.0, 1.5, (115, 80)).astype(np.float32)


def test_paper_borders():
    seg = Segmentation()
    assert seg.time_borders == (0, 23, 46, 69, 92, 115)
    assert seg.freq_borders == (0, 20, 40, 60, 80)
    assert seg.n_components == 20
    assert seg.component(0) == (0, 0)
    assert seg.component(1) == (0, 1)  # frequency varies fastest
    assert seg.component(4) == (1, 0)
    assert seg.component(19) == (4, 3)
    assert seg.component_id(2, 3) == 11
    assert seg.component_slices(6) == (slice(23, 46), slice(40, 60))
    assert seg.component_names()[:2] == ["T0F0", "T0F1"]


def test_remainder_goes_to_last_segment():
    # audioLIME would leave band 80 uncovered and cut time by the frequency axis's length
    assert equal_borders(81, 4) == (0, 20, 40, 60, 81)
    assert equal_borders(117, 5) == (0, 23, 46, 69, 92, 117)
    seg = Segmentation(117, 81, 5, 4)
    ids = seg.cell_ids()
    assert ids.shape == (117, 81)
    assert np.bincount(ids.ravel()).min() > 0
    assert (ids[:, 80] == ids[:, 79]).all()
    assert seg.masks_np(np.ones(20)).all()  # the all-ones sample restores every cell


def test_bad_grids():
    with pytest.raises(ValueError, match="non-empty"):
        Segmentation(4, 80, 5, 4)
    with pytest.raises(ValueError, match="increasing"):
        Segmentation(115, 80, 3, 4, time_borders=(0, 60, 60, 115))
    with pytest.raises(ValueError, match="from 0"):
        Segmentation(115, 80, 2, 4, time_borders=(0, 50, 110))
    custom = Segmentation(115, 80, 2, 1, time_borders=(0, 100, 115), freq_borders=(0, 80))
    assert custom.component_slices(1) == (slice(100, 115), slice(0, 80))


def test_from_config():
    seg = segmentation_from(LimeConfig(n_time_segments=3, n_freq_segments=2))
    assert (seg.n_time, seg.n_freq, seg.n_components) == (3, 2, 6)
    assert seg.time_borders == (0, 38, 76, 115)


def test_cell_ids_match_slices():
    seg = Segmentation()
    ids = seg.cell_ids()
    for c in range(seg.n_components):
        rows, cols = seg.component_slices(c)
        assert (ids[rows, cols] == c).all()
        assert (ids == c).sum() == 23 * 20


def test_masks_torch_and_numpy_agree():
    seg = Segmentation()
    sel = np.random.default_rng(1).integers(0, 2, (7, 20), dtype=np.uint8)
    m_np = seg.masks_np(sel)
    m_t = seg.masks(sel)
    assert m_np.shape == (7, 115, 80)
    assert m_np.dtype == np.float32
    assert m_t.shape == (7, 115, 80)
    assert m_t.dtype == torch.float32
    np.testing.assert_array_equal(m_t.numpy(), m_np)
    assert seg.masks(torch.as_tensor(sel), dtype=torch.bool).dtype == torch.bool
    assert seg.masks(sel, device="cpu").device.type == "cpu"
    # a single selection gives a single mask, area = 460 cells per component
    single = seg.masks_np(sel[0])
    assert single.shape == (115, 80)
    assert single.sum() == 460 * sel[0].sum()
    for c in range(20):
        rows, cols = seg.component_slices(c)
        assert (m_np[:, rows, cols] == sel[:, c, None, None]).all()
    with pytest.raises(ValueError, match="columns"):
        seg.masks_np(np.ones((2, 19)))


def test_mask_of_ids():
    seg = Segmentation()
    m = seg.mask_of([0, 19])
    assert m.sum() == 2 * 460
    assert m[0, 0] == 1
    assert m[114, 79] == 1
    assert m[30, 30] == 0
    assert seg.mask_of([]).sum() == 0
    assert seg.mask_of(None).sum() == 0
    assert seg.mask_of([3], dtype=bool).dtype == bool
    with pytest.raises(ValueError, match="outside"):
        seg.mask_of([20])


def test_baselines(excerpt):
    assert (make_baseline(excerpt, "zero") == 0).all()
    for kind, fn in (("min", np.min), ("max", np.max), ("mean", np.mean)):
        base = make_baseline(excerpt, kind)
        assert base.shape == excerpt.shape
        assert base.dtype == np.float32
        assert np.unique(base).size == 1
        np.testing.assert_allclose(base[0, 0], fn(excerpt.astype(np.float64)), rtol=1e-6)
    positive = np.abs(excerpt)
    unif = make_baseline(positive, "unif", seed=3)
    assert (unif >= 0).all()
    assert (unif < positive.max()).all()
    np.testing.assert_array_equal(unif, make_baseline(positive, "unif", seed=3))
    assert not np.array_equal(unif, make_baseline(positive, "unif", seed=4))
    shuffled = make_baseline(excerpt, "shuffle", seed=3)
    np.testing.assert_array_equal(np.sort(shuffled.ravel()), np.sort(excerpt.ravel()))
    assert not np.array_equal(shuffled, excerpt)
    np.testing.assert_array_equal(shuffled, make_baseline(excerpt, "shuffle", seed=3))
    # a torch excerpt works too
    np.testing.assert_array_equal(make_baseline(torch.from_numpy(excerpt), "mean"),
                                  make_baseline(excerpt, "mean"))
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline(excerpt, "median")


def test_compose(excerpt):
    seg = Segmentation()
    base = make_baseline(excerpt, "mean")
    sel = np.random.default_rng(2).integers(0, 2, (5, 20))
    masks = seg.masks_np(sel)
    by_formula = excerpt * masks + base * (1 - masks)
    np.testing.assert_array_equal(compose(excerpt, masks, base), by_formula)
    np.testing.assert_array_equal(compose(excerpt, masks.astype(bool), base), by_formula)
    np.testing.assert_array_equal(compose(excerpt, masks, float(base[0, 0])), by_formula)
    t_masks = seg.masks(sel, dtype=torch.bool)
    np.testing.assert_array_equal(compose(excerpt, t_masks, torch.from_numpy(base)).numpy(),
                                  by_formula)
    np.testing.assert_array_equal(compose(torch.from_numpy(excerpt), t_masks.float(),
                                          torch.from_numpy(base)).numpy(), by_formula)


def test_factorization_retrieve(excerpt):
    fact = TimeFrequencyFactorization(excerpt, baseline="mean")
    assert fact.get_number_components() == 20
    assert fact.baseline_kind == "mean"
    np.testing.assert_array_equal(fact.retrieve_components(None), excerpt)
    np.testing.assert_array_equal(fact.retrieve_components([]), fact.baseline)
    one = fact.retrieve_components([6])
    rows, cols = fact.segmentation.component_slices(6)
    np.testing.assert_array_equal(one[rows, cols], excerpt[rows, cols])
    outside = np.ones_like(excerpt, dtype=bool)
    outside[rows, cols] = False
    np.testing.assert_array_equal(one[outside], fact.baseline[outside])
    np.testing.assert_array_equal(fact.retrieve_components(range(20)), excerpt)
    with pytest.raises(ValueError, match="outside"):
        fact.retrieve_components([20])
    sel = np.random.default_rng(5).integers(0, 2, (6, 20))
    batch = fact.compose_batch(sel).numpy()
    for row, composed in zip(sel, batch, strict=True):
        np.testing.assert_array_equal(composed, fact.retrieve_components(np.where(row)[0]))


def test_factorization_custom_baseline_and_errors(excerpt):
    fact = TimeFrequencyFactorization(excerpt, baseline=-5.0)
    assert fact.baseline_kind == "custom"
    assert (fact.retrieve_components([]) == -5.0).all()
    with pytest.raises(ValueError, match="does not match"):
        TimeFrequencyFactorization(excerpt, Segmentation(100, 80))
    with pytest.raises(ValueError, match="frames, bands"):
        TimeFrequencyFactorization(excerpt[None])


def test_energy_and_top_segments():
    seg = Segmentation()
    rng = np.random.default_rng(7)
    delta = 0.01 * rng.standard_normal((115, 80))
    for c, scale in ((13, 3.0), (2, 2.0), (17, 1.0)):
        rows, cols = seg.component_slices(c)
        delta[rows, cols] += scale
    energy = seg.energy(delta)
    manual = [np.sum(delta[seg.component_slices(c)] ** 2) for c in range(20)]
    np.testing.assert_allclose(energy, manual, rtol=1e-12)
    mask, ids = seg.top_energy(delta, 2)
    assert ids.tolist() == [13, 2]
    np.testing.assert_array_equal(mask, seg.mask_of([13, 2]))
    assert seg.top_energy(delta, 0)[1].size == 0
    assert seg.top_energy(torch.from_numpy(delta), 3)[1].tolist() == [13, 2, 17]
    # ties go to the lower id; batches of perturbations give batches of energies
    assert seg.top_energy(np.zeros((115, 80)), 3)[1].tolist() == [0, 1, 2]
    assert seg.energy(np.stack([delta, delta])).shape == (2, 20)
    with pytest.raises(ValueError, match="k must be"):
        seg.top_energy(delta, 21)
    with pytest.raises(ValueError, match="does not end"):
        seg.energy(np.zeros((80, 115)))
