#!/usr/bin/env bash
# Builds promptc from the action's own source (no release binary to use).
set -euo pipefail
out=${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: this runs as a GitHub Actions step}
tmp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
if [[ ${RUNNER_OS:-} == Linux ]] && ! pkg-config --exists openssl 2>/dev/null; then
  sudo apt-get update -qq && sudo apt-get install -y -qq libssl-dev pkg-config
fi
export CARGO_TARGET_DIR="$tmp/promptc-target"
cargo install --locked --path "${ACTION_PATH:?}" --root "$tmp/promptc-cargo"
exe=promptc
[[ ${RUNNER_OS:-} == Windows ]] && exe=promptc.exe
echo "path=$tmp/promptc-cargo/bin/$exe" >>"$out"
