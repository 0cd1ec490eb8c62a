#!/usr/bin/env bash
# The runtimes' own test suites, against the conformance fixtures in runtimes/fixtures:
# TypeScript (Node 20+, typescript from the lockfile) and Python (3.9+, standard library).
set -euo pipefail
cd "$(dirname "$0")/../runtimes"

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  echo "the TypeScript runtime's tests need Node.js 20 or later (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
(cd typescript && npm ci --no-audit --no-fund --loglevel=error && npm test --silent)
(cd python && python3 -m unittest discover -s tests)
