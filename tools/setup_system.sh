#!/usr/bin/env bash
# Install the system packages nnb needs, only those missing (Debian/Ubuntu, as root).
#   gcc make         the C runtime and its tests
#   python3-venv     the project's virtualenv (Debian's python3 lacks venv without it)
#   dataset-fashion-mnist   the data set of the demo and the benchmarks
# Extra package names given as arguments are installed too (`make test` adds
# gcc-arm-none-eabi and libnewlib-arm-none-eabi for the Cortex-M4 size check).
set -euo pipefail
want=(gcc make dataset-fashion-mnist "$@")
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then want+=(python3-venv); fi
missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup: missing system packages: ${missing[*]} (install them with apt-get as root)" >&2
  exit 0
fi
echo "setup: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
