"""The stages in order, each making sure the ones before it ran (finished work is skipped).

Notebooks and the CLI call these, so ``svd run``, ``svd book`` and a notebook run by hand with
papermill compute exactly the same artifacts, and whichever comes first does the work.
"""

from __future__ import annotations

from pathlib import Path

from .store import Store


def corpus(store: Store) -> Path:
    """The corpus folder: generated (embedded corpus) or checked (external data)."""
    from .data import corpus_layout

    if not store.external_data and not (store.data_root() / "filelists").is_dir():
        from .corpus import generate_corpus

        c = store.cfg.corpus
        generate_corpus(store.data_root(), seed=c.seed, n_train=c.n_train, n_valid=c.n_valid,
                        n_test=c.n_test, bars=c.bars, sample_rate=store.cfg.frontend.sample_rate,
                        progress=store.cfg.run.progress)
    return corpus_layout(store).root


def models(store: Store) -> list[Path]:
    """The trained detectors, one per seed of ``train.seeds``."""
    from .train import train_all

    corpus(store)
    return train_all(store.cfg, store)


def predictions(store: Store) -> list[Path]:
    """Per-frame predictions of every trained seed on the validation and test songs."""
    from .evaluate import predict_all

    models(store)
    return predict_all(store)


def evaluation(store: Store) -> dict:
    """Test metrics of every seed and their mean ± std (see :func:`evaluate_all`)."""
    from .evaluate import evaluate_all

    predictions(store)
    return evaluate_all(store)


def attack(store: Store, domain: str) -> Path:
    """The adversarial songs of one attack domain."""
    from .attacks import run_attack

    models(store)
    return run_attack(store, domain)


def picks(store: Store, domain: str, target: int) -> Path:
    """The picked (original, adversarial) pairs of one setting."""
    from .veracity import pick_adversaries

    attack(store, domain)
    return pick_adversaries(store, domain, target)


def explanations(store: Store, domain: str, target: int) -> Path:
    """LIME explanations of the picked pairs of one setting."""
    from .veracity import explain_pairs

    picks(store, domain, target)
    return explain_pairs(store, domain, target)


def subsets(store: Store, domain: str, target: int) -> list[Path]:
    """LIME explanations of the partial adversaries of one setting (every k)."""
    from .veracity import explain_subsets

    explanations(store, domain, target)
    return explain_subsets(store, domain, target)


def horses(store: Store) -> str:
    """The horses and their explanations."""
    from .horses import horses_stage

    predictions(store)
    return horses_stage(store)


def tables(store: Store) -> dict[str, Path]:
    """Every experiment table (CSV), after every setting's subsets and the horses."""
    from .veracity import experiment_tables, settings

    for domain, target in settings():
        subsets(store, domain, target)
    horses(store)
    return experiment_tables(store)


def figures(store: Store) -> dict[str, list[Path]]:
    """Figures 1–4 (PNG and SVG) in the experiments folder."""
    from .plots import paper_figures

    tables(store)
    return paper_figures(store)


def everything(store: Store) -> dict[str, list[Path]]:
    """All stages, including the detector's evaluation."""
    evaluation(store)
    return figures(store)
