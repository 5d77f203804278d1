#!/usr/bin/env bash
# The browser tests drive Debian's Chromium through chromedriver. Installs both when missing
# (CI starts on a bare machine); elsewhere says what to install.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
  exit 0
fi
echo "the browser tests need chromium and chromedriver: sudo apt-get install chromium chromium-driver" >&2
exit 1
