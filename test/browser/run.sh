#!/usr/bin/env bash
# Runs the browser suite: Debian's Chromium, driven by playwright-core, signs in, consents and
# signs out through the pages of a freshly built Caddy with oauth_server.
#
#   test/browser/run.sh            # from anywhere; needs go, node >= 20.19, npm, curl
#   CADDY_BIN=/path/caddy test/browser/run.sh   # reuse a binary instead of building
#
# scripts/chromium.sh installs Chromium with apt-get when it is missing. Caddy runs from
# test/browser/Caddyfile on a free loopback port with its database, XDG dirs and secrets in a
# temp dir, and is always stopped. Screenshots go to test/browser/artifacts/ (kept for CI);
# the run fails when one of them is missing or empty.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
artifacts="$here/artifacts"
# Every screenshot the suite must leave behind.
screenshots=(login login-error consent logout signed-out error frontchannel-logout frontchannel-signed-out
	device device-error device-consent device-approved device-denied ciba-consent ciba-approved ciba-list
	passkey-login passkey-consent-offer passkey-register passkey-added passkey-required passkey-wrong-origin
	passkey-revoked
	delegated-login delegated-login-error delegated-consent delegated-signed-in delegated-denied delegated-replayed
	account-login account account-apps account-apps-removed account-sessions account-password
	account-password-error account-password-changed)
# tests/pages.test.js leaves pages/<state>-<language>-<theme>-<size>.png for each of these.
page_states=(login login-error consent form-post error logout signed-out device device-error device-consent
	device-denied device-approved ciba-list account-login account account-apps account-sessions account-password
	account-password-error ciba-list-pending ciba-consent ciba-approved account-apps-listed frontchannel-logout
	passkeys-signed-out login-passkey consent-passkey passkey-register passkey-added)
page_languages=(en de fr)
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-browser.XXXXXX")"
cleanup_on_exit "$tmp" 200


BROWSER_CHROMIUM="$("$root/scripts/chromium.sh")"
export BROWSER_CHROMIUM

use_caddy "$tmp"

npm_ci_once "$here"

take_port port
take_port rp_port
export BROWSER_PORT="$port"
export BROWSER_ISSUER="http://127.0.0.1:$port"
# The relying party: an HTTP server the test itself runs at the client's redirect URIs.
export BROWSER_RP_PORT="$rp_port"
# Two more relying parties with front-channel logout URIs, each on its own origin
# (tests/frontchannel.test.js runs them).
take_port fc_a_port
take_port fc_b_port
# CIBA (tests/ciba.test.js): the test's receiver of the server's notifier.
take_port ciba_port
export BROWSER_CIBA_PORT="$ciba_port"
# Account self-service (tests/account.test.js): its relying party, and Caddy's admin API, where
# it creates the account it changes.
take_port account_rp_port
take_port admin_port
export BROWSER_ACCOUNT_RP_PORT="$account_rp_port" BROWSER_ADMIN_PORT="$admin_port"
export BROWSER_FC_A_PORT="$fc_a_port" BROWSER_FC_B_PORT="$fc_b_port"
# Passkeys (tests/passkey.test.js): an issuer on localhost (a WebAuthn RP ID cannot be an IP
# address) with its own database, and the test's relying party.
take_port pk_port
take_port pk_rp_port
export BROWSER_PK_PORT="$pk_port" BROWSER_PK_RP_PORT="$pk_rp_port" BROWSER_PK_DB="$tmp/passkeys.db"
# Delegated login (tests/delegated.test.js): a second issuer, the example login app and its
# relying party, each on its own port.
take_port delegated_port
take_port login_app_port
take_port delegated_rp_port
export BROWSER_DELEGATED_PORT="$delegated_port" BROWSER_LOGIN_APP_PORT="$login_app_port" BROWSER_DELEGATED_RP_PORT="$delegated_rp_port"
export BROWSER_DELEGATED_DB="$tmp/delegated.db"
export BROWSER_DB="$tmp/oauth.db"
export BROWSER_MASTER_KEY="$(random_secret)"
export BROWSER_SECRET="$(random_secret)"
export BROWSER_ALICE_PASSWORD="alice-$(random_secret)"
export BROWSER_ARTIFACTS="$artifacts"
export BROWSER_LOGO="$here/logo.svg"

# Old screenshots must not stand in for missing ones.
rm -rf "$artifacts"
mkdir -p "$artifacts" "$tmp/xdg-data" "$tmp/xdg-config"

XDG_DATA_HOME="$tmp/xdg-data" XDG_CONFIG_HOME="$tmp/xdg-config" \
	"$caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"

echo "waiting for $BROWSER_ISSUER ..."
for i in $(seq 1 150); do
	curl -fsS -o /dev/null "$BROWSER_ISSUER/.well-known/openid-configuration" 2>/dev/null && break
	if ! kill -0 "$caddy_pid" 2>/dev/null || ((i == 150)); then
		echo "caddy did not serve $BROWSER_ISSUER" >&2
		exit 1
	fi
	sleep 0.2
done

cd "$here"
set +e
node --test --test-reporter=spec --test-timeout=900000 tests/*.test.js
status=$?
set -e

for name in "${screenshots[@]}"; do
	if [[ ! -s "$artifacts/$name.png" ]]; then
		echo "screenshot $artifacts/$name.png is missing or empty" >&2
		status=1
	fi
done
for state in "${page_states[@]}"; do
	for lang in "${page_languages[@]}"; do
		for theme in light dark; do
			for size in mobile desktop; do
				if [[ ! -s "$artifacts/pages/$state-$lang-$theme-$size.png" ]]; then
					echo "screenshot $artifacts/pages/$state-$lang-$theme-$size.png is missing or empty" >&2
					status=1
				fi
			done
		done
	done
done
exit "$status"
