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
# An X credential is four OAuth 1.0a fields (key=value lines; `smv account add` without
# --secret-stdin asks for them one by one, hidden). Checked when stored, never printed.
printf 'consumer_key=%s\nconsumer_secret=%s\naccess_token=%s\naccess_token_secret=%s\n' \
  example-key example-secret 1-example-token example-token-secret |
  smv account add x-main --provider x --secret-stdin
smv member add joe --role member            # joe acts through grants, holds no key
smv grant joe x-main draft
smv grant alice demo post                   # everyone posts through a grant, admins too
smv post demo "Release 2.1 is out"          # the main job: publish as the company account
smv post demo "Release 2.1 is out" --idempotency-key v2.1 --json   # a CI retry: no second post
smv account list                            # never shows a secret: only its keyed fingerprint
smv access                                  # who can do what
smv audit log --action post                 # who posted what, with the exact text and receipt
smv audit verify                            # the signed log is intact
printf '\n$ cat %s\n' "$HOME/.local/share/smv/outbox.jsonl"
cat "$HOME/.local/share/smv/outbox.jsonl"   # what the outbox "network" received
