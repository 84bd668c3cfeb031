#!/usr/bin/env bash
# Installs the Debian 12 packages walnut's tests need (PostgreSQL 15 tools, compressors, gpg, sshd, ...); a fast no-op when all are present.
#
# Safe to run again and again: it asks dpkg what is missing and only then runs `apt-get update` (once) and
# `apt-get install`. It never creates or starts a PostgreSQL cluster or an sshd: tests start their own servers.
set -euo pipefail

# Packages the tests use, with why:
#   postgresql-15, postgresql-client-15: a full PostgreSQL 15 toolset (psql, pgbench, pg_basebackup, pg_waldump, ...);
#     PostgreSQL 13, 14, 16, 17, 18 servers come from npm (node_modules/pgNN) and have no client tools.
#   lz4, zstd, xz-utils, brotli: reference compressors the codec tests compare our output with.
#   gnupg: the PGP encryption tests.
#   openssh-server: the SFTP storage tests start their own sshd on a loopback port.
#   python3: helper scripts in tests.
#   util-linux: runuser, to run commands as the unprivileged cluster user.
#   gcc, libc6-dev: the build compiles walnut's own native addon (src/native/c) against Node's N-API headers.
packages=(
  gcc
  libc6-dev
  postgresql-15
  postgresql-client-15
  lz4
  zstd
  xz-utils
  brotli
  gnupg
  openssh-server
  python3
  util-linux
)

# ---- Swift (OpenStack Swift with s3api, a real S3 implementation for the S3 tests) ----
#   swift, swift-proxy, swift-object, swift-container, swift-account: an all-in-one Swift that
#     tests/helpers/swift-server.ts starts on loopback (tempauth, s3api and bulk delete come with the swift
#     package; no keystone is needed). The packages' own services never start here: policy-rc.d below keeps
#     them down during the install, and without /etc/swift rings they could not serve anyway.
#   memcached: tempauth keeps its tokens there; the helper starts a private one next to the proxy.
packages+=(swift swift-proxy swift-object swift-container swift-account memcached)
# ---- end of Swift ----

missing_packages() {
  # One dpkg-query call for all packages; packages dpkg has never heard of print nothing and count as missing.
  local installed
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null | awk '$2 == "installed" { print $1 }' || true)
  local package
  for package in "${packages[@]}"; do
    if ! grep -qxF "$package" <<<"$installed"; then
      printf '%s\n' "$package"
    fi
  done
}

mapfile -t missing < <(missing_packages)
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-system-deps: all ${#packages[@]} packages are already installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-system-deps: missing packages: ${missing[*]}" >&2
  echo "install-system-deps: run this script as root (for example with sudo) to install them" >&2
  exit 1
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_install=(apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

# Keep package scripts from starting services (postgresql, ssh) while we install. Docker images already ship a
# policy-rc.d that says "no" (exit 101); on other machines we put one in place for the duration of the install only.
policy_file=/usr/sbin/policy-rc.d
created_policy_file=false
if [[ ! -e "$policy_file" ]]; then
  printf '#!/bin/sh\n# Temporary, from walnut scripts/ci/install-system-deps.sh: no service starts during installs.\nexit 101\n' >"$policy_file"
  chmod 0755 "$policy_file"
  created_policy_file=true
fi
remove_policy_file() {
  if [[ "$created_policy_file" == true ]]; then
    rm -f "$policy_file"
  fi
}
trap remove_policy_file EXIT

apt-get update

# Debian's postgresql-NN package creates and starts a "main" cluster on first install unless
# /etc/postgresql-common/createcluster.conf says create_main_cluster = false. That file belongs to
# postgresql-common, so install that first, switch the setting off, then install the server packages.
needs_postgresql=false
for package in "${missing[@]}"; do
  if [[ "$package" == postgresql-* ]]; then
    needs_postgresql=true
  fi
done
if [[ "$needs_postgresql" == true ]]; then
  "${apt_install[@]}" postgresql-common
  createcluster_conf=/etc/postgresql-common/createcluster.conf
  if grep -Eq '^[[:space:]]*#?[[:space:]]*create_main_cluster' "$createcluster_conf"; then
    sed -ri 's/^[[:space:]]*#?[[:space:]]*(create_main_cluster)[[:space:]]*=.*$/\1 = false/' "$createcluster_conf"
  else
    printf 'create_main_cluster = false\n' >>"$createcluster_conf"
  fi
fi

"${apt_install[@]}" "${missing[@]}"

# Belt and braces: if a cluster was nevertheless created and started (an old createcluster.conf, no policy-rc.d
# honoured), stop it so no server is left listening on the default port.
if [[ "$needs_postgresql" == true ]] && command -v pg_lsclusters >/dev/null; then
  pg_lsclusters --no-header 2>/dev/null | while read -r version cluster port status _; do
    if [[ "$status" == online* ]]; then
      echo "install-system-deps: stopping the PostgreSQL $version/$cluster cluster the package started (port $port)"
      pg_ctlcluster "$version" "$cluster" stop || true
    fi
  done
fi

mapfile -t still_missing < <(missing_packages)
if [[ ${#still_missing[@]} -ne 0 ]]; then
  echo "install-system-deps: these packages are still not installed: ${still_missing[*]}" >&2
  exit 1
fi
echo "install-system-deps: done"
