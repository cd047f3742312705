#!/usr/bin/env bash
# One prepared visit to a GPU machine: the LIME, detector and attack benchmarks on the device,
# the device's matmul rate, a GPU-vs-CPU agreement check, then `svd run --profile paper` with
# one detector in the time left, and a markdown summary.
#
#   bench/gpu.sh [--smoke] [--pack] OUTDIR
#
#   --smoke  rehearse every step on this CPU with tiny sizes (quarter-width detector, few LIME
#            samples, 5 s songs, `--profile tiny`, device cpu, the .venv python); a couple of
#            minutes. Its numbers are not GPU results.
#   --pack   for the device tool, which brings back at most 8 files: keep the svd results store
#            in /tmp, and leave in OUTDIR only summary.md, console.log and bundle.tar.gz (every
#            log, JSON and table of the run).
#
# Environment (all optional):
#   GPU_DEADLINE_S  seconds from start after which no step runs (default 540: the run fits one
#                   device command of at most 600 s; 360 with --smoke)
#   GPU_RESERVE_S   seconds kept back for the tables and the summary (default 20)
#   GPU_PYTHON      the python to use (default python3, the device's own with its CUDA torch;
#                   with --smoke .venv/bin/python)
#   GPU_DEVICE      torch device of the benchmarks and of svd run (default cuda; cpu for --smoke)
#   GPU_SITE        where missing packages are installed from bench/wheels (/tmp/svd-gpu-site)
#   GPU_RESULTS     svd results root (default OUTDIR/results; /tmp/svd-gpu-results with --pack)
#   GPU_STEPS       comma-separated steps to run (default all:
#                   env,install,matmul,agree,lime,lime_big,detector,attack,corpus,svd);
#                   e.g. GPU_STEPS=env,install,svd continues an interrupted svd run
#
# Every step runs under `timeout` with its own budget, cut to the time left before the
# deadline; a failing step is recorded in OUTDIR/steps.tsv and the next one runs. Each step's
# output is stamped `[HH:MM:SS +Ns]` (N: seconds since the start) into OUTDIR/STEP.log.
# Packages the device's python lacks come from the wheels that bench/gpu_wheels.sh downloads
# (carry bench/wheels with the run); nothing is installed when everything already imports.
set -u -o pipefail

usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

SMOKE=0
PACK=0
OUTDIR=""
while (($#)); do
  case $1 in
    --smoke) SMOKE=1 ;;
    --pack) PACK=1 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "gpu.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) OUTDIR=$1 ;;
  esac
  shift
done
[[ -n $OUTDIR ]] || { usage >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 2
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd) || exit 2
: >"$OUTDIR/steps.tsv"
exec > >(tee -a "$OUTDIR/console.log") 2>&1
TEE_PID=$!

T0=$EPOCHSECONDS
if ((SMOKE)); then
  DEADLINE_S=${GPU_DEADLINE_S:-360}
  DEVICE=${GPU_DEVICE:-cpu}
  if [[ -n ${GPU_PYTHON:-} ]]; then PY=$GPU_PYTHON
  elif [[ -x $REPO/.venv/bin/python ]]; then PY=$REPO/.venv/bin/python
  else PY=python3; fi
  PROFILE=tiny
else
  DEADLINE_S=${GPU_DEADLINE_S:-540}
  DEVICE=${GPU_DEVICE:-cuda}
  PY=${GPU_PYTHON:-python3}
  PROFILE=paper
fi
DEADLINE=$((T0 + DEADLINE_S))
RESERVE=${GPU_RESERVE_S:-20}
SITE=${GPU_SITE:-/tmp/svd-gpu-site}
if ((PACK)); then RESULTS=${GPU_RESULTS:-/tmp/svd-gpu-results}
else RESULTS=${GPU_RESULTS:-$OUTDIR/results}; fi
STEPS=${GPU_STEPS:-env,install,matmul,agree,lime,lime_big,detector,attack,corpus,svd}
export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg PYTHONWARNINGS=ignore::DeprecationWarning

# prefix each line with the clock and the seconds since the start; of a line that progress
# bars rewrote with carriage returns keep the last state, and drop lines left blank
stamp() {
  local line
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line##*$'\r'}
    [[ $line == *[![:space:]]* ]] || continue
    printf '[%(%H:%M:%S)T +%ds] %s\n' -1 "$((EPOCHSECONDS - T0))" "$line"
  done
}
log() { printf '%s\n' "$*" | stamp; }
want() { [[ ",$STEPS," == *",$1,"* ]]; }
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUTDIR/steps.tsv"; }
left() { echo $((DEADLINE - EPOCHSECONDS - RESERVE)); }

# run_step NAME BUDGET COMMAND...: run under timeout(min(BUDGET, time left)), stamped into
# OUTDIR/NAME.log and the console; record status and wall time. Never fails the script.
LAST_RC=0
LAST_LIMIT=0
run_step() {
  local name=$1 budget=$2
  shift 2
  want "$name" || return 0
  local remaining
  remaining=$(left)
  if ((remaining < 5)); then
    record "$name" skipped - 0 "$budget" "no time left before the deadline"
    log "step $name: skipped, no time left"
    LAST_RC=-1
    LAST_LIMIT=0
    return 0
  fi
  local limit=$((budget < remaining ? budget : remaining)) start=$EPOCHSECONDS rc
  log "== step $name (limit ${limit} s): $*"
  timeout -k 10 "$limit" "$@" 2>&1 | stamp | tee -a "$OUTDIR/$name.log"
  rc=${PIPESTATUS[0]}
  local status=ok note=""
  if ((rc == 124 || rc == 137)); then status=timeout note="stopped at its ${limit} s limit"
  elif ((rc != 0)); then status=FAIL; fi
  record "$name" "$status" "$rc" "$((EPOCHSECONDS - start))" "$limit" "$note"
  log "== step $name: $status (exit $rc) after $((EPOCHSECONDS - start)) s"
  LAST_RC=$rc
  LAST_LIMIT=$limit
  return 0
}

log "bench/gpu.sh: smoke=$SMOKE device=$DEVICE python=$PY deadline=${DEADLINE_S}s out=$OUTDIR"
log "results store: $RESULTS; steps: $STEPS"

# -- the machine ------------------------------------------------------------------------------
ENV_PY='
import json, os, platform, sys, time
import torch
cuda = torch.cuda.is_available()
info = {"smoke": sys.argv[2] == "1", "deadline_s": int(sys.argv[3]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(int(sys.argv[4]))),
        "python": platform.python_version(), "executable": sys.executable,
        "torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": cuda,
        "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads()}
if cuda:
    p = torch.cuda.get_device_properties(0)
    info.update(gpu_memory_gib=round(p.total_memory / 2**30, 1), sm_count=p.multi_processor_count,
                capability=f"{p.major}.{p.minor}", cudnn=torch.backends.cudnn.version())
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(json.dumps(info, indent=1))
'
run_step env 60 "$PY" -c "$ENV_PY" "$OUTDIR/env.json" "$SMOKE" "$DEADLINE_S" "$T0"
if ((!SMOKE)) && command -v nvidia-smi >/dev/null && want env; then
  nvidia-smi 2>&1 | stamp >>"$OUTDIR/env.log"
fi
run_step install 120 "$PY" bench/gpu_install.py --wheels bench/wheels --target "$SITE"

# -- benchmarks -------------------------------------------------------------------------------
if ((SMOKE)); then
  run_step matmul 60 "$PY" bench/gpu_matmul.py --n 512 --repeats 3 --device "$DEVICE" \
    --json "$OUTDIR/matmul.json"
  run_step agree 90 "$PY" bench/gpu_agree.py --device "$DEVICE" --width 0.25 --samples 64 \
    --excerpts 4 --seconds 3 --json "$OUTDIR/agree.json"
  run_step lime 90 "$PY" bench/bench_lime.py --device "$DEVICE" --width 0.25 --samples 64 \
    --subset 24 --repeats 1 --json "$OUTDIR/lime.json"
  run_step lime_big 60 "$PY" bench/bench_lime.py --device "$DEVICE" --width 0.25 \
    --samples 64 --batch-size 32 --repeats 1 --no-per-sample --no-captum \
    --json "$OUTDIR/lime_b32.json"
  run_step detector 60 "$PY" bench/bench_detector.py --device "$DEVICE" --widths 0.25 \
    --seconds 3 --repeats 1 --json "$OUTDIR/detector.json"
  run_step attack 60 "$PY" bench/bench_attack.py --device "$DEVICE" --widths 0.25 \
    --seconds 3 --repeats 1 --iterations 2 --json "$OUTDIR/attack.json"
else
  run_step matmul 60 "$PY" bench/gpu_matmul.py --n 8192 --repeats 10 --device "$DEVICE" \
    --json "$OUTDIR/matmul.json"
  run_step agree 90 "$PY" bench/gpu_agree.py --device "$DEVICE" --width 1.0 --samples 1024 \
    --excerpts 64 --seconds 20 --json "$OUTDIR/agree.json"
  run_step lime 150 "$PY" bench/bench_lime.py --device "$DEVICE" --width 1.0 --samples 8192 \
    --subset 512 --repeats 3 --json "$OUTDIR/lime.json"
  run_step lime_big 60 "$PY" bench/bench_lime.py --device "$DEVICE" --width 1.0 \
    --samples 8192 --batch-size 2048 --repeats 3 --no-per-sample --no-captum \
    --json "$OUTDIR/lime_b2048.json"
  run_step detector 90 "$PY" bench/bench_detector.py --device "$DEVICE" --widths 0.25,1.0 \
    --seconds 30 --repeats 5 --json "$OUTDIR/detector.json"
  run_step attack 120 "$PY" bench/bench_attack.py --device "$DEVICE" --widths 0.25,1.0 \
    --seconds 30 --repeats 5 --json "$OUTDIR/attack.json"
fi

# -- svd run in the time left -----------------------------------------------------------------
# progress bars on (so the log shows how far training got when time runs out), redrawn at
# most every 15 s (tqdm reads TQDM_* defaults from the environment)
export TQDM_MININTERVAL=${TQDM_MININTERVAL:-15}
SVD_ARGS=(--profile "$PROFILE" --set "train.seeds=[0]" --results "$RESULTS" --device "$DEVICE")
if ((SMOKE)); then  # tiny, and lighter still: the rehearsal checks the plumbing, not numbers
  for setting in train.epochsize=8 attack.wave.max_iterations=4 attack.spec.max_iterations=4 \
    lime.num_samples=48 lime.pick_per_file=2 experiment.bootstrap=100; do
    SVD_ARGS+=(--set "$setting")
  done
fi
# the songs in parallel first (svd corpus makes them one by one), then svd run skips them
run_step corpus 180 "$PY" bench/gpu_corpus.py -- corpus "${SVD_ARGS[@]}"
if want svd; then
  run_step svd "$(left)" "$PY" -m svdlib.cli run "${SVD_ARGS[@]}"
  printf '{"rc": %s, "timeout_s": %s, "profile": "%s", "end_elapsed": %s}\n' \
    "$LAST_RC" "$LAST_LIMIT" "$PROFILE" "$((EPOCHSECONDS - T0))" >"$OUTDIR/svd.json"
fi
if [[ -d $RESULTS ]]; then
  mkdir -p "$OUTDIR/tables"
  while IFS= read -r -d '' file; do
    rel=${file#"$RESULTS"/}
    cp "$file" "$OUTDIR/tables/${rel//\//__}"
  done < <(find "$RESULTS" -type f \( -name '*.csv' -o -name 'summary.json' \) -size -4M \
    -not -path '*/corpus/*' -print0)
  log "copied $(find "$OUTDIR/tables" -type f | wc -l) tables from $RESULTS to $OUTDIR/tables"
fi

# -- summary ----------------------------------------------------------------------------------
echo "$((EPOCHSECONDS - T0))" >"$OUTDIR/finished_s"
"$PY" bench/gpu_summary.py "$OUTDIR" || log "summary failed"
if ((PACK)); then
  tar -czf "/tmp/svd-gpu-bundle.tar.gz" -C "$OUTDIR" --exclude=./results . &&
    mv /tmp/svd-gpu-bundle.tar.gz "$OUTDIR/bundle.tar.gz" &&
    find "$OUTDIR" -mindepth 1 -maxdepth 1 -not -name summary.md -not -name console.log \
      -not -name bundle.tar.gz -exec rm -rf {} +
  log "packed: $(ls "$OUTDIR" | tr '\n' ' ')"
fi
log "bench/gpu.sh done after $((EPOCHSECONDS - T0)) s (deadline ${DEADLINE_S} s)"
exec 1>&- 2>&-
wait "$TEE_PID" 2>/dev/null
exit 0
