"""The cost of one explanation by each of the seven explainers, against its forward passes.

Run ``.venv/bin/python bench/bench_explainers.py [--samples 1024] [--ig-steps 32]``
(``--paper``: 8192 samples, as the paper's LIME; ``--quick``: a smoke run). On the full-size
detector (random weights, eval mode) and one random ``(115, 80)`` log-mel excerpt with the
paper's 5 × 4 :class:`~svdlib.explain.segments.Segmentation`, every explainer is built as the
benchmark builds it (:func:`svdlib.experiments.artifacts.benchmark.explainers_of`, by the same
:func:`~svdlib.explain.explainers.needs_gradient`: LIME, KernelSHAP and occlusion get the fast
:class:`~svdlib.detector.predictor.DetectorPredictor`, the gradient methods
``lambda x: torch.sigmoid(predictor.module(x))``, the folded differentiable detector) and
timed on the excerpt, together with the reference cost of the model evaluations it makes:

* lime, kernelshap: one fast forward pass of ``samples`` pre-composed excerpts through the
  predictor in batches of ``--batch-size`` (256, LIME's);
* occlusion: one fast forward pass of its 21 inputs (the excerpt and 20 ablations);
* integrated_gradients: one forward + backward of ``n_steps`` inputs through the folded module
  (one batch, as captum's ``internal_batch_size`` 512 runs them);
* saliency, gradient_x_input: one forward + backward of 1 input;
* random: none (it never calls the model).

All paths are timed once per repeat, interleaved (each explainer next to its reference, the
order reversed every other repeat), and the table shows the median (and the range), so that
the ratios compare runs made side by side under the same machine load. The checks:

* LIME at the model's cost: one explanation costs at most 1.1 × the fast forward over its
  ``samples`` inputs (the median of the per-repeat ratios of the two neighbouring runs);
* perturbation throughput: KernelSHAP and occlusion each spend at most ``1 / 0.9`` of LIME's
  seconds per evaluated input (``(s / inputs) <= (s_lime / inputs_lime) / 0.9``);
* integrated gradients: one explanation with ``n`` steps costs at most 1.3 × one forward +
  backward over ``n`` inputs.

``--json OUT`` also writes the table and the checks as JSON (default: print only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from svdlib.audio.settings import FrontEndConfig
from svdlib.constants import EXPLAINERS
from svdlib.detector.model import build_model
from svdlib.detector.predictor import DetectorPredictor
from svdlib.detector.settings import ModelConfig
from svdlib.explain.attribution import SegmentExplainer
from svdlib.explain.explainers import make_explainer, needs_gradient
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.sampling import sample_masks
from svdlib.explain.segments import Segmentation

PERTURBATION = ("kernelshap", "occlusion")
LIME_CEILING = 1.1         # × the fast forward over LIME's inputs
THROUGHPUT_FLOOR = 0.9     # of LIME's inputs per second
IG_CEILING = 1.3           # × one forward + backward over n_steps inputs


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def load_avg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=None,
                        help="LIME and KernelSHAP samples (default 1024; 8192 with --paper)")
    parser.add_argument("--paper", action="store_true", help="the paper's 8192 samples")
    parser.add_argument("--ig-steps", type=int, default=32, help="integration steps")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--batch-size", type=int, default=256, help="LIME's inputs per call")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 128 samples, 8 steps, 1 repeat")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write results as JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    samples = args.samples or (128 if args.quick else 8192 if args.paper else 1024)
    steps = 8 if args.quick and args.ig_steps == 32 else args.ig_steps
    repeats = args.repeats or (1 if args.quick else 3)
    batch = args.batch_size

    torch.manual_seed(0)
    net = build_model(ModelConfig(), FrontEndConfig()).eval()
    seg = Segmentation()
    excerpt = np.random.default_rng(0).normal(-3.0, 2.0, (115, 80)).astype(np.float32)
    predictor = DetectorPredictor(net, device="cpu")
    module = predictor.module

    def probability(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(module(x))

    def build(num_samples: int, n_steps: int) -> dict[str, SegmentExplainer]:
        """The seven explainers as :func:`~svdlib.experiments.artifacts.benchmark.explainers_of`."""
        settings = {"lime": {"num_samples": num_samples, "batch_size": batch},
                    "kernelshap": {"num_samples": num_samples},
                    "integrated_gradients": {"n_steps": n_steps}}
        return {name: make_explainer(name, probability if needs_gradient(name) else predictor,
                                     seg, seed=0, baseline="mean", **settings.get(name, {}))
                for name in EXPLAINERS}

    explainers = build(samples, steps)
    inputs = {"lime": samples, "kernelshap": samples, "occlusion": seg.n_components + 1,
              "integrated_gradients": steps, "saliency": 1, "gradient_x_input": 1,
              "random": 0}

    composed = TimeFrequencyFactorization(excerpt, seg).compose_batch(
        sample_masks(seg.n_components, samples, 0), device=predictor.device)
    occluded = composed[:inputs["occlusion"]].clone()
    grad_inputs = {n: torch.from_numpy(np.repeat(excerpt[None], n, axis=0))
                   for n in sorted({steps, 1})}

    def fast_forward(x: torch.Tensor) -> Callable[[], object]:
        def run():
            for chunk in x.split(batch):
                predictor(chunk)
        return run

    def forward_backward(n: int) -> Callable[[], object]:
        def run():
            x = grad_inputs[n].clone().requires_grad_()
            probability(x).sum().backward()
            return x.grad
        return run

    refs: dict[str, Callable[[], object]] = {
        f"fast forward x{samples}": fast_forward(composed),
        f"fast forward x{inputs['occlusion']}": fast_forward(occluded),
        **{f"forward+backward x{n}": forward_backward(n) for n in grad_inputs},
    }
    ref_of = {"lime": f"fast forward x{samples}", "kernelshap": f"fast forward x{samples}",
              "occlusion": f"fast forward x{inputs['occlusion']}",
              "integrated_gradients": f"forward+backward x{steps}",
              "saliency": "forward+backward x1", "gradient_x_input": "forward+backward x1",
              "random": None}
    # each explainer, then its reference if new; LIME mid-sequence, between the fast forward
    # it shares with KernelSHAP and the gradient methods, so that no end position favours it
    order = ["occlusion", "kernelshap", "lime", *(n for n in EXPLAINERS
                                                  if n not in ("occlusion", "kernelshap", "lime"))]
    paths: dict[str, Callable[[], object]] = {}
    for name in order:
        paths[name] = lambda e=explainers[name]: e(excerpt)
        if ref_of[name] is not None:
            paths.setdefault(ref_of[name], refs[ref_of[name]])
    paths.update({name: fn for name, fn in refs.items() if name not in paths})

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, samples {samples}, "
          f"ig steps {steps}, batch {batch}, micro-batch {predictor.micro_batch}, "
          f"repeats {repeats}, load average before: {load_avg()}")
    # warm up (oneDNN primitives, captum imports); the sampling methods on a small budget
    warm = min(samples, 2 * batch)
    small = build(warm, steps)
    warm_paths = {**paths, f"fast forward x{samples}": fast_forward(composed[:warm]),
                  **{name: (lambda e=small[name]: e(excerpt)) for name in ("lime", "kernelshap")}}
    for fn in warm_paths.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in paths}
    for repeat in range(repeats):
        for name in list(paths) if repeat % 2 == 0 else list(paths)[::-1]:
            times[name].append(timed(paths[name]))
    med = {name: statistics.median(values) for name, values in times.items()}

    print(f"\nseconds for one explanation of one excerpt, median of {repeats} (range); "
          "reference: the model evaluations the method makes")
    print(f"| {'explainer':20s} | {'inputs':>6s} | {'median s':>9s} | {'range s':>15s} "
          f"| {'reference':22s} | {'ref s':>8s} | {'÷ ref':>6s} | {'ms / input':>10s} |")
    print(f"|{'-' * 22}|{'-' * 8}|{'-' * 11}|{'-' * 17}|{'-' * 24}|{'-' * 10}|{'-' * 8}"
          f"|{'-' * 12}|")
    rows = {}
    for name in EXPLAINERS:
        values, ref = times[name], ref_of[name]
        ratio = med[name] / med[ref] if ref else float("nan")
        per_input = med[name] / inputs[name] if inputs[name] else float("nan")
        rows[name] = {"inputs": inputs[name], "seconds": values, "median_s": med[name],
                      "reference": ref, "reference_s": med[ref] if ref else None,
                      "ratio": None if ref is None else ratio,
                      "s_per_input": None if not inputs[name] else per_input}
        print(f"| {name:20s} | {inputs[name]:6d} | {med[name]:9.4f} | {min(values):6.3f} - "
              f"{max(values):6.3f} | {ref or '-':22s} | "
              f"{med[ref] if ref else float('nan'):8.4f} | {ratio:6.2f} | "
              f"{per_input * 1e3:10.3f} |")
    print("\nreferences alone:")
    for name in refs:
        print(f"  {name:24s} {med[name]:8.4f} s  ({min(times[name]):.4f} - "
              f"{max(times[name]):.4f})")

    lime_per_input = med["lime"] / inputs["lime"]
    checks = {}
    print()
    paired = [a / b for a, b in zip(times["lime"], times[ref_of["lime"]], strict=True)]
    lime_ratio = statistics.median(paired)
    ok = lime_ratio <= LIME_CEILING
    checks["lime cost"] = {"paired_ratios": paired, "ratio": lime_ratio, "pass": ok}
    print(f"check LIME at the model's cost: {lime_ratio:.2f} x the fast forward over its "
          f"{samples} inputs, the median of the paired ratios "
          f"{' '.join(f'{r:.2f}' for r in paired)} (needs <= {LIME_CEILING}): "
          f"{'PASS' if ok else 'FAIL'}")
    for name in PERTURBATION:
        per_input = med[name] / inputs[name]
        share = lime_per_input / per_input
        ok = per_input <= lime_per_input / THROUGHPUT_FLOOR
        checks[f"{name} throughput"] = {"share_of_lime": share, "pass": ok}
        print(f"check {name} throughput: {per_input * 1e3:.3f} ms / input vs LIME's "
              f"{lime_per_input * 1e3:.3f} -> {share:.2f} of LIME's inputs per second "
              f"(needs >= {THROUGHPUT_FLOOR}): {'PASS' if ok else 'FAIL'}")
    ig_ratio = med["integrated_gradients"] / med[ref_of["integrated_gradients"]]
    ok = ig_ratio <= IG_CEILING
    checks["integrated_gradients cost"] = {"ratio": ig_ratio, "pass": ok}
    print(f"check integrated gradients: {steps} steps = {ig_ratio:.2f} x one forward+backward "
          f"over {steps} inputs (needs <= {IG_CEILING}): {'PASS' if ok else 'FAIL'}")
    print(f"\nload average after: {load_avg()}")
    if args.json:
        record = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                  "samples": samples, "ig_steps": steps, "batch": batch,
                  "micro_batch": predictor.micro_batch, "repeats": repeats,
                  "explainers": rows,
                  "references": {name: {"seconds": times[name], "median_s": med[name]}
                                 for name in refs},
                  "checks": checks}
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
