#!/usr/bin/env bash
# Starts throw-away PostgreSQL and Redis servers on loopback (when installed), points the
# tests at them, runs the whole suite, and stops the servers again.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
work=$(mktemp -d /tmp/mixscope-test.XXXXXX)
chmod 755 "$work"
cleanup() {
  [ -n "${PGBIN:-}" ] && runuser_pg "$PGBIN/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null
  # --- slurm (issue 22): the one-node cluster, when it was started below
  [ -n "${MIXSCOPE_TEST_SLURM:-}" ] && scripts/slurm-cluster.sh stop "$work/slurm" >/dev/null 2>&1
  # --- end slurm
  rm -rf "$work"
}
trap cleanup EXIT

runuser_pg() {  # initdb refuses to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ]; then
  pgport=55432
  [ "$(id -u)" = 0 ] && chown postgres "$work"
  if runuser_pg "$PGBIN/initdb" -D "$work/pg" -A trust -U mixscope >/dev/null &&
     runuser_pg "$PGBIN/pg_ctl" -D "$work/pg" -o "-p $pgport -k $work -c listen_addresses=127.0.0.1 -c fsync=off" \
        -l "$work/pg.log" -w start >/dev/null; then
    runuser_pg "$PGBIN/createdb" -h 127.0.0.1 -p $pgport -U mixscope mixscope_test
    export MIXSCOPE_TEST_POSTGRES_URL="postgresql+psycopg://mixscope@127.0.0.1:$pgport/mixscope_test"
    echo "run-tests: PostgreSQL on 127.0.0.1:$pgport"
  else
    echo "run-tests: PostgreSQL failed to start; its tests will be skipped" >&2; PGBIN=
  fi
else
  PGBIN=
fi

if command -v redis-server >/dev/null; then
  redisport=56379
  redis-server --port $redisport --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$work/redis.pid" --dir "$work" >/dev/null
  export MIXSCOPE_TEST_REDIS_URL="redis://127.0.0.1:$redisport/0"
  echo "run-tests: Redis on 127.0.0.1:$redisport"
fi

# --- slurm (issue 22): a one-node Slurm cluster on loopback for tests/system/test_slurm.py
if command -v slurmctld >/dev/null && [ "$(id -u)" = 0 ]; then
  if slurm_env=$(scripts/slurm-cluster.sh start "$work/slurm"); then
    eval "$slurm_env"
    export MIXSCOPE_TEST_SLURM=1
    echo "run-tests: Slurm cluster in $work/slurm"
  else
    echo "run-tests: the Slurm cluster failed to start; its tests will be skipped" >&2
  fi
fi
# --- end slurm

mkdir -p test-artifacts
"$BIN/pytest" -q "$@"
rc=$?
[ $rc -eq 5 ] && { echo "run-tests: no tests collected" >&2; rc=1; }
exit $rc
