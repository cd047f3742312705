"""GPU-vs-CPU agreement: the same detector forward and the same LIME explanation on both.

Run: ``python bench/gpu_agree.py [--device cuda] [--width 1.0] [--samples 1024] [--json OUT]``

One detector (random weights, BatchNorm statistics from a few training-mode passes so that
folding them is not trivial) is evaluated on the CPU and on ``--device``:

* the plain module on a batch of 115-frame log-mel excerpts (``net(x, preprocess=False)``);
* the dense whole-song forward (:func:`svdlib.detector.inference.predict_song`) on a short
  random song;
* the fast LIME predictor (:func:`svdlib.detector.predictor.detector_predict_fn`) on the same
  excerpts;
* one batched LIME explanation (:class:`svdlib.explain.explainers.LimeExplainer`, same seed): the
  neighbourhood outputs and the surrogate's weights and intercept.

With TF32 off (cuDNN and cuBLAS in full float32) each maximum absolute difference must stay
under its tolerance (PASS/FAIL, exit status 1 on any FAIL); the same comparison with PyTorch's
default (cuDNN TF32 on) is printed for information. Without CUDA the comparison runs CPU vs
``--device`` anyway (the CPU rehearsal compares the CPU with itself).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator

import numpy as np
import torch

from svdlib.audio.settings import FrontEndConfig
from svdlib.detector.inference import predict_song
from svdlib.detector.model import build_model
from svdlib.detector.predictor import detector_predict_fn
from svdlib.detector.settings import ModelConfig
from svdlib.explain.explainers import LimeExplainer
from svdlib.explain.segments import Segmentation

TOLERANCES = {"forward P(sing)": 1e-4, "dense song P(sing)": 1e-4,
              "fast predictor P(sing)": 1e-4, "LIME outputs": 1e-4, "LIME weights": 1e-4,
              "LIME intercept": 1e-4}


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """Set cuDNN's and cuBLAS's TF32 use for the duration."""
    saved = (torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    torch.backends.cudnn.allow_tf32 = enabled
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = saved[0]
        torch.set_float32_matmul_precision(saved[1])


def outputs_on(device: torch.device, net: torch.nn.Module, excerpts: torch.Tensor,
               song: np.ndarray, lime_input: np.ndarray, samples: int) -> dict[str, np.ndarray]:
    """Everything compared, computed on ``device``, as float64 host arrays."""
    net = net.to(device).eval()
    with torch.inference_mode():
        probs = torch.sigmoid(net(excerpts.to(device), preprocess=False)).reshape(-1)
    dense = predict_song(net, song, device)
    predictor = detector_predict_fn(net, device=device)
    fast = predictor(excerpts.to(device))
    explanation = LimeExplainer(predictor, Segmentation(), num_samples=samples,
                                seed=0).explanation(lime_input)
    net.cpu()
    return {"forward P(sing)": probs.double().cpu().numpy(),
            "dense song P(sing)": np.asarray(dense, np.float64),
            "fast predictor P(sing)": fast.double().cpu().numpy(),
            "LIME outputs": np.asarray(explanation.neighborhood_labels, np.float64),
            "LIME weights": explanation.weights(1),
            "LIME intercept": np.array([explanation.intercept[1]]),
            "_ranking": np.array([c for c, _ in explanation.local_exp[1]])}


def main() -> None:
    """Compare, print PASS/FAIL lines, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--samples", type=int, default=1024, help="LIME neighbourhood size")
    parser.add_argument("--excerpts", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0, help="song length (dense)")
    parser.add_argument("--json", default=None, metavar="OUT")
    args = parser.parse_args()
    device = torch.device(args.device)

    torch.manual_seed(0)
    frontend = FrontEndConfig()
    net = build_model(ModelConfig(width=args.width), frontend)
    rng = np.random.default_rng(0)
    song = rng.random((int(args.seconds * frontend.fps), 513)).astype(np.float32) ** 2
    net.train()
    with torch.no_grad():  # non-trivial BatchNorm running statistics
        for _ in range(3):
            net(torch.from_numpy(song[:400][None]))
    net.eval()
    with torch.inference_mode():
        logmel = net.preprocess(torch.from_numpy(song)[None])[0]
    starts = rng.integers(0, logmel.shape[0] - 115, args.excerpts)
    excerpts = torch.stack([logmel[s:s + 115] for s in starts]).contiguous()
    lime_input = excerpts[0].numpy().copy()

    with tf32(False):
        reference = outputs_on(torch.device("cpu"), net, excerpts, song, lime_input, args.samples)
        strict = outputs_on(device, net, excerpts, song, lime_input, args.samples)
    default = None
    if device.type == "cuda":
        with tf32(True):
            default = outputs_on(device, net, excerpts, song, lime_input, args.samples)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"CPU vs {device} ({name}), width {args.width}, {args.excerpts} excerpts, "
          f"{args.seconds:g} s song, LIME {args.samples} samples")
    rows, failed = [], False
    for key, tol in TOLERANCES.items():
        diff = float(np.abs(strict[key] - reference[key]).max())
        ok = diff <= tol
        failed |= not ok
        row = {"quantity": key, "max_abs_diff": diff, "tolerance": tol,
               "result": "PASS" if ok else "FAIL"}
        line = f"  {key:24s} max |diff| {diff:9.2e} (tol {tol:.0e}) {row['result']}"
        if default is not None:
            row["max_abs_diff_tf32"] = float(np.abs(default[key] - reference[key]).max())
            line += f"   with TF32 on: {row['max_abs_diff_tf32']:9.2e}"
        rows.append(row)
        print(line)
    same_rank = bool(np.array_equal(strict["_ranking"], reference["_ranking"]))
    print(f"  LIME ranking of the 20 segments identical: {'yes' if same_rank else 'no'}")
    print(f"agreement: {'FAIL' if failed else 'PASS'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": str(device), "width": args.width, "samples": args.samples,
                       "excerpts": args.excerpts, "seconds": args.seconds, "rows": rows,
                       "same_ranking": same_rank, "result": "FAIL" if failed else "PASS"},
                      handle, indent=1)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
