#!/usr/bin/env bash
# Runs the openid-client interop suite against a freshly built Caddy with oauth_server.
#
#   test/interop/run.sh            # from anywhere; needs go, node >= 20.19, npm, curl, openssl
#   CADDY_BIN=/path/caddy test/interop/run.sh   # reuse a binary instead of building
#
# Everything lives in a temp dir (binary, database, Caddy's XDG dirs, per-run secrets and the
# private_key_jwt client's key); Caddy listens on a free loopback port and is always stopped.
# A second Caddy serves the repository's Caddyfile.example as shipped, only moved to free ports
# and with its admin endpoint off, for tests/example.test.js.
set -euo pipefail
# shellcheck source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/caddy-oauth-interop.XXXXXX")"
cleanup_on_exit "$tmp" 200


# example_secret prints the clear secret of client $1 in Caddyfile.example.
example_secret() {
	local name="$1" secret
	secret="$(awk -v name="$name" '$1 == "client" && $2 == name && $3 == "{" { in_client = 1; next }
		in_client && /^[[:space:]]*}/ { exit }
		in_client && $1 == "secret" { gsub(/"/, "", $2); print $2; exit }' "$root/Caddyfile.example")"
	if [[ -z "$secret" || "$secret" == \{* ]]; then
		echo "no clear secret for $name in Caddyfile.example: update run.sh" >&2
		return 1
	fi
	echo "$secret"
}

# example_password prints the password of account $1 that Caddyfile.example documents in a
# "# demo password: …" comment inside the account's block (the file holds only its hash).
example_password() {
	local name="$1" password
	password="$(awk -v name="$name" '$1 == "account" && $2 == name && $3 == "{" { in_account = 1; next }
		in_account && /^[[:space:]]*}/ { exit }
		in_account && match($0, /#[[:space:]]*demo password:[[:space:]]*/) {
			rest = substr($0, RSTART + RLENGTH); sub(/[[:space:]].*$/, "", rest); print rest; exit }' "$root/Caddyfile.example")"
	if [[ -z "$password" ]]; then
		echo "no \"# demo password:\" comment for account $name in Caddyfile.example: update run.sh" >&2
		return 1
	fi
	echo "$password"
}

need_debian_packages openssl:openssl

# make_client_certificates DIR: a client CA (ca.pem), certificates it issued to
# "O=Interop, CN=pki-client" (pki) and to "O=Interop, CN=other-client" (other), and a
# self-signed one (self-signed); each with its key, P-256, valid for a day.
make_client_certificates() {
	local dir="$1" name subject
	mkdir -p "$dir"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=Interop client CA" \
		-keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
	for name in pki other; do
		subject="/O=Interop/CN=$name-client"
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subject" \
			-keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
		openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 1 \
			-extfile <(printf "extendedKeyUsage=clientAuth") -out "$dir/$name.pem" 2>/dev/null
	done
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=self-signed-client" \
		-keyout "$dir/self-signed.key" -out "$dir/self-signed.pem" 2>/dev/null
}

use_caddy "$tmp"

npm_ci_once "$here"

take_port port
take_port upstream_port
take_port open_port
take_port example_port
take_port example_upstream_port
take_port example_rp_port
take_port backchannel_port
take_port tls_port
take_port ciba_port
export INTEROP_PORT="$port"
# The echo upstream behind the oauth_resource gateway (a second site of the same Caddy).
export INTEROP_UPSTREAM_PORT="$upstream_port"
export INTEROP_ISSUER="http://127.0.0.1:$port"
# The second issuer, with open registration (tests/registration.test.js).
export INTEROP_OPEN_PORT="$open_port"
export INTEROP_OPEN_ISSUER="http://127.0.0.1:$open_port"
export INTEROP_DB="$tmp/oauth.db"
export INTEROP_MASTER_KEY="$(random_secret)"
export INTEROP_SECRET_BASIC="$(random_secret)"
export INTEROP_SECRET_POST="$(random_secret)"
export INTEROP_SECRET_JWT="$(random_secret)"
export INTEROP_SECRET_RS="$(random_secret)"
export INTEROP_SECRET_OTHER="$(random_secret)"
export INTEROP_SECRET_GATEWAY="$(random_secret)"
# The static initial access token of dynamic client registration.
export INTEROP_REG_TOKEN="$(random_secret)"
# End-user flows (tests/authcode.test.js): the web app's and first-party app's secrets and the
# passwords of the accounts they sign in with.
export INTEROP_SECRET_WEB="$(random_secret)"
export INTEROP_SECRET_EXCHANGE="$(random_secret)"
export INTEROP_SECRET_FIRST_PARTY="$(random_secret)"
export INTEROP_ALICE_PASSWORD="alice-$(random_secret)"
# Back-channel logout (tests/backchannel-logout.test.js): the app's secret and the loopback
# port of its logout endpoint, which the test itself serves.
export INTEROP_SECRET_BACKCHANNEL="$(random_secret)"
export INTEROP_BACKCHANNEL_PORT="$backchannel_port"
# CIBA (tests/ciba.test.js): the test's receiver of the notifier, pings and pushes.
export INTEROP_CIBA_PORT="$ciba_port"
export INTEROP_MALLORY_PASSWORD="mallory-$(random_secret)"
export INTEROP_PKJWT_PRIVATE_JWK="$tmp/private-key-jwt-client.jwk.json"
INTEROP_PKJWT_JWKS="$(cd "$here" && node scripts/gen-client-key.js "$INTEROP_PKJWT_PRIVATE_JWK")"
export INTEROP_PKJWT_JWKS
# A stand-in identity provider trusted by the server (tests/exchange.test.js): its tokens are
# signed by the test with this key.
export INTEROP_IDP_PRIVATE_JWK="$tmp/idp.jwk.json"
INTEROP_IDP_JWKS="$(cd "$here" && node scripts/gen-client-key.js "$INTEROP_IDP_PRIVATE_JWK")"
export INTEROP_IDP_JWKS

# Mutual TLS (tests/mtls.test.js): the TLS issuer's port and database, a client CA with a
# certificate it issued for pki-client and one for another subject, and a self-signed
# certificate whose key is the self-signed client's JWKS.
export INTEROP_TLS_PORT="$tls_port"
# localhost, not 127.0.0.1: with client_auth, Caddy wants the TLS server name (SNI, which is
# never an IP address) to match the Host header.
export INTEROP_TLS_ISSUER="https://localhost:$tls_port"
export INTEROP_TLS_DB="$tmp/oauth-tls.db"
export INTEROP_CERTS="$tmp/certs"
export INTEROP_CADDY_ROOT="$tmp/xdg-data/caddy/pki/authorities/local/root.crt"
make_client_certificates "$INTEROP_CERTS"
INTEROP_SELF_SIGNED_JWKS="$(cd "$here" && node scripts/cert-jwks.js "$INTEROP_CERTS/self-signed.pem")"
export INTEROP_SELF_SIGNED_JWKS

mkdir -p "$tmp/xdg-data" "$tmp/xdg-config"
XDG_DATA_HOME="$tmp/xdg-data" XDG_CONFIG_HOME="$tmp/xdg-config" \
	"$caddy" run --config "$here/Caddyfile" --adapter caddyfile >"$tmp/caddy.log" 2>&1 &
caddy_pid=$!
track_pid "$caddy_pid"

export INTEROP_EXAMPLE_BASE="http://127.0.0.1:$example_port"
INTEROP_EXAMPLE_SECRET="$(example_secret demo-service)"
export INTEROP_EXAMPLE_SECRET
# The demo web app (tests/example-authcode.test.js): its redirect URIs live on port 9082,
# moved here like the others; nothing listens there, the tests stop at the redirect.
export INTEROP_EXAMPLE_RP_BASE="http://127.0.0.1:$example_rp_port"
INTEROP_EXAMPLE_WEB_SECRET="$(example_secret demo-app)"
export INTEROP_EXAMPLE_WEB_SECRET
INTEROP_EXAMPLE_ALICE_PASSWORD="$(example_password alice)"
export INTEROP_EXAMPLE_ALICE_PASSWORD
mkdir -p "$tmp/example/xdg-data" "$tmp/example/xdg-config"
example_caddyfile "$root/Caddyfile.example" "$tmp/example/Caddyfile" "$example_port" "$example_upstream_port" "$example_rp_port"
XDG_DATA_HOME="$tmp/example/xdg-data" XDG_CONFIG_HOME="$tmp/example/xdg-config" \
	"$caddy" run --config "$tmp/example/Caddyfile" --adapter caddyfile >"$tmp/example/caddy.log" 2>&1 &
example_pid=$!
track_pid "$example_pid"

wait_for_url "$INTEROP_ISSUER/.well-known/openid-configuration" "$caddy_pid"
wait_for_url "$INTEROP_OPEN_ISSUER/.well-known/openid-configuration" "$caddy_pid"
wait_for_url "$INTEROP_EXAMPLE_BASE/.well-known/oauth-authorization-server" "$example_pid"
# The TLS issuer answers once Caddy's internal CA has issued its certificate.
tls_ready=""
for _ in $(seq 1 150); do
	if [[ -s "$INTEROP_CADDY_ROOT" ]] && curl -fsS -o /dev/null --cacert "$INTEROP_CADDY_ROOT" \
		"$INTEROP_TLS_ISSUER/.well-known/openid-configuration" 2>/dev/null; then
		tls_ready=1
		break
	fi
	sleep 0.2
done
[[ -n "$tls_ready" ]] || { echo "the TLS issuer $INTEROP_TLS_ISSUER did not answer" >&2; exit 1; }

cd "$here"
set +e
node --test --test-reporter=spec --test-timeout=60000 tests/*.test.js
status=$?
set -e
exit "$status"
