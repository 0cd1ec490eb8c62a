#!/usr/bin/env bash
# actionlint on every workflow (ours and the users' example) and zizmor,
# offline, on those and on action.yml. Either finding fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=target/ci-tools/bin
"$tools/actionlint" .github/workflows/*.yml examples/workflows/*.yml
"$tools/zizmor" --offline --config .github/zizmor.yml action.yml .github/workflows examples/workflows
