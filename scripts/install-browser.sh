#!/usr/bin/env bash
# Installs what the browser test (tests/tests/browser.rs) drives: Debian's
# headless-capable Chromium (/usr/bin/chromium) and its WebDriver
# (/usr/bin/chromedriver). Does nothing when both are there; runs
# `apt-get update` only when a package has to be installed. Needs root
# (CI runs as root) or sudo.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  echo "install-browser: chromium and chromedriver are installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "install-browser: installing chromium and chromium-driver with apt-get"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
for b in /usr/bin/chromium /usr/bin/chromedriver; do
  if [ ! -x "$b" ]; then
    echo "install-browser: $b is still missing after apt-get install" >&2
    exit 1
  fi
done
/usr/bin/chromedriver --version
