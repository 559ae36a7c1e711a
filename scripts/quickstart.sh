#!/usr/bin/env bash
# The README's first command: builds smv and runs its main job on the embedded default — a
# local vault and the `outbox` provider, no network account needed. Everything it creates is
# under ./target/quickstart (a throwaway HOME), so it never touches your real smv files.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
smv() { printf '\n$ smv %s\n' "$*"; ./target/debug/smv "$@"; }

export HOME="$PWD/target/quickstart"
rm -rf "$HOME" && mkdir -p "$HOME"
export SMV_KEYRING=off   # a demo: keep the new key in $HOME, not in your OS keyring
unset SMV_VAULT SMV_IDENTITY SMV_IDENTITY_FILE SMV_CONFIG XDG_DATA_HOME XDG_CONFIG_HOME

smv init --name alice                       # new vault + audit log; alice is admin and custodian
smv account add demo --provider outbox      # the outbox needs no secret
printf 'example-token' | smv account add x-main --provider x --secret-stdin   # a secret, from stdin
smv member add joe --role member            # joe acts through grants, holds no key
smv grant joe demo post
smv grant joe x-main draft
smv account list                            # never shows a secret: only its keyed fingerprint
smv access                                  # who can do what
smv whoami
