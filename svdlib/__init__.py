"""svdlib: testing whether audio explanations tell the truth.

A reproduction of Praher, Prinz, Flexer & Widmer, "On the Veracity of Local, Model-agnostic
Explanations in Audio Classification" (ISMIR 2021), and its method as a tool: an adversarial
perturbation is ground truth the model provably uses, against which any explainer on any audio
model can be tested.

The names below work on plain arrays, tensors and callables (no configuration, no store)::

    from svdlib import (LimeExplainer, Segmentation, attack_excerpts, energy_relevances,
                        flip_curve, threshold_rule, top_k_rates)

The paper's detector and its helpers (``SingingVoiceDetector``, ``load_model``,
``detector_predict_fn``, ...) are exported beside the method; the paper's pipeline (profiles,
the artifact store, the stages, the book) lives in :mod:`svdlib.experiments` and behind the
``svd`` command. Every exported name is documented, with an example that runs, on the book's
page *API reference* (``book/api.md``). See DESIGN.md for the layers.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name → the module that defines it (imported on first use, so ``import svdlib`` and
#: the ``svd`` command start fast). The groups are the sections of the book's API page
#: (``book/api.md``); ``tests/test_api_examples.py`` runs every name's ``Examples``.
_EXPORTS = {
    # -- the method: any model, plain arrays, tensors and callables ----------------------------
    # audio in and the front end
    "load_audio": "svdlib.audio.io", "Spectrogram": "svdlib.audio.frontend",
    "LogMel": "svdlib.audio.frontend",
    # planted perturbations: ground truth the model provably uses
    "attack_excerpts": "svdlib.attacks.excerpts", "AttackDomainConfig": "svdlib.attacks.settings",
    "ExcerptAttack": "svdlib.attacks.excerpts",
    "attack_defaults": "svdlib.attacks.domains",
    # segments and explainers
    "Segmentation": "svdlib.explain.segments",
    "BaseSegmentation": "svdlib.explain.segmentations.base",
    "PointwiseSegmentation": "svdlib.explain.segmentations.pointwise",
    "LabelSegmentation": "svdlib.explain.segmentations.labels",
    "TimeSegmentation": "svdlib.explain.segmentations.labels",
    "StftSegmentation": "svdlib.explain.segmentations.stft",
    "Relevance": "svdlib.explain.attribution",
    "SegmentExplainer": "svdlib.explain.attribution",
    "LimeExplainer": "svdlib.explain.lime_explainer", "Explanation": "svdlib.explain.explanation",
    "make_explainer": "svdlib.explain.explainers",
    # decision rules: did a pair flip, and by what margin
    "DecisionRule": "svdlib.veracity.rules", "threshold_rule": "svdlib.veracity.rules",
    "class_change_rule": "svdlib.veracity.rules",
    # the veracity measures (a method: an explainer or relevances computed before)
    "StoredRelevances": "svdlib.veracity.measures",
    "energy_relevances": "svdlib.veracity.measures",
    "attribution_ranking": "svdlib.veracity.measures",
    "energy_ranking": "svdlib.veracity.measures", "keep_top_k": "svdlib.veracity.measures",
    "flip_curve": "svdlib.veracity.measures", "top_k_rates": "svdlib.veracity.measures",
    "table2_rows": "svdlib.veracity.measures", "table2_rates": "svdlib.veracity.measures",
    "subset_partials": "svdlib.veracity.recovery", "subset_recovery": "svdlib.veracity.recovery",
    "fidelity_separation": "svdlib.veracity.tables",
    "song_rate": "svdlib.veracity.statistics", "paired_difference": "svdlib.veracity.statistics",
    "segment_masks": "svdlib.veracity.interop", "planted_masks": "svdlib.veracity.interop",
    # exact references: every subset of at most k segments
    "exhaustive_flips": "svdlib.veracity.exhaustive", "chance_rate": "svdlib.veracity.exhaustive",
    "attainable_rate": "svdlib.veracity.exhaustive",
    "contains_smallest": "svdlib.veracity.exhaustive",
    # the benchmark: every explainer on the same pairs
    "run_benchmark": "svdlib.veracity.benchmark", "benchmark_table": "svdlib.veracity.benchmark",
    "curve_rates": "svdlib.veracity.benchmark_summary",
    "ranked_overview": "svdlib.veracity.benchmark_summary",
    # which faithfulness metric can you trust: proxy metrics judged by the planted truth
    "TargetOutputs": "svdlib.veracity.proxies", "oriented_weights": "svdlib.veracity.proxies",
    "deletion_insertion": "svdlib.veracity.proxies", "curve_areas": "svdlib.veracity.proxies",
    "surrogate_scores": "svdlib.veracity.proxies", "long_metrics": "svdlib.veracity.proxies",
    "segment_infidelity": "svdlib.veracity.proxy_captum",
    "segment_sensitivity": "svdlib.veracity.proxy_captum",
    "quantus_faithfulness": "svdlib.veracity.proxy_quantus",
    "proxy_metrics": "svdlib.veracity.proxy_run", "evaluate_run": "svdlib.veracity.proxy_run",
    "planted_scores": "svdlib.veracity.metaeval", "metric_agreement": "svdlib.veracity.metaeval",
    "agreement_summary": "svdlib.veracity.metaeval",
    "agreement_verdicts": "svdlib.veracity.metaeval",
    "metric_leaderboard": "svdlib.veracity.metaeval",
    "LimeForestExplainer": "svdlib.explain.variants",
    "MaskedLimeExplainer": "svdlib.explain.variants",
    # -- the paper's detector and its helpers ---------------------------------------------------
    "SingingVoiceDetector": "svdlib.detector.model", "ModelConfig": "svdlib.detector.settings",
    "FrontEndConfig": "svdlib.audio.settings", "build_model": "svdlib.detector.model",
    "save_model": "svdlib.detector.checkpoint", "load_model": "svdlib.detector.checkpoint",
    "load_original_state_dict": "svdlib.detector.checkpoint",
    "detector_predict_fn": "svdlib.detector.predictor",
    "attack_waveform": "svdlib.attacks.optimise", "attack_spectrogram": "svdlib.attacks.optimise",
    # -- errors a user can cause (one line naming the file or setting and the fix) --------------
    "SvdError": "svdlib.errors", "DataError": "svdlib.errors", "ConfigError": "svdlib.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'svdlib' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
