#!/usr/bin/env bash
# What the browser tests need: Debian's chromium (driven by Playwright, no browser download)
# and fonts for Arabic, Ukrainian and English.  Installs them with apt-get when they are missing
# and this user may (root, or password-less sudo); otherwise says what to install and fails.
# BROWSER_DEPS=no forbids installing (then missing packages are an error, never a silent skip).
set -euo pipefail

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PACKAGES=(chromium fonts-noto-core fonts-dejavu-core)

missing=()
if [ ! -x "$CHROMIUM" ]; then missing+=(chromium); fi
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in fonts-noto-core fonts-dejavu-core; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
fi
[ ${#missing[@]} -eq 0 ] && exit 0

fail() {
  echo "browser tests need: ${missing[*]} (chromium at $CHROMIUM)." >&2
  echo "$1" >&2
  echo "Install them with: sudo apt-get install -y ${PACKAGES[*]}  (or set CHROMIUM to a chromium binary)" >&2
  exit 2
}

[ "${BROWSER_DEPS:-yes}" != "no" ] || fail "BROWSER_DEPS=no forbids installing them here."
command -v apt-get >/dev/null 2>&1 || fail "apt-get is not available on this machine."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"
  else fail "installing needs root or password-less sudo."; fi
fi
echo "installing ${missing[*]} with apt-get (for the browser tests)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || fail "apt-get update failed."
$SUDO apt-get install -y -qq "${PACKAGES[@]}" >/dev/null \
  || fail "apt-get install failed."
[ -x "$CHROMIUM" ] || fail "apt-get installed chromium, but not at $CHROMIUM (on Ubuntu it is a snap; set CHROMIUM)."
