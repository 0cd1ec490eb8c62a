#!/usr/bin/env bash
# Installs what the build and the tests need when it is missing (Debian/Ubuntu).
set -euo pipefail
need=()
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists openssl 2>/dev/null || need+=(libssl-dev)
command -v git >/dev/null 2>&1 || need+=(git)
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
git http-backend </dev/null >/dev/null 2>&1 || [ -x "$(git --exec-path)/git-http-backend" ] || {
  echo "git http-backend is missing (the git package provides it)" >&2
  exit 1
}
