#!/usr/bin/env bash
# The system packages `make test` needs beside the Python ones: installed here when run as root
# with apt-get (as CI runs), otherwise named with the command that installs them.
#   redis-server, redis-sentinel  the real job store and queue; the Sentinel failover test
#   chromium                      the web page's tests (Playwright drives the system browser)
#   libgs-common                  a CMYK ICC profile for the colour-mode tests
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -f /usr/share/color/icc/ghostscript/default_cmyk.icc ] || need+=(libgs-common)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
  exit 0
fi
echo "make test needs these system packages: sudo apt-get install ${need[*]}" >&2
exit 1
