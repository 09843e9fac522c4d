#!/usr/bin/env bash
# The tests, as the README and CI run them: installs what the tests need and
# is missing (and starts PostgreSQL if none runs on 127.0.0.1:5432), then
# runs every test (the workspace's Rust tests, which include the Kotlin and
# Python binding tests in mobile-bindings/tests/, the office page in headless
# Chromium in tests/tests/browser.rs, several server nodes on one
# PostgreSQL in tests/tests/nodes.rs, and customers' emails through Python's
# aiosmtpd in tests/tests/mail.rs), then the end-to-end tests that concern
# storage again with every server on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

# ---------------------------------------------------------------------------
# Tools. Each entry: a check, and what installs it. Debian packages go
# through one `apt-get install` (with `apt-get update` first, only when
# something is missing); npm packages into .tools/ (gitignored).
# To add a tool, add a line to the list it belongs to.
# ---------------------------------------------------------------------------
apt_packages=()
need_apt() { # need_apt CHECK-COMMAND PACKAGE...
    if ! bash -c "$1" >/dev/null 2>&1; then shift; apt_packages+=("$@"); fi
}
need_apt "command -v javac" default-jdk-headless # the JVM the Kotlin test runs on
need_apt "test -f /usr/share/java/jna.jar" libjna-java # JNA: how Kotlin calls the library
need_apt "test -x /usr/bin/chromium && test -x /usr/bin/chromedriver" chromium chromium-driver # the browser tests (office page, customer journey)
# PostgreSQL for the multi-node tests: the one on 127.0.0.1:5432 if it runs
# (trust authentication for user postgres, or say another address in
# WAYBILL_TEST_POSTGRES), else Debian's, started below.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
own_postgres=""
# (Once this script has made its own, it keeps to it: a cluster the package
# started meanwhile on 5432 asks for passwords.)
if [ -z "${WAYBILL_TEST_POSTGRES:-}" ] && { [ -f /tmp/waybill-postgres/PG_VERSION ] || ! listening 5432; }; then
    own_postgres=5433
    need_apt "ls /usr/lib/postgresql/*/bin/initdb" postgresql
fi

# Python packages: the SMTP server the email test sends to.
pip_packages=()
need_pip() { # need_pip MODULE PACKAGE
    if ! python3 -c "import $1" >/dev/null 2>&1; then pip_packages+=("$2"); fi
}
need_apt "python3 -m pip --version" python3-pip
need_pip aiosmtpd aiosmtpd

npm_packages=()
need_npm() { # need_npm CHECK-PATH PACKAGE@VERSION
    if [ ! -e "$1" ]; then npm_packages+=("$2"); fi
}
need_npm .tools/node_modules/kotlin-compiler/bin/kotlinc kotlin-compiler@2.4 # kotlinc, kotlinx-coroutines

if [ ${#apt_packages[@]} -gt 0 ]; then
    echo "== installing ${apt_packages[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    # apt-get needs root: as root it runs as is, otherwise through sudo.
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "error: installing ${apt_packages[*]} needs root: run this as root, or install them and run it again" >&2
            exit 1
        fi
        sudo=(sudo --preserve-env=DEBIAN_FRONTEND)
    fi
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi
if [ ${#pip_packages[@]} -gt 0 ]; then
    echo "== installing ${pip_packages[*]} (pip)"
    # (A Debian Python refuses packages outside a virtualenv unless told.)
    python3 -m pip install --quiet --disable-pip-version-check "${pip_packages[@]}" ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${pip_packages[@]}"
fi
if [ ${#npm_packages[@]} -gt 0 ]; then
    echo "== installing ${npm_packages[*]} (npm, into .tools/)"
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --loglevel=error "${npm_packages[@]}"
fi

# A PostgreSQL of our own when none runs: a trust cluster on
# 127.0.0.1:5433 (beside any cluster the package may have started), run by
# the postgres user (PostgreSQL refuses root), in /tmp.
if [ -n "$own_postgres" ]; then
    if ! listening "$own_postgres"; then
        echo "== starting PostgreSQL on 127.0.0.1:$own_postgres (/tmp/waybill-postgres)"
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
        as_postgres=(runuser -u postgres --)
        [ "$(id -u)" -eq 0 ] || as_postgres=(sudo -u postgres)
        if [ ! -f /tmp/waybill-postgres/PG_VERSION ]; then
            "${as_postgres[@]}" "$bin/initdb" -D /tmp/waybill-postgres --auth=trust -U postgres >/dev/null
        fi
        "${as_postgres[@]}" "$bin/pg_ctl" -D /tmp/waybill-postgres -l /tmp/waybill-postgres.log -w \
            -o "-h 127.0.0.1 -p $own_postgres -k /tmp" start >/dev/null
    fi
    export WAYBILL_TEST_POSTGRES="postgres://postgres@127.0.0.1:$own_postgres/postgres"
fi
export WAYBILL_TEST_POSTGRES="${WAYBILL_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"

# ---------------------------------------------------------------------------
# The tests.
# ---------------------------------------------------------------------------
export KOTLIN_HOME="$PWD/.tools/node_modules/kotlin-compiler"
cargo test --workspace --locked "$@"
# The end-to-end tests that concern storage once more, every server on
# PostgreSQL (a database of each server's own). tests/nodes.rs and
# tests/storage.rs use PostgreSQL in the run above already.
pg_tests=(attacks background blobs browser collisions flow mail restart scope tracking vansale webhooks)
WAYBILL_TEST_BACKEND=postgres cargo test --locked -p waybill-tests "${pg_tests[@]/#/--test=}" "$@"
