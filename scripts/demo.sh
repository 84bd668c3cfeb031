#!/usr/bin/env bash
# The end-to-end demo: a real PostgreSQL 15 archives its WAL with `wal-g wal-push` and is backed up to local file
# storage, keeps changing, then the backup is restored to a new directory, replayed through `wal-g wal-fetch`,
# and its state is checked against the primary's. Run as root (PostgreSQL runs as an unprivileged user it creates).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
pgbin=/usr/lib/postgresql/15/bin
user=walnut-demo
[[ -x $pgbin/postgres ]] || { echo "demo: PostgreSQL 15 is missing; run: bash scripts/setup.sh" >&2; exit 1; }
[[ -x dist/wal-g ]] || npm run --silent build
id "$user" >/dev/null 2>&1 || useradd --system --create-home --shell /usr/sbin/nologin "$user"

work=$(mktemp -d /tmp/walnut-demo.XXXXXX)
chmod 755 "$work"
port=$((55000 + RANDOM % 1000))
primary=$work/primary restored=$work/restored
cleanup() {
  for d in "$primary" "$restored"; do
    [[ -f $d/postmaster.pid ]] && runuser -u "$user" -- "$pgbin/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

install -m 755 dist/wal-g "$work/wal-g"
walg="$work/wal-g --config $work/walg.json"
cat > "$work/walg.json" <<JSON
{ "WALG_FILE_PREFIX": "$work/storage", "WALG_COMPRESSION_METHOD": "lz4", "PGHOST": "$work", "PGPORT": "$port",
  "PGUSER": "postgres" }
JSON
mkdir -p "$work/storage"
chown -R "$user" "$work"
# The native addons unpack into the work directory (WALG_ADDON_DIR is read from the environment only).
as() { runuser -u "$user" -- env WALG_ADDON_DIR="$work/addons" "$@"; }
sql() { as "$pgbin/psql" -h "$work" -p "$port" -U postgres -d postgres -XAtqc "$1"; }
state() { sql "SELECT md5(string_agg(aid::text || ':' || abalance, ',' ORDER BY aid)) FROM pgbench_accounts"; }
step() { printf '\n== %s\n' "$*"; }

step "walnut $($work/wal-g --version)"
step "PostgreSQL 15 primary, archive_command = 'wal-g wal-push %p'"
as "$pgbin/initdb" -D "$primary" -U postgres -A trust --no-sync >/dev/null
cat >> "$primary/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$work'
wal_level = replica
archive_mode = on
archive_command = '$walg wal-push %p'
fsync = off
CONF
as "$pgbin/pg_ctl" -D "$primary" -l "$work/primary.log" -w start >/dev/null
as "$pgbin/pgbench" -h "$work" -p "$port" -U postgres -i -s 5 -q postgres 2>&1 | tail -1

step "base backup: wal-g backup-push"
as $walg backup-push "$primary" 2>&1 | tail -1
as $walg backup-list

step "more changes after the backup (pgbench, 10 s), then switch WAL"
as "$pgbin/pgbench" -h "$work" -p "$port" -U postgres -T 10 -c 2 postgres 2>&1 | grep -E 'tps|transactions actually'
sql "SELECT pg_switch_wal()" >/dev/null
expected=$(state)
sql "CHECKPOINT" >/dev/null
as "$pgbin/pg_ctl" -D "$primary" -m fast -w stop >/dev/null   # the archiver ships the last segment on shutdown
echo "archived: $(ls "$work/storage/wal_005" | wc -l) WAL objects; failures: $(grep -c 'archive command failed' "$work/primary.log" || true)"

step "restore to a new directory and replay with restore_command = 'wal-g wal-fetch %f %p'"
as $walg backup-fetch "$restored" LATEST 2>&1 | tail -1
chmod 700 "$restored"
cat >> "$restored/postgresql.conf" <<CONF
restore_command = '$walg wal-fetch %f %p'
archive_mode = off
recovery_target_action = promote
CONF
as touch "$restored/recovery.signal"
as "$pgbin/pg_ctl" -D "$restored" -l "$work/restored.log" -w -t 300 start >/dev/null
for _ in $(seq 1 300); do [[ $(sql 'SELECT pg_is_in_recovery()') == f ]] && break; sleep 0.2; done
got=$(state)
echo "primary state:  $expected"
echo "restored state: $got"
if [[ $got == "$expected" ]]; then echo "demo: OK — the restored cluster matches the primary"; else echo "demo: FAILED — states differ"; exit 1; fi
