#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: headless Chromium and its
# driver (browser tests), PostgreSQL and Redis servers (store and broker tests), and
# docker-compose (validates docker-compose.yml without an engine), stress-ng (make test-busy),
# slurm-wlm and munge (a one-node Slurm cluster for the Slurm executor's tests).
# Idempotent.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v stress-ng >/dev/null || need+=(stress-ng)   # make test-busy
command -v slurmctld >/dev/null || need+=(slurm-wlm)   # tests/system/test_slurm.py
command -v munged >/dev/null || need+=(munge)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-system: missing ${need[*]}; install them with your package manager" >&2
  echo "install-system: tests that need them will be skipped" >&2
  exit 0
fi
echo "install-system: apt-get install ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
