#!/usr/bin/env bash
# Offboarding a leaver, the way IT runs it: look first, then do it, file the report, and
# work through the secrets it lists. Usage: offboard-leaver.sh LEAVER HEIR
set -euo pipefail
leaver=${1:?usage: $0 LEAVER HEIR}
heir=${2:?usage: $0 LEAVER HEIR}
report="offboarding-${leaver}-$(date +%F).json"

# 1. What will happen (changes nothing, not a byte).
smv offboard "$leaver" --to "$heir" --dry-run

# 2. Do it, keeping the report for the ticket. Running this again after an interruption
#    finishes the job and prints the report again. The CI tokens the leaver has seen that
#    live on get new secrets, written to a private directory (never into the report): give
#    each to its job, then delete the file.
handover=$(mktemp -d)   # mode 0700
smv offboard "$leaver" --to "$heir" --yes --json --handover-dir "$handover" > "$report"
echo "report: $report"
jq -r '.tokens[] | select(.handover_file) | "\(.name) (\(.accessor)): new secret in \(.handover_file)"' "$report"

# 3. The secrets the leaver could decrypt (empty if they never held a key), and the exact
#    command for each. `rotate` asks for the new secret on a hidden prompt.
jq -r '.rotate[] | "\(.account)\t\(.command)"' "$report"

# 4. Afterwards: nothing left exposed?
smv secrets --json | jq -e 'map(select(.state == "exposed")) | length == 0' >/dev/null \
  && echo "no secret is exposed any more" \
  || echo "still exposed: see smv secrets"
