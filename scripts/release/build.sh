#!/usr/bin/env bash
# Builds promptc for $TARGET and writes dist/promptc-$VERSION-$TARGET.tar.gz
# and its .sha256 (the names action/install.sh downloads). Linux builds use
# the vendored-openssl feature so the binary needs no system OpenSSL.
set -euo pipefail
: "${TARGET:?}" "${VERSION:?}"
cd "$(dirname "$0")/../.."
rustup target add "$TARGET"
# The download is what every action run pays for: 11.5 MB stripped against
# 41 MB with line tables (x86_64 Linux, measured).
export CARGO_PROFILE_RELEASE_STRIP=debuginfo
features=()
[[ -n ${FEATURES:-} ]] && features=(--features "$FEATURES")
cargo build --release --locked --target "$TARGET" ${features[@]+"${features[@]}"}
exe=promptc
[[ $TARGET == *windows* ]] && exe=promptc.exe
rm -rf dist stage && mkdir -p dist stage
cp "${CARGO_TARGET_DIR:-target}/$TARGET/release/$exe" stage/
asset="promptc-$VERSION-$TARGET.tar.gz"
tar -czf "dist/$asset" -C stage "$exe"
cd dist
if command -v sha256sum >/dev/null 2>&1; then
  sha256sum "$asset" >"$asset.sha256"
else
  shasum -a 256 "$asset" >"$asset.sha256"
fi
cat "$asset.sha256"
