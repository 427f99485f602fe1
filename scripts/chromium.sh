#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed and prints the path of its executable.
#
#   scripts/chromium.sh            # installs the chromium package with apt-get when missing
#
# playwright-core drives this browser (it never downloads one of its own). Environment:
# CHROMIUM (default /usr/bin/chromium) names an executable to use instead.
set -euo pipefail

chromium=${CHROMIUM:-/usr/bin/chromium}

die() { echo "chromium.sh: $*" >&2; exit 1; }

as_root() {
	if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

if [[ ! -x $chromium ]]; then
	[[ -z ${CHROMIUM:-} ]] || die "CHROMIUM=$chromium is not an executable"
	echo "chromium.sh: installing Chromium with apt-get" >&2
	as_root apt-get update >&2
	# fonts-liberation gives the pages readable text in screenshots.
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		chromium fonts-liberation >&2
	[[ -x $chromium ]] || die "no $chromium after installing the chromium package"
fi
echo "$chromium"
