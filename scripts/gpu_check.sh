#!/usr/bin/env bash
# The one prepared GPU check (issue 14): the CUDA-only tests, then `python -m bench.gpu --json`.
#
# The GPU machine's image (as seen 2026-11: Python 3.12, its own torch+CUDA build) has transformers, scipy,
# scikit-image, numpy, pytest; it lacks diffusers, triangle, cffi, cairocffi and libcairo, and has
# no network. They travel in a carried folder, prepared on the CPU host BEFORE the GPU session:
#
#   scripts/gpu_check.sh --prepare            # writes .cache/gpu-carry (a few MiB, no torch)
#
# which runs (versions: the project venv's, so the code runs against what it was tested with)
#   pip download --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       --no-deps -d .cache/gpu-carry/wheels diffusers==… triangle==… cffi==… pycparser==… \
#       cairocffi==… importlib_metadata==… zipp==…
#   apt-get download libcairo2 + the libraries it links that a slim image may lack → .debs
# (--no-deps: torch and the rest of the stack come from the image; never gigabytes.)
#
# Then, in the GPU session, carry the folder and run this script:
#   run(command="bash scripts/gpu_check.sh", carry=[".cache/gpu-carry"], timeout_s=580)
# It installs the wheels with `pip install --no-index --no-deps --target`, unpacks the .debs with
# `dpkg -x`, puts both first on PYTHONPATH / LD_LIBRARY_PATH, runs the 5 CUDA tests, then the
# benchmark under its own time limit and a hard `timeout`. Results land in $OUT (gpu_bench.json,
# cuda_tests.txt, bench.log).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CARRY="${GPU_CARRY:-$ROOT/.cache/gpu-carry}"
DEBS="libcairo2 libpixman-1-0 libfontconfig1 libfreetype6 libpng16-16 libxcb-shm0 libxcb-render0 libxcb1 \
libxrender1 libx11-6 libxext6 libxau6 libxdmcp6 libbsd0 libmd0 libbrotli1"

if [[ "${1:-}" == "--prepare" ]]; then
  PY="$ROOT/.venv/bin/python"
  pins=()
  for name in diffusers triangle cffi pycparser cairocffi importlib_metadata zipp; do
    pins+=("$name==$("$PY" -c "import importlib.metadata as m; print(m.version('$name'))")")
  done
  mkdir -p "$CARRY/wheels" "$CARRY/debs"
  "$PY" -m pip download -q --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
    --no-deps -d "$CARRY/wheels" "${pins[@]}"
  (cd "$CARRY/debs" && apt-get download $DEBS)
  du -sh "$CARRY"; ls "$CARRY"/wheels "$CARRY"/debs
  exit 0
fi

OUT="${OUT:-$ROOT/outputs/gpu-check}"
mkdir -p "$OUT"
[[ -d "$CARRY/wheels" ]] || { echo "no $CARRY/wheels: run scripts/gpu_check.sh --prepare first and carry it" >&2; exit 2; }
SITE="$(mktemp -d /tmp/flexiclip-site.XXXX)"
LIBS="$(mktemp -d /tmp/flexiclip-libs.XXXX)"
python3 -m pip install -q --no-index --no-deps --target "$SITE" "$CARRY"/wheels/*.whl
for deb in "$CARRY"/debs/*.deb; do dpkg -x "$deb" "$LIBS"; done
export PYTHONPATH="$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export LD_LIBRARY_PATH="$LIBS/usr/lib/x86_64-linux-gnu:$LIBS/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
cd "$ROOT"
python3 -c "import torch, diffusers, triangle, cairocffi; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '-', 'diffusers', diffusers.__version__, 'cairo', cairocffi.cairo_version_string())"

# The 5 CUDA-only tests (deform ×4, motion ×1); -p no:cacheprovider: the tree may be read-only.
timeout 240 python3 -m pytest -q -p no:cacheprovider -k cuda \
  tests/flexiclip_core/deform/test_solve.py tests/flexiclip_core/motion/test_temporal.py 2>&1 | tee "$OUT/cuda_tests.txt" || true

# The benchmark keeps to its own --time-limit; `timeout` is the backstop.
timeout "${BENCH_TIMEOUT:-420}" python3 -m bench.gpu --json --time-limit "${BENCH_LIMIT:-330}" ${BENCH_ARGS:-} \
  >"$OUT/gpu_bench.json" 2>"$OUT/bench.log" || echo "bench.gpu exit $?" >&2
tail -n 5 "$OUT/bench.log" >&2 || true
cat "$OUT/gpu_bench.json"
