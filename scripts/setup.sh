#!/usr/bin/env bash
# Installs everything corl needs on a fresh Debian/Ubuntu machine and builds the libtorch addon:
#   apt: libtorch-dev (libtorch 1.13 headers and libraries), libgloo-dev (Gloo's headers, for torch.distributed:
#   src/torch/distributed.ts), libopenblas0-pthread (fast BLAS; Debian's default reference BLAS is ~33x slower),
#   cmake and a C++ compiler, chromium + fonts-liberation (the report-card test renders report.html headless),
#   python3-torch + python3-pil (the PyTorch / PIL parity fixtures of the tests; never used by corl itself);
#   then npm ci and the native build.
# Safe to re-run: steps already done are skipped. Needs root or sudo for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(libtorch-dev libgloo-dev libopenblas0-pthread cmake g++ make chromium fonts-liberation
  python3-torch python3-pil)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "corl setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# npm may skip dependencies' install scripts; the addon is built by our own script, never by an install hook.
npm run --silent build:native
