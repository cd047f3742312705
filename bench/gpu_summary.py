"""The markdown summary of one bench/gpu.sh run: steps, measurements, how far ``svd run`` got.

Run: ``python bench/gpu_summary.py OUTDIR`` (bench/gpu.sh does, last); prints the summary and
writes ``OUTDIR/summary.md``. It reads what the steps left in OUTDIR (``steps.tsv``, the
``*.json`` of the benchmarks, ``svd.log`` with its time stamps) and tolerates any of them
missing: a step that failed or was skipped shows as such.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

STAMP = re.compile(r"^\[(\d\d:\d\d:\d\d) \+(\d+)s\] (.*)$")


def load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def rate(value: float) -> str:
    return f"{value / 1e12:.2f} TFLOP/s" if value >= 1e11 else f"{value / 1e9:.1f} GFLOP/s"


def steps_table(out: Path) -> list[str]:
    lines = ["| step | status | wall s | budget s | note |", "|---|---|---|---|---|"]
    path = out / "steps.tsv"
    if not path.is_file():
        return [*lines, "| (no steps.tsv) | | | | |"]
    for row in path.read_text(encoding="utf-8").splitlines():
        name, status, rc, seconds, budget, *note = [*row.split("\t"), ""]
        status = status if status != "FAIL" else f"FAIL (exit {rc})"
        lines.append(f"| {name} | {status} | {seconds} | {budget} | {note[0]} |")
    return lines


def verdict(out: Path) -> str:
    """One line: FAIL if a step failed, else PASS (naming the steps stopped at their limit)."""
    path = out / "steps.tsv"
    rows = [r.split("\t") for r in path.read_text(encoding="utf-8").splitlines()] \
        if path.is_file() else []
    failed = [r[0] for r in rows if r[1] == "FAIL"]
    stopped = [r[0] for r in rows if r[1] in ("timeout", "skipped")]
    if not rows:
        return "Result: FAIL (no step ran)."
    if failed:
        return f"Result: FAIL ({', '.join(failed)} failed)."
    note = (f"; stopped at the time limit or skipped: {', '.join(stopped)}" if stopped
            else "")
    return f"Result: PASS (every step ran without an error{note})."


def svd_stages(out: Path) -> dict[str, Any] | None:
    """Stages of ``svd run`` from the stamped log: start, wall time, finished or not."""
    log = out / "svd.log"
    if not log.is_file():
        return None
    stages: list[dict[str, Any]] = []
    last_t = None
    tail: list[str] = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = STAMP.match(line)
        if not match:
            continue
        clock, elapsed, text = match.group(1), int(match.group(2)), match.group(3)
        last_t = elapsed
        tail = [*tail[-5:], text]
        stage = re.match(r"== svd (.+?) \(profile (.+)\)$", text)
        if stage:
            stages.append({"stage": stage.group(1), "start": clock, "t0": elapsed})
    status = load(out / "svd.json") or {}
    rc = status.get("rc")
    end = status.get("end_elapsed", last_t)
    for i, stage in enumerate(stages):
        nxt = stages[i + 1]["t0"] if i + 1 < len(stages) else end
        stage["seconds"] = None if nxt is None else nxt - stage["t0"]
        stage["finished"] = i + 1 < len(stages) or rc == 0
    return {"stages": stages, "rc": rc, "tail": tail, "timeout_s": status.get("timeout_s"),
            "profile": status.get("profile")}


def measurements(out: Path) -> list[str]:
    rows: list[str] = ["| measurement | value |", "|---|---|"]
    matmul = load(out / "matmul.json")
    fp32 = tf32 = None
    if matmul:
        n = matmul["n"]
        for label, value in matmul["flops_per_s"].items():
            rows.append(f"| matmul {n}x{n} {label} | {rate(value)} |")
        fp32 = matmul["flops_per_s"].get("fp32 (TF32 off)")
        tf32 = matmul["flops_per_s"].get("fp32 (TF32 on)")
    for path in sorted(out.glob("lime*.json")):
        lime = load(path)
        if not lime:
            continue
        tag = (f"LIME {lime['samples']} samples, width {lime['width']:g}, batch {lime['batch']}"
               f" ({lime['device']})")
        ours = lime["paths"].get("batched explanation (ours)")
        for name, entry in lime["paths"].items():
            scaled = (f" (timed on {entry['scaled_from']}, scaled)"
                      if entry["scaled_from"] != lime["samples"] else "")
            ratio = f", {entry['median_s'] / ours['median_s']:.2f}x ours" if ours else ""
            rows.append(f"| {tag}: {name} | {entry['median_s']:.3f} s, "
                        f"{entry['samples_per_s']:.0f} samples/s{ratio}{scaled} |")
        if lime.get("captum_note"):
            rows.append(f"| {tag}: captum | skipped: {lime['captum_note']} |")
        if ours:
            achieved = ours["samples_per_s"] * lime["flops_per_excerpt"]
            text = (f"{rate(achieved)} ({lime['flops_per_excerpt'] / 1e9:.3f} GFLOP per "
                    "excerpt x samples/s)")
            if fp32:
                text += f" = {100 * achieved / fp32:.1f} % of the fp32 (TF32 off) matmul rate"
            if tf32:
                text += f", {100 * achieved / tf32:.1f} % of the TF32 rate"
            if lime.get("device", "").startswith("cuda"):
                text += (f"; cuDNN TF32 {'on' if lime.get('cudnn_allow_tf32') else 'off'} "
                         "for the convolutions")
            rows.append(f"| {tag}: throughput as FLOPs | {text} |")
    detector = load(out / "detector.json")
    if detector:
        for row in detector["rows"]:
            rows.append(f"| dense vs excerpt-wise, width {row['width']:g}, "
                        f"{detector['seconds']:g} s song ({detector['device']}) | "
                        f"dense {row['dense_s'] * 1e3:.1f} ms, excerpt-wise "
                        f"{row['excerpts_s'] * 1e3:.1f} ms: {row['ratio']:.1f}x faster; max diff "
                        f"{row['max_diff']:.1e}; train step {row['train_step_s'] * 1e3:.0f} ms |")
    attack = load(out / "attack.json")
    if attack:
        for row in attack["rows"]:
            rows.append(f"| attack iteration vs fwd+bwd, width {row['width']:g} {row['domain']}"
                        f", {attack['seconds']:g} s song ({attack['device']}) | "
                        f"{row['attack_iteration_s'] * 1e3:.1f} ms vs "
                        f"{row['fwd_bwd_s'] * 1e3:.1f} ms: {row['ratio']:.2f}x (target <= 1.5) |")
    agree = load(out / "agree.json")
    if agree:
        diffs = ", ".join(f"{r['quantity']} {r['max_abs_diff']:.1e}" for r in agree["rows"])
        tf = [r["max_abs_diff_tf32"] for r in agree["rows"] if "max_abs_diff_tf32" in r]
        extra = f"; with TF32 on, worst {max(tf):.1e}" if tf else ""
        rows.append(f"| CPU vs {agree['device']} agreement (width {agree['width']:g}, LIME "
                    f"{agree['samples']} samples) | {agree['result']}: max abs diff {diffs}; "
                    f"same LIME ranking: {'yes' if agree['same_ranking'] else 'no'}{extra} |")
    return rows


def svd_section(out: Path) -> list[str]:
    info = svd_stages(out)
    if info is None:
        return ["svd run: not started."]
    rc = info["rc"]
    state = {0: "finished", 124: "stopped by its time limit", 137: "killed at its time limit",
             None: "unknown (no exit status)"}.get(rc, f"failed (exit {rc})")
    lines = [f"svd run (profile {info['profile']}, time limit {info['timeout_s']} s): {state}.",
             "", "| stage | started | wall s | finished |", "|---|---|---|---|"]
    for stage in info["stages"]:
        seconds = "" if stage["seconds"] is None else str(stage["seconds"])
        lines.append(f"| {stage['stage']} | {stage['start']} | {seconds} | "
                     f"{'yes' if stage['finished'] else 'no'} |")
    if info["tail"]:
        lines += ["", "Last lines of its output:", "", "```", *info["tail"], "```"]
    corpus = out / "corpus.log"
    if corpus.is_file():
        ready = [line for line in corpus.read_text(errors="replace").splitlines()
                 if "corpus ready" in line]
        if ready:
            lines += ["", f"Corpus (parallel pre-generation before svd run): {ready[-1]}"]
    tables = sorted((out / "tables").glob("*")) if (out / "tables").is_dir() else []
    lines += ["", f"Tables copied to tables/: {', '.join(t.name for t in tables) or 'none'}."]
    return lines


def main() -> None:
    """Write and print the summary."""
    out = Path(sys.argv[1])
    env = load(out / "env.json") or {}
    smoke = env.get("smoke")
    title = ("# bench/gpu.sh --smoke: CPU rehearsal (tiny sizes; these are not GPU results)"
             if smoke else "# bench/gpu.sh: the GPU path, measured")
    lines = [title, ""]
    if env:
        lines.append(f"Device: {env.get('device_name', '?')}; torch {env.get('torch', '?')} "
                     f"(CUDA {env.get('cuda') or '-'}), python {env.get('python', '?')}, "
                     f"{env.get('cpus', '?')} CPUs; started {env.get('started', '?')}, "
                     f"deadline {env.get('deadline_s', '?')} s.")
    finished = out / "finished_s"
    if finished.is_file():
        lines.append(f"Finished after {finished.read_text().strip()} s.")
    lines += ["", verdict(out), "", "## Steps", "", *steps_table(out), "", "## Measurements", "",
              *measurements(out), "", "## svd run", "", *svd_section(out), ""]
    text = "\n".join(lines)
    (out / "summary.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
