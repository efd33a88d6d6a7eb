#!/bin/sh
# Install the Debian packages dp needs to build and test, only those that are missing, and say
# which. Runs as root or through sudo; on a machine without apt it only reports.
set -e
pkgs="build-essential pkg-config libyaml-dev libcjson-dev zlib1g-dev libpng-dev libzip-dev libcsv-dev check python3-numpy python3-jsonschema python3-yaml man-db"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "deps: all Debian packages present"
  exit 0
fi
echo "deps: installing missing Debian packages:$missing"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps: apt-get not found; install these packages by hand:$missing" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: installed:$missing"
