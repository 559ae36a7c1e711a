#!/usr/bin/env bash
# Installs the conformance peers (../shared/PEERS.md) into tests/peers/node_modules from the
# committed package-lock.json: Prism (OpenAPI-validating mocks of the networks' published
# specs) and @atproto/dev-env (a real Bluesky PDS). Needs Node 20 and npm; ~2 minutes.
set -euo pipefail
cd "$(dirname "$0")/../tests/peers"
if [ -x node_modules/.bin/prism ] && [ -d node_modules/@atproto/dev-env ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
