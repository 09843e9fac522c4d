#!/usr/bin/env bash
# The tests, as the README and CI run them: installs what the tests need and
# is missing, then runs every test (the workspace's Rust tests, which include
# the Kotlin and Python binding tests in mobile-bindings/tests/ and the office
# page in headless Chromium in tests/tests/browser.rs).
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
need_apt "test -x /usr/bin/chromium && test -x /usr/bin/chromedriver" chromium chromium-driver # the office page's browser test

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
if [ ${#npm_packages[@]} -gt 0 ]; then
    echo "== installing ${npm_packages[*]} (npm, into .tools/)"
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --loglevel=error "${npm_packages[@]}"
fi

# ---------------------------------------------------------------------------
# The tests.
# ---------------------------------------------------------------------------
export KOTLIN_HOME="$PWD/.tools/node_modules/kotlin-compiler"
cargo test --workspace --locked "$@"
