#!/usr/bin/env bash
# Installs PostgreSQL's server (Debian's `postgresql` package) for the PostgreSQL cases of the tests, which start
# a throwaway server with it (tests/postgres.py). A no-op when initdb, pg_ctl and postgres are already there, or
# when STRATUS_TEST_POSTGRES_URL names a server to use instead.
set -euo pipefail

found() {
    local dir
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v postgres >/dev/null; then
        dirname "$(command -v initdb)"
        return 0
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        if [[ -x $dir/initdb && -x $dir/pg_ctl && -x $dir/postgres ]]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

if [[ -n ${STRATUS_TEST_POSTGRES_URL:-} ]]; then
    echo "==> PostgreSQL: using the server STRATUS_TEST_POSTGRES_URL names"
    exit 0
fi
if dir=$(found); then
    echo "==> PostgreSQL: found in $dir"
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "==> PostgreSQL's server is not installed; the PostgreSQL tests need it (they skip without it, and fail in CI)." >&2
    echo "    Install Debian's package: sudo apt-get install --no-install-recommends postgresql" >&2
    echo "    (or set STRATUS_TEST_POSTGRES_URL to a server)" >&2
    exit 0
fi
echo "==> Installing PostgreSQL's server (Debian's postgresql package)"
# The tests start their own throwaway server: no need for the package's default cluster running on port 5432.
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/stratus-no-main-cluster.conf
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
dir=$(found) || { echo "PostgreSQL was installed, but initdb is still not found" >&2; exit 1; }
echo "==> PostgreSQL: installed in $dir"
