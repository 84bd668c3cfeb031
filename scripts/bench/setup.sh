#!/usr/bin/env bash
# Installs what the benchmark harness needs beyond the test dependencies: pgBackRest, the peer it compares archiving,
# backup and restore with. Idempotent: a fast no-op when everything is present.
#
# The Debian package's own services and config stay untouched: the harness writes a private pgbackrest.conf for
# every run and passes it with --config, so the package's /etc/pgbackrest.conf is never read.
set -euo pipefail

packages=(pgbackrest)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != installed ]]; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "bench setup: ${packages[*]} already installed"
else
  if [[ $(id -u) -ne 0 ]]; then
    echo "bench setup: missing packages: ${missing[*]}; run this script as root (for example with sudo) to install them" >&2
    exit 1
  fi
  echo "bench setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
fi

# The rest of the harness's needs come from the project's own setup (PostgreSQL 15 with pgbench, lz4, tar).
for tool in /usr/lib/postgresql/15/bin/postgres /usr/bin/pgbench /usr/bin/lz4 /usr/bin/tar; do
  if [[ ! -x "$tool" ]]; then
    echo "bench setup: $tool is missing: run scripts/setup.sh as root first (it installs PostgreSQL 15 and lz4)" >&2
    exit 1
  fi
done
echo "bench setup: ready ($(pgbackrest version))"
