"""Generate a profile's embedded corpus with one process per core, then finish it with svd.

Run: ``python bench/gpu_corpus.py [--workers N] -- corpus --profile paper --results DIR``
(everything after ``--`` is an ``svd`` command line; its configuration picks the corpus).

``svd corpus`` synthesises the songs one after another (about 4 s per 2-minute song on one
core, so some 6 minutes for the paper's 93). The songs are independent and deterministic, so
this helper first synthesises the missing ones in a process pool, with the same functions
and the same atomic writes as :func:`svdlib.data.synthetic.generate.generate_corpus`'s loop,
and then runs the
given ``svd corpus`` command, which finds every song in place, skips it, and writes the
filelists and the completion marker as usual. If the corpus module's helpers are not
where this expects them, it just runs ``svd corpus`` (sequential).
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

_ROOT: Path | None = None
_RATE = 22050


def _make(spec: object) -> str:
    from svdlib.data.synthetic import plan as corpus

    assert _ROOT is not None
    audio_path = _ROOT / "audio" / spec.name
    lab_path = _ROOT / "labels" / f"{spec.stem}.lab"
    if audio_path.is_file() and lab_path.is_file():
        return "skipped"
    audio, segments = corpus.synthesize_song(spec, _RATE)
    corpus._atomic_write(audio_path, functools.partial(corpus._write_flac, audio=audio,
                                                       rate=_RATE))
    corpus._atomic_write_text(lab_path, corpus._format_lab(segments))
    return "made"


def _init(root: Path, rate: int) -> None:
    global _ROOT, _RATE
    _ROOT, _RATE = root, rate


def main() -> int:
    """Pre-generate in parallel, then run the svd command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=0, help="processes (0: one per core)")
    parser.add_argument("svd", nargs=argparse.REMAINDER, help="-- then an svd corpus command")
    args = parser.parse_args()
    argv = args.svd[1:] if args.svd[:1] == ["--"] else args.svd
    from svdlib import cli
    from svdlib.data.synthetic import plan as corpus
    from svdlib.experiments.storage.store import Store

    start = time.perf_counter()
    helpers = all(hasattr(corpus, name) for name in (
        "corpus_plan", "synthesize_song", "_atomic_write", "_write_flac", "_atomic_write_text",
        "_format_lab")) and hasattr(cli, "_configure")
    cfg = cli._configure(cli.build_parser().parse_args(argv)) if helpers else None
    store = Store(cfg) if cfg is not None else None
    if store is None or store.external_data:
        print("running svd corpus sequentially" if store is None else "external corpus")
    else:
        root = store.data_root()
        c = cfg.corpus
        plan = corpus.corpus_plan(c.seed, c.n_train, c.n_valid, c.n_test, c.bars)
        for sub in ("audio", "labels", "filelists"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        workers = args.workers or os.cpu_count() or 1
        print(f"corpus {root}: {len(plan)} songs of {c.bars} bars, {workers} processes",
              flush=True)
        counts = {"made": 0, "skipped": 0}
        with ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=_init,
                                 initargs=(root, cfg.frontend.sample_rate)) as pool:
            for done, future in enumerate(as_completed(pool.submit(_make, s) for s in plan), 1):
                counts[future.result()] += 1
                if done % max(1, len(plan) // 10) == 0 or done == len(plan):
                    print(f"  {done}/{len(plan)} songs ({counts['made']} made, "
                          f"{counts['skipped']} already there), "
                          f"{time.perf_counter() - start:.0f} s", flush=True)
    code = cli.main(argv)
    print(f"corpus ready in {time.perf_counter() - start:.0f} s (svd corpus exit {code})")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
