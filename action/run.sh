#!/usr/bin/env bash
# Runs `promptc ci` or `promptc review` with the action's inputs. Inputs
# arrive as environment variables only (never pasted into the script), so a
# value cannot inject shell code. promptc writes the step outputs, the job
# summary and the annotations itself.
set -euo pipefail

bin=${PROMPTC_BIN:?no promptc binary: the install step did not produce one}
args=(--config "${INPUT_CONFIG:-promptc.yaml}")
[[ -n ${INPUT_SIGNATURE:-} ]] && args+=(--signature "$INPUT_SIGNATURE")
while IFS= read -r spec; do
  spec=${spec#"${spec%%[![:space:]]*}"}
  spec=${spec%"${spec##*[![:space:]]}"}
  [[ -n $spec ]] && args+=(--lm "$spec")
done <<<"${INPUT_LM:-}"

is_true() { [[ ${1:-} == true || ${1:-} == 1 || ${1:-} == yes ]]; }

case "${INPUT_MODE:-ci}" in
  ci)
    cmd=(ci)
    is_true "${INPUT_SMOKE:-}" && cmd+=(--smoke)
    [[ -n ${INPUT_OPTIMIZER:-} ]] && cmd+=(--optimizer "$INPUT_OPTIMIZER")
    ;;
  review)
    cmd=(review)
    ;;
  *)
    echo "::error title=promptc::the mode input must be ci or review, not '${INPUT_MODE}'"
    exit 2
    ;;
esac
is_true "${INPUT_DRY_RUN:-}" && cmd+=(--dry-run)
[[ -n ${INPUT_MAX_CALLS:-} ]] && cmd+=(--max-calls "$INPUT_MAX_CALLS")
[[ -n ${INPUT_MAX_COST_USD:-} ]] && cmd+=(--max-cost-usd "$INPUT_MAX_COST_USD")
[[ -n ${INPUT_MAX_WALL_MINUTES:-} ]] && cmd+=(--max-wall-minutes "$INPUT_MAX_WALL_MINUTES")

exec "$bin" "${args[@]}" "${cmd[@]}"
