#!/usr/bin/env bash
# Builds Caddy the way users do, with xcaddy, from the pinned manifest xcaddy.json, then checks
# the binary lists our modules. Usage: scripts/xcaddy-build.sh [output]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bin/caddy-xcaddy}
version=$(jq -r .caddy_version "$root/xcaddy.json")
withs=()
while IFS=$'\t' read -r module replace; do
  if [ -n "$replace" ] && [ "$replace" != null ]; then
    case "$replace" in /*) ;; *) replace="$root/$replace" ;; esac
    # An explicit placeholder version makes `go get` use the replacement without asking the
    # module proxy for a version list (a proxy that answers 403 instead of 404 breaks that).
    withs+=(--with "$module@v0.0.0=$replace")
  else
    withs+=(--with "$module")
  fi
done < <(jq -r '.plugins[] | [.module, (.replace // "")] | @tsv' "$root/xcaddy.json")
mkdir -p "$(dirname "$out")"
echo "xcaddy build $version ${withs[*]} --output $out"
(cd "$root/tools" && go tool xcaddy build "$version" "${withs[@]}" --output "$out")
# Read the list once: `list-modules | grep -q` under pipefail fails whenever grep exits at the
# first match before list-modules has written everything (SIGPIPE), as one CI run did.
modules=$("$out" list-modules)
for module in oauth http.handlers.oauth_server http.handlers.oauth_resource; do
  grep -qx "$module" <<<"$modules" || { echo "xcaddy build: module $module missing" >&2; exit 1; }
done
echo "xcaddy build: ok ($out)"
