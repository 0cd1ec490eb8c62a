#!/usr/bin/env bash
# Installs promptc for the action: the release binary for this runner,
# verified against its published sha256 before anything runs it. When there
# is no release to download (no tag, an unknown platform, a 404), it asks the
# next step to build from the action's source instead (output build=true).
# A checksum mismatch is never papered over: the step fails.
set -euo pipefail

out=${GITHUB_OUTPUT:?GITHUB_OUTPUT is not set: this runs as a GitHub Actions step}
tmp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}

case "${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}" in
  Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-gnu ;;
  Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-gnu ;;
  macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
  macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc ;;
  *) target="" ;;
esac

version=${PROMPTC_VERSION:-}
if [[ -z $version && ${ACTION_REF:-} =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  version=$ACTION_REF
fi

build_instead() {
  echo "::notice title=promptc install::$1; building promptc from the action's source (cargo install --locked)"
  echo "build=true" >>"$out"
  exit 0
}

[[ -n $target ]] || build_instead "no release binary for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}"
[[ -n $version ]] || build_instead "no version to download (the action is not used by a release tag and the version input is empty)"

exe=promptc
[[ $target == *windows* ]] && exe=promptc.exe
asset="promptc-$version-$target.tar.gz"
base=${PROMPTC_RELEASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/${ACTION_REPOSITORY:-promptc/promptc}/releases/download}
url="${base%/}/$version/$asset"

work=$(mktemp -d "$tmp/promptc-install.XXXXXX")
if ! curl -fsSL --retry 3 --retry-delay 2 -o "$work/$asset" "$url"; then
  build_instead "could not download $url"
fi
if ! curl -fsSL --retry 3 --retry-delay 2 -o "$work/$asset.sha256" "$url.sha256"; then
  echo "::error title=promptc install::$url.sha256 is missing: refusing to run a binary that cannot be verified"
  exit 1
fi

expected=$(awk '{print tolower($1); exit}' "$work/$asset.sha256")
if command -v sha256sum >/dev/null 2>&1; then
  actual=$(sha256sum "$work/$asset" | awk '{print $1}')
else
  actual=$(shasum -a 256 "$work/$asset" | awk '{print $1}')
fi
if [[ ! $expected =~ ^[0-9a-f]{64}$ ]]; then
  echo "::error title=promptc install::$asset.sha256 does not hold a sha256: refusing to run the binary"
  exit 1
fi
if [[ $actual != "$expected" ]]; then
  echo "::error title=promptc install::$asset has sha256 $actual but the release publishes $expected: refusing to run it"
  rm -f "$work/$asset"
  exit 1
fi

bin="$tmp/promptc-bin"
mkdir -p "$bin"
tar -xzf "$work/$asset" -C "$bin"
chmod +x "$bin/$exe"
echo "installed promptc $version ($target), sha256 $actual"
"$bin/$exe" --version
echo "path=$bin/$exe" >>"$out"
