#!/usr/bin/env bash
# The bare side of bench_pitr_script.py: a total-loss PITR done by hand with standard
# tools, the way a team's own script would do it. Everything it starts it stops (trap).
#
#   pg_basebackup -D - -Ft -X none | aws s3 cp - s3://BUCKET/base/base.tar   (streamed)
#   archive_command / restore_command: curl --aws-sigv4 (PUT / GET of one segment)
#   restore: aws s3 cp s3://.../base.tar - | tar -x, recovery.signal, promote, count rows
#
# Environment (all required): PGBIN PORT WORK RUNAS S3_ENDPOINT S3_REGION BUCKET
# AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY SCALE FILLER_ROWS PGBENCH_TX
# Prints "phase NAME SECONDS" lines (monotonic, since the start) and "counts A H F".
set -euo pipefail
start=$(date +%s.%N)
phase() { awk -v a="$start" -v b="$(date +%s.%N)" -v n="$1" 'BEGIN { printf "phase %s %.3f\n", n, b - a }'; }
# setpriv execs (runuser forks: a SIGKILL of it would leave postgres running)
as_server() { setpriv --reuid="$RUNAS" --regid="$(id -g "$RUNAS")" --clear-groups -- "$@"; }
DATA="$WORK/data"
SOCK="$WORK/sock"
PSQL=("$PGBIN/psql" -X -q -At -h "$SOCK" -p "$PORT" -U postgres)
export PGCONNECT_TIMEOUT=10
pm_pid=""
cleanup() {
  if [ -n "$pm_pid" ] && kill -0 "$pm_pid" 2>/dev/null; then
    kill -INT "$pm_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pm_pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pm_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
S3CP=(aws --endpoint-url "$S3_ENDPOINT" --region "$S3_REGION" s3 cp --only-show-errors)
SIGV4=(--aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY")
WALURL="$S3_ENDPOINT/$BUCKET/wal"

start_server() {  # postgres as the unprivileged user; wait until it answers (deadline 60 s)
  setpriv --reuid="$RUNAS" --regid="$(id -g "$RUNAS")" --clear-groups -- \
    "$PGBIN/postgres" -D "$DATA" >>"$WORK/postgres.log" 2>&1 &
  pm_pid=$!  # setpriv execs postgres: this is the postmaster
  for _ in $(seq 3000); do
    if "${PSQL[@]}" -c 'SELECT 1' >/dev/null 2>&1; then return 0; fi
    kill -0 "$pm_pid" 2>/dev/null || { tail -5 "$WORK/postgres.log" >&2; exit 1; }
    sleep 0.02
  done
  echo "postgres did not answer within 60 s" >&2; exit 1
}

mkdir -p "$DATA" "$SOCK"
chown "$RUNAS" "$WORK" "$DATA" "$SOCK"
chmod 700 "$DATA"
as_server "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust --data-checksums --no-sync \
  -E UTF8 --locale=C >/dev/null
cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
shared_buffers = 32MB
wal_level = replica
archive_mode = on
archive_timeout = 60
archive_command = 'curl -sSf ${SIGV4[*]} -T %p $WALURL/%f'
EOF
start_server
phase primary_ready
"${PSQL[@]}" -c 'CREATE DATABASE bench'
"$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -i -s "$SCALE" -q bench 2>/dev/null
phase loaded

"$PGBIN/pg_basebackup" -h "$SOCK" -p "$PORT" -U postgres -D - -Ft -X none -c fast \
  | "${S3CP[@]}" - "s3://$BUCKET/base/base.tar"
phase base_backup

"${PSQL[@]}" -d bench -c "CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 6) AS pad
  FROM generate_series(1, $FILLER_ROWS) g"
"$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -n -c 2 -j 2 -t "$PGBENCH_TX" bench >/dev/null
seg=$("${PSQL[@]}" -c 'SELECT pg_walfile_name(pg_switch_wal())')
for _ in $(seq 1500); do  # wait until that segment is archived (deadline 30 s)
  last=$("${PSQL[@]}" -c 'SELECT coalesce(last_archived_wal, $$$$) FROM pg_stat_archiver')
  [[ "$last" > "$seg" || "$last" == "$seg" ]] && break
  sleep 0.02
done
[[ "$last" > "$seg" || "$last" == "$seg" ]] || { echo "segment $seg not archived" >&2; exit 1; }
phase writes_archived

# Total loss: SIGKILL the postmaster and its children (each called setsid), wait until
# every one is gone (deadline 10 s), wipe the data directory.
pids="$pm_pid $(pgrep -P "$pm_pid" | tr '\n' ' ')"
kill -KILL $pids 2>/dev/null || true
wait "$pm_pid" 2>/dev/null || true
for _ in $(seq 500); do
  alive=0; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break; sleep 0.02
done
pm_pid=""
rm -rf "${DATA:?}"/*
phase total_loss

"${S3CP[@]}" "s3://$BUCKET/base/base.tar" - | as_server tar -xf - -C "$DATA"
phase extracted
touch "$DATA/recovery.signal"; chown "$RUNAS" "$DATA/recovery.signal"
cat >>"$DATA/postgresql.conf" <<EOF
archive_mode = off
restore_command = 'curl -sSf ${SIGV4[*]} -o %p $WALURL/%f'
recovery_target_timeline = 'latest'
recovery_target_action = 'promote'
hot_standby = off
EOF
start_server
for _ in $(seq 3000); do  # promoted (deadline 60 s)
  [ "$("${PSQL[@]}" -c 'SELECT pg_is_in_recovery()')" = f ] && break
  sleep 0.02
done
[ "$("${PSQL[@]}" -c 'SELECT pg_is_in_recovery()')" = f ] || { echo "not promoted" >&2; exit 1; }
phase promoted
echo "counts $("${PSQL[@]}" -d bench -F ' ' -c 'SELECT (SELECT count(*) FROM pgbench_accounts),
  (SELECT count(*) FROM pgbench_history), (SELECT count(*) FROM filler)')"
phase checked
cleanup; pm_pid=""
phase stopped
