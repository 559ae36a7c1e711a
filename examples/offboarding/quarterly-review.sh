#!/usr/bin/env bash
# The quarterly access review: members idle for 90 days, secrets exposed, expiring or old.
# Run as an admin or an auditor; attach the output to the review ticket.
set -euo pipefail
echo "== members with no recorded action for 90 days =="
smv member list --stale 90d
echo
echo "== secrets needing attention (exposed to a former custodian, expiring, expired) =="
smv secrets --json | jq -r '.[] | select(.state != "ok") | "\(.state)\t\(.account)\t\(.action)"'
echo
echo "== secrets older than 365 days =="
smv secrets --json | jq -r '.[] | select((.age_days // 0) > 365) | "\(.account)\t\(.age_days)d\tsmv rotate \(.account)"'
echo
echo "== who can do what =="
smv access
