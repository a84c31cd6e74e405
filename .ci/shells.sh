#!/usr/bin/env bash
# zsh and fish, so that tests/test_shell.py drives aetui's completion scripts in the real
# shells (bash is always there). Idempotent; quick when they are installed. Run as root.
# Exit code 3: missing and no way to install them (apt-get unavailable): those tests skip.
set -euo pipefail
log() { echo "shells.sh: $*" >&2; }

missing=()
for shell in zsh fish; do
    command -v "$shell" >/dev/null 2>&1 || missing+=("$shell")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    log "${missing[*]} not installed and apt-get is unavailable"
    exit 3
fi
log "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; } \
    || { log "apt-get install ${missing[*]} failed"; exit 3; }
