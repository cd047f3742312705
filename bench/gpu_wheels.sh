#!/usr/bin/env bash
# Download here the wheels that bench/gpu.sh installs on the GPU machine (CPython 3.12,
# x86-64 Linux, no network there) into bench/wheels/, which is git-ignored and travels with
# the device run's `carry: ["bench/wheels"]` (64 MiB in all, the working tree included).
#
#   bench/gpu_wheels.sh            the packages the device image lacks (default)
#   bench/gpu_wheels.sh --all      every run-time dependency of svdlib except torch, for an
#                                  image without numpy, scipy, pandas, ... (does NOT fit 64 MiB)
#
# The device's image ships torch (CUDA), numpy, scipy, scikit-learn, scikit-image, pandas,
# matplotlib, seaborn, tqdm, pyyaml, safetensors, numba/llvmlite, lazy-loader, joblib, msgpack,
# requests, packaging, six, typing-extensions (/work/.library/device/KINDS.md); it lacks
# librosa and its audioread, decorator, pooch (platformdirs), soxr and soundfile (cffi,
# pycparser); lime; and the corpus generator's pysinsy, pretty_midi (mido,
# importlib_resources) and tinysoundfont.
# captum is added for the LIME comparison, setuptools<81 for pysinsy's pkg_resources (gpu.sh
# installs it only where pkg_resources is missing). Versions are those of .venv where it has
# the package, so the device runs what the tests here ran. torch and nvidia-* are never
# downloaded. lime and pysinsy publish no cp312 wheels: they are built here with a CPython 3.12
# (PY312, default: the first python3.12 found, pyenv's included), pysinsy from source (C++,
# about a minute on two cores); its wheel needs glibc >= 2.29 and GLIBCXX_3.4.29 (GCC 11).
# The device corpus cannot be carried instead: the paper's 93 two-minute songs are about
# 300 MB of FLAC, while the generator's wheels are about 10 MB.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
DEST=bench/wheels
VENV_PY=${VENV_PY:-$REPO/.venv/bin/python}
MODE=${1:-}

MISSING=(librosa audioread decorator pooch platformdirs soxr soundfile cffi pycparser lime
  pysinsy pretty_midi mido importlib_resources tinysoundfont captum "setuptools<81")
ALL=(numpy scipy scikit-learn scikit-image pandas matplotlib contourpy cycler fonttools
  kiwisolver pillow pyparsing python-dateutil six seaborn tqdm pyyaml safetensors numba
  llvmlite lazy_loader joblib threadpoolctl msgpack typing_extensions packaging requests
  certifi charset-normalizer idna urllib3 networkx imageio tifffile tzdata)
SDIST_ONLY=(lime pysinsy)

case $MODE in
  "") PACKAGES=("${MISSING[@]}") ;;
  --all) PACKAGES=("${MISSING[@]}" "${ALL[@]}") ;;
  *) sed -n '2,25p' "$0"; exit 2 ;;
esac

# pin each package to the version .venv has (if it has it)
pin() {
  local spec=$1 name version
  [[ $spec == *[\<\>=]* ]] && { echo "$spec"; return; }
  name=$spec
  version=$("$VENV_PY" -c "import importlib.metadata as m, sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass" "$name" 2>/dev/null || true)
  if [[ -n $version ]]; then echo "$name==$version"; else echo "$name"; fi
}

PY312=${PY312:-$(command -v python3.12 2>/dev/null || true)}
if [[ -z $PY312 ]] || ! "$PY312" --version >/dev/null 2>&1; then
  PY312=$(ls -d "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -1 || true)
fi

mkdir -p "$DEST"
PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312
  --abi abi3 --abi none --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux_2_27_x86_64 --platform manylinux_2_28_x86_64 --platform any)
for spec in "${PACKAGES[@]}"; do
  pinned=$(pin "$spec")
  name=${spec%%[<>=]*}
  case $name in torch | nvidia-*) continue ;; esac
  if [[ " ${SDIST_ONLY[*]} " == *" $name "* ]]; then
    if [[ -z $PY312 ]]; then
      echo "gpu_wheels.sh: no CPython 3.12 here to build $pinned (set PY312)" >&2
      exit 1
    fi
    if compgen -G "$DEST/${name}-*-cp312-*.whl" >/dev/null ||
      compgen -G "$DEST/${name}-*-py3-none-any.whl" >/dev/null; then
      echo "have $name"
      continue
    fi
    echo "building $pinned with $PY312"
    "$PY312" -m pip wheel -q --no-deps -w "$DEST" "$pinned"
  else
    echo "downloading $pinned"
    "$VENV_PY" -m pip download -q --no-deps "${PLATFORM[@]}" -d "$DEST" "$pinned"
  fi
done

# one version per distribution: pip refuses two wheels of one name
"$VENV_PY" - "$DEST" <<'EOF'
import collections, re, sys
from pathlib import Path
wheels = collections.defaultdict(list)
for w in Path(sys.argv[1]).glob("*.whl"):
    wheels[re.sub(r"[-_.]+", "-", w.name.split("-")[0]).lower()].append(w)
dupes = {k: [w.name for w in v] for k, v in wheels.items() if len(v) > 1}
if dupes:
    sys.exit(f"more than one wheel of: {dupes}; delete the stale ones")
EOF

TOTAL=$(du -cb "$DEST"/*.whl | tail -1 | cut -f1)
TREE=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo
ls -l "$DEST"
LIMIT=$((64 * 1024 * 1024))
echo "wheels: $(ls "$DEST"/*.whl | wc -l) files, $((TOTAL / 1024)) KiB; working tree that" \
  "travels: $((TREE / 1024)) KiB; together $(((TOTAL + TREE) * 100 / LIMIT)) % of the 64 MiB" \
  "carry limit: $( ((TOTAL + TREE < LIMIT)) && echo fits || echo 'DOES NOT FIT')"
