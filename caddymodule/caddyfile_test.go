package caddymodule

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// fullCaddyfile uses every subdirective once.
const fullCaddyfile = `oauth_server {
	issuer https://auth.example
	storage postgres {env.DATABASE_URL}
	master_key {env.OAUTH_MASTER_KEY}
	access_token_ttl 10m
	refresh_token_ttl 336h
	access_token_format opaque
	access_token_signing_alg ES256
	signing_algs RS256 ES256
	key_rotation 720h
	client_assertion_max_age 5m
	client_assertion_endpoint_audience
	outbound_allow_private
	client_id_metadata_documents {
		allow_private
		max_size 4096
		timeout 3s
		cache_min 2m
		cache_max 12h
		allowed_hosts clients.example *.mcp.example
		resources https://api.example.test
	}
	enforce_per_client_resources false
	resource_seed_mode merge
	resource https://api.example.test {
		name "Example API"
		access_token_ttl 5m
		refresh_token_ttl 24h
		access_token_format jwt
		signing_alg ES256
		signing_key_id key-1
		scopes read write
		claim tier gold
		claim level 3
		claim roles ` + "`[\"a\", \"b\"]`" + `
		dpop_bound_access_tokens_required
		disabled false
		metadata owner "team api"
	}
	client demo-service {
		name "Demo service"
		secret {env.DEMO_SECRET}
		auth_method client_secret_jwt
		auth_signing_alg HS256
		grant_types client_credentials refresh_token
		redirect_uris https://app.example/cb https://app.example/cb2
		redirect_uri_any_loopback_port
		scopes read write
		resources https://api.example.test
		introspects https://api.example.test https://other.example.test
		default_resource https://api.example.test
		dpop_bound_access_tokens true
	}
	client jwt-client {
		auth_method private_key_jwt
		jwks ` + "`{\"keys\": []}`" + `
	}
}`

const fullJSON = `{
	"issuer": "https://auth.example",
	"storage": {"driver": "postgres", "dsn": "{env.DATABASE_URL}"},
	"master_key": "{env.OAUTH_MASTER_KEY}",
	"access_token_ttl": 600000000000,
	"refresh_token_ttl": 1209600000000000,
	"access_token_format": "opaque",
	"access_token_signing_alg": "ES256",
	"signing_algs": ["RS256", "ES256"],
	"key_rotation": 2592000000000000,
	"client_assertion_max_age": 300000000000,
	"client_assertion_endpoint_audience": true,
	"outbound_allow_private": true,
	"client_id_metadata_documents": {
		"allow_private": true,
		"max_size": 4096,
		"timeout": 3000000000,
		"cache_min": 120000000000,
		"cache_max": 43200000000000,
		"allowed_hosts": ["clients.example", "*.mcp.example"],
		"resources": ["https://api.example.test"]
	},
	"enforce_per_client_resources": false,
	"resource_seed_mode": "merge",
	"resources": [{
		"identifier": "https://api.example.test",
		"name": "Example API",
		"access_token_ttl": 300000000000,
		"refresh_token_ttl": 86400000000000,
		"access_token_format": "jwt",
		"signing_alg": "ES256",
		"signing_key_id": "key-1",
		"scopes": ["read", "write"],
		"claims": {"level": 3, "roles": ["a", "b"], "tier": "gold"},
		"dpop_bound_access_tokens_required": true,
		"disabled": false,
		"metadata": {"owner": "team api"}
	}],
	"clients": [{
		"client_id": "demo-service",
		"name": "Demo service",
		"secret": "{env.DEMO_SECRET}",
		"auth_method": "client_secret_jwt",
		"auth_signing_alg": "HS256",
		"grant_types": ["client_credentials", "refresh_token"],
		"redirect_uris": ["https://app.example/cb", "https://app.example/cb2"],
		"redirect_uri_any_loopback_port": true,
		"scopes": ["read", "write"],
		"resources": ["https://api.example.test"],
		"introspects": ["https://api.example.test", "https://other.example.test"],
		"default_resource": "https://api.example.test",
		"dpop_bound_access_tokens": true
	}, {
		"client_id": "jwt-client",
		"auth_method": "private_key_jwt",
		"jwks": {"keys": []}
	}]
}`

const endUserCaddyfile = `oauth_server {
	issuer https://auth.example
	code_ttl 30s
	session_ttl 168h
	session_idle_ttl 2h
	cleanup_interval 90s
	interaction_ttl 10m
	refresh_grace_period 10s
	allow_plain_pkce
	acr_values urn:example:pwd
	login_limits 3 10 10m
	login_delay 500ms 4s
	client web {
		secret {env.WEB_SECRET}
		grant_types authorization_code refresh_token
		redirect_uris https://app.example/cb
		post_logout_redirect_uris https://app.example/bye
		subject_type pairwise
		sector_identifier app.example
		id_token_signed_response_alg ES256
		skip_consent
		pkce_optional
		refresh_without_offline_access
		backchannel_logout_uri https://app.example/logout/back?tenant=1
		backchannel_logout_session_required
		frontchannel_logout_uri https://app.example/logout/front
		frontchannel_logout_session_required true
	}
	account Alice {
		password {env.ALICE_PASSWORD}
		subject alice-1
		claim name "Alice Liddell"
		claim email_verified true
	}
	account bob {
		password_hash $2b$10$abcdefghijklmnopqrstuu5s8QWRIIw7lHT4HSCfNbM3W2YJ7pTC6
		disabled
	}
}`

const endUserJSON = `{
	"issuer": "https://auth.example",
	"clients": [{
		"client_id": "web",
		"secret": "{env.WEB_SECRET}",
		"grant_types": ["authorization_code", "refresh_token"],
		"redirect_uris": ["https://app.example/cb"],
		"post_logout_redirect_uris": ["https://app.example/bye"],
		"subject_type": "pairwise",
		"sector_identifier": "app.example",
		"id_token_signed_response_alg": "ES256",
		"skip_consent": true,
		"pkce_optional": true,
		"refresh_without_offline_access": true,
		"backchannel_logout_uri": "https://app.example/logout/back?tenant=1",
		"backchannel_logout_session_required": true,
		"frontchannel_logout_uri": "https://app.example/logout/front",
		"frontchannel_logout_session_required": true
	}],
	"accounts": [{
		"username": "Alice",
		"subject": "alice-1",
		"password": "{env.ALICE_PASSWORD}",
		"claims": {"email_verified": true, "name": "Alice Liddell"}
	}, {
		"username": "bob",
		"password_hash": "$2b$10$abcdefghijklmnopqrstuu5s8QWRIIw7lHT4HSCfNbM3W2YJ7pTC6",
		"disabled": true
	}],
	"code_ttl": 30000000000,
	"session_ttl": 604800000000000,
	"session_idle_ttl": 7200000000000,
	"cleanup_interval": 90000000000,
	"interaction_ttl": 600000000000,
	"refresh_grace_period": 10000000000,
	"allow_plain_pkce": true,
	"acr_values": ["urn:example:pwd"],
	"login_failures_per_account": 3,
	"login_failures_per_ip": 10,
	"login_window": 600000000000,
	"login_delay_base": 500000000,
	"login_delay_max": 4000000000
}`

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		want        string // JSON of the parsed handler, when no error is expected
		wantErr     string
	}{
		{name: "minimal", input: "oauth_server {\n issuer https://auth.example\n}", want: `{"issuer":"https://auth.example"}`},
		{name: "loopback http issuer", input: "oauth_server {\n issuer http://127.0.0.1:9080\n}", want: `{"issuer":"http://127.0.0.1:9080"}`},
		{name: "localhost http issuer", input: "oauth_server {\n issuer http://localhost:9080/tenant\n}", want: `{"issuer":"http://localhost:9080/tenant"}`},
		{name: "sqlite default path", input: "oauth_server {\n issuer https://a.example\n storage sqlite\n}", want: `{"issuer":"https://a.example","storage":{"driver":"sqlite"}}`},
		{name: "sqlite path", input: "oauth_server {\n issuer https://a.example\n storage sqlite /var/lib/oauth.db\n}", want: `{"issuer":"https://a.example","storage":{"driver":"sqlite","dsn":"/var/lib/oauth.db"}}`},
		{name: "resource without block", input: "oauth_server {\n issuer https://a.example\n resource urn:example:api\n}", want: `{"issuer":"https://a.example","resources":[{"identifier":"urn:example:api"}]}`},
		{name: "full", input: fullCaddyfile, want: fullJSON},
		{name: "dpop options", input: "oauth_server {\n issuer https://a.example\n dpop_algs ES256 EdDSA\n dpop_nonce {env.NONCE}\n dpop_replay_redis redis://127.0.0.1:6379/0\n}",
			want: `{"issuer":"https://a.example","dpop_algs":["ES256","EdDSA"],"dpop_nonce":"{env.NONCE}","dpop_replay_redis":"redis://127.0.0.1:6379/0"}`},
		{name: "dpop_replay_redis placeholder", input: "oauth_server {\n issuer https://a.example\n dpop_replay_redis {env.REDIS_URL}\n}",
			want: `{"issuer":"https://a.example","dpop_replay_redis":"{env.REDIS_URL}"}`},
		{name: "bad dpop_replay_redis", input: "oauth_server {\n issuer https://a.example\n dpop_replay_redis ftp://h\n}", wantErr: "invalid Redis URL"},
		{name: "symmetric dpop alg", input: "oauth_server {\n issuer https://a.example\n dpop_algs HS256\n}", wantErr: "HS256"},
		{name: "end-user flows", input: endUserCaddyfile, want: endUserJSON},
		{name: "account without password", input: "oauth_server {\n issuer https://a.example\n account bob {\n claim name Bob\n }\n}", wantErr: "password or password_hash is required"},
		{name: "account with both", input: "oauth_server {\n issuer https://a.example\n account bob {\n password x\n password_hash $2b$10$x\n }\n}", wantErr: "not both"},
		{name: "account bad hash", input: "oauth_server {\n issuer https://a.example\n account bob {\n password_hash md5$x\n }\n}", wantErr: "password_hash"},
		{name: "account reserved claim", input: "oauth_server {\n issuer https://a.example\n account bob {\n password x\n claim sub admin\n }\n}", wantErr: "sub"},
		{name: "account twice", input: "oauth_server {\n issuer https://a.example\n account Bob {\n password x\n }\n account bob {\n password y\n }\n}", wantErr: "declared twice"},
		{name: "bad subject_type", input: "oauth_server {\n issuer https://a.example\n client c {\n subject_type secret\n }\n}", wantErr: "subject_type"},
		{name: "bad login_limits", input: "oauth_server {\n issuer https://a.example\n login_limits 0 20 15m\n}", wantErr: "positive integer"},
		{name: "login_delay arguments", input: "oauth_server {\n issuer https://a.example\n login_delay 1s\n}", wantErr: "wrong argument count"},
		{name: "bad login_delay", input: "oauth_server {\n issuer https://a.example\n login_delay 0 8s\n}", wantErr: `login_delay: invalid duration "0"`},
		{name: "login_delay base over max", input: "oauth_server {\n issuer https://a.example\n login_delay 10s 5s\n}", wantErr: "login_delay: the base 10s exceeds the maximum 5s"},
		{name: "login_delay base equal to max", input: "oauth_server {\n issuer https://a.example\n login_delay 10s 10s\n login_limits 5 20 15m\n}", want: `{"issuer":"https://a.example","login_delay_base":10000000000,"login_delay_max":10000000000,"login_failures_per_account":5,"login_failures_per_ip":20,"login_window":900000000000}`},
		{name: "login_delay max too long", input: "oauth_server {\n issuer https://a.example\n login_delay 1s 1m\n}", wantErr: "login_delay: the maximum must not exceed 30s"},

		{name: "args on directive", input: "oauth_server https://a.example {\n}", wantErr: "wrong argument count"},
		{name: "missing issuer", input: "oauth_server {\n access_token_ttl 5m\n}", wantErr: "issuer: is required"},
		{name: "issuer twice on line", input: "oauth_server {\n issuer https://a.example https://b.example\n}", wantErr: "wrong argument count"},
		{name: "relative issuer", input: "oauth_server {\n issuer /auth\n}", wantErr: "is not an absolute URL"},
		{name: "http issuer off loopback", input: "oauth_server {\n issuer http://auth.example\n}", wantErr: "use https"},
		{name: "issuer with query", input: "oauth_server {\n issuer https://a.example?x=1\n}", wantErr: "a query or a fragment"},
		{name: "issuer trailing slash", input: "oauth_server {\n issuer https://a.example/\n}", wantErr: "must not end with a slash"},
		{name: "unknown subdirective", input: "oauth_server {\n issuer https://a.example\n foo bar\n}", wantErr: `unknown oauth_server subdirective "foo"`},
		{name: "bad duration", input: "oauth_server {\n issuer https://a.example\n access_token_ttl ten\n}", wantErr: `access_token_ttl: invalid duration "ten"`},
		{name: "negative duration", input: "oauth_server {\n issuer https://a.example\n key_rotation -1h\n}", wantErr: "key_rotation: must not be negative"},
		{name: "bad format", input: "oauth_server {\n issuer https://a.example\n access_token_format paseto\n}", wantErr: `access_token_format: unsupported value "paseto"`},
		{name: "alg none", input: "oauth_server {\n issuer https://a.example\n signing_algs ES256 none\n}", wantErr: `signing_algs: unsupported value "none"`},
		{name: "hmac signing alg", input: "oauth_server {\n issuer https://a.example\n access_token_signing_alg HS256\n}", wantErr: `unsupported value "HS256"`},
		{name: "bad seed mode", input: "oauth_server {\n issuer https://a.example\n resource_seed_mode upsert\n}", wantErr: `resource_seed_mode: unsupported value`},
		{name: "bad bool", input: "oauth_server {\n issuer https://a.example\n enforce_per_client_resources maybe\n}", wantErr: "want true or false"},
		{name: "unknown storage", input: "oauth_server {\n issuer https://a.example\n storage mysql dsn\n}", wantErr: `unsupported driver "mysql"`},
		{name: "postgres without dsn", input: "oauth_server {\n issuer https://a.example\n storage postgres\n}", wantErr: "usage: storage"},
		{name: "relative resource", input: "oauth_server {\n issuer https://a.example\n resource /api\n}", wantErr: "must be an absolute URI"},
		{name: "resource with fragment", input: "oauth_server {\n issuer https://a.example\n resource https://api.example#x\n}", wantErr: "must be an absolute URI without a fragment"},
		{name: "duplicate resource", input: "oauth_server {\n issuer https://a.example\n resource https://api.example\n resource https://api.example\n}", wantErr: "declared twice"},
		{name: "unknown resource subdirective", input: "oauth_server {\n issuer https://a.example\n resource https://api.example {\n audience x\n }\n}", wantErr: `unknown resource subdirective "audience"`},
		{name: "claim without value", input: "oauth_server {\n issuer https://a.example\n resource https://api.example {\n claim tier\n }\n}", wantErr: "usage: claim <name> <value>"},
		{name: "claim twice", input: "oauth_server {\n issuer https://a.example\n resource https://api.example {\n claim a 1\n claim a 2\n }\n}", wantErr: `claim "a": set twice`},
		{name: "scope with space", input: "oauth_server {\n issuer https://a.example\n resource https://api.example {\n scopes \"read write\"\n }\n}", wantErr: "not a valid scope token"},
		{name: "client without id", input: "oauth_server {\n issuer https://a.example\n client {\n name x\n }\n}", wantErr: "client_id: is required"},
		{name: "client without id or block", input: "oauth_server {\n issuer https://a.example\n client\n}", wantErr: "client_id: is required"},
		{name: "unknown client subdirective", input: "oauth_server {\n issuer https://a.example\n client c {\n password x\n }\n}", wantErr: `unknown client subdirective "password"`},
		{name: "bad auth method", input: "oauth_server {\n issuer https://a.example\n client c {\n auth_method client_secret_magic\n }\n}", wantErr: `auth_method: unsupported value "client_secret_magic"`},
		{name: "secret and hash", input: "oauth_server {\n issuer https://a.example\n client c {\n secret s\n secret_hash sha256$AAAA\n }\n}", wantErr: "not both"},
		{name: "malformed hash", input: "oauth_server {\n issuer https://a.example\n client c {\n secret_hash md5$abc\n }\n}", wantErr: "client_secret_hash: is not a"},
		{name: "none with secret", input: "oauth_server {\n issuer https://a.example\n client c {\n auth_method none\n secret s\n }\n}", wantErr: "takes no client secret"},
		{name: "private_key_jwt without keys", input: "oauth_server {\n issuer https://a.example\n client c {\n auth_method private_key_jwt\n }\n}", wantErr: "needs jwks or jwks_uri"},
		{name: "jwks not json", input: "oauth_server {\n issuer https://a.example\n client c {\n jwks nope\n }\n}", wantErr: "jwks must be a JSON JWK Set"},
		{name: "jwks not a set", input: "oauth_server {\n issuer https://a.example\n client c {\n jwks `[1]`\n }\n}", wantErr: "jwks: must be a JSON JWK Set"},
		{name: "http jwks_uri", input: "oauth_server {\n issuer https://a.example\n client c {\n jwks_uri http://keys.example/jwks\n }\n}", wantErr: "jwks_uri"},
		{name: "redirect with fragment", input: "oauth_server {\n issuer https://a.example\n client c {\n redirect_uris https://app/cb#f\n }\n}", wantErr: "fragment"},
		{name: "outbound_allow_private false", input: "oauth_server {\n issuer https://a.example\n outbound_allow_private false\n}", want: `{"issuer":"https://a.example"}`},
		{name: "outbound_allow_private bad value", input: "oauth_server {\n issuer https://a.example\n outbound_allow_private maybe\n}", wantErr: "outbound_allow_private"},
		{name: "client_id_metadata_documents bare", input: "oauth_server {\n issuer https://a.example\n client_id_metadata_documents\n}", want: `{"issuer":"https://a.example","client_id_metadata_documents":{}}`},
		{name: "client_id_metadata_documents empty block", input: "oauth_server {\n issuer https://a.example\n client_id_metadata_documents {\n }\n}", want: `{"issuer":"https://a.example","client_id_metadata_documents":{}}`},
		{name: "client_id_metadata_documents argument", input: "oauth_server {\n issuer https://a.example\n client_id_metadata_documents on\n}", wantErr: "wrong argument count"},
		{name: "client_id_metadata_documents twice", input: "oauth_server {\n issuer https://a.example\n client_id_metadata_documents\n client_id_metadata_documents\n}", wantErr: "set twice"},
		{name: "client_id_metadata_documents unknown", input: "oauth_server {\n issuer https://a.example\n client_id_metadata_documents {\n follow_redirects\n }\n}", wantErr: `unknown client_id_metadata_documents subdirective "follow_redirects"`},
		{name: "client_id_metadata_documents max_size", input: "oauth_server {\n issuer https://a.example\n client_id_metadata_documents {\n max_size 5k\n }\n}", wantErr: "max_size: want a positive number of bytes"},
		{name: "client_id_metadata_documents cache bounds", input: "oauth_server {\n issuer https://a.example\n client_id_metadata_documents {\n cache_min 2h\n cache_max 1h\n }\n}", wantErr: "cache_min must not exceed cache_max"},
		{name: "client_id_metadata_documents host", input: "oauth_server {\n issuer https://a.example\n client_id_metadata_documents {\n allowed_hosts https://x.example\n }\n}", wantErr: "allowed_hosts"},
		{name: "client_id_metadata_documents resource", input: "oauth_server {\n issuer https://a.example\n client_id_metadata_documents {\n resources /api\n }\n}", wantErr: "must be an absolute URI"},
		{name: "client_assertion_endpoint_audience false", input: "oauth_server {\n issuer https://a.example\n client_assertion_endpoint_audience false\n}", want: `{"issuer":"https://a.example"}`},
		{name: "relative introspects", input: "oauth_server {\n issuer https://a.example\n client c {\n introspects /api\n }\n}", wantErr: "must be an absolute URI"},
		{name: "introspects without a resource", input: "oauth_server {\n issuer https://a.example\n client c {\n introspects\n }\n}", wantErr: "wrong argument count"},
		{name: "default_resource", input: "oauth_server {\n issuer https://a.example\n client c {\n resources https://a.example/api https://a.example/b\n default_resource https://a.example/b\n }\n}",
			want: `{"issuer":"https://a.example","clients":[{"client_id":"c","resources":["https://a.example/api","https://a.example/b"],"default_resource":"https://a.example/b"}]}`},
		{name: "default_resource unlinked, links not enforced", input: "oauth_server {\n issuer https://a.example\n enforce_per_client_resources false\n client c {\n default_resource https://a.example/api\n }\n}",
			want: `{"issuer":"https://a.example","enforce_per_client_resources":false,"clients":[{"client_id":"c","default_resource":"https://a.example/api"}]}`},
		{name: "default_resource not linked", input: "oauth_server {\n issuer https://a.example\n client c {\n resources https://a.example/api\n default_resource https://a.example/other\n }\n}", wantErr: "must be one of the client's resources"},
		{name: "relative default_resource", input: "oauth_server {\n issuer https://a.example\n client c {\n default_resource /api\n }\n}", wantErr: "default_resource \"/api\": must be an absolute URI"},
		{name: "two default_resources", input: "oauth_server {\n issuer https://a.example\n client c {\n default_resource https://a.example/a https://a.example/b\n }\n}", wantErr: "wrong argument count"},
		{name: "cache_sync_interval", input: "oauth_server {\n issuer https://a.example\n cache_sync_interval 500ms\n}", want: `{"issuer":"https://a.example","cache_sync_interval":500000000}`},
		{name: "client_secret_rotation_overlap", input: "oauth_server {\n issuer https://a.example\n client_secret_rotation_overlap 1h\n}", want: `{"issuer":"https://a.example","client_secret_rotation_overlap":3600000000000}`},
		{name: "backchannel_logout_uri over http", input: "oauth_server {\n issuer https://a.example\n client c {\n backchannel_logout_uri http://rp.example/bc\n }\n}", wantErr: "backchannel_logout_uri"},
		{name: "backchannel_logout_uri twice on a line", input: "oauth_server {\n issuer https://a.example\n client c {\n backchannel_logout_uri https://a.example/x https://a.example/y\n }\n}", wantErr: "wrong argument count"},
		{name: "backchannel session without uri", input: "oauth_server {\n issuer https://a.example\n client c {\n backchannel_logout_session_required\n }\n}", wantErr: "backchannel_logout_session_required: needs backchannel_logout_uri"},
		{name: "frontchannel session bad bool", input: "oauth_server {\n issuer https://a.example\n client c {\n frontchannel_logout_session_required maybe\n }\n}", wantErr: "want true or false"},
		{name: "frontchannel_logout_uri off the redirect origin", input: "oauth_server {\n issuer https://a.example\n client c {\n redirect_uris https://app.example/cb\n frontchannel_logout_uri https://other.example/fc\n }\n}", wantErr: "frontchannel_logout_uri"},
		{name: "duplicate client", input: "oauth_server {\n issuer https://a.example\n client c\n client c\n}", wantErr: `client "c": declared twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[Handler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestValidateJSON(t *testing.T) {
	// JSON configs skip the Caddyfile parser, so Validate must catch the same mistakes.
	tests := []struct {
		name, json, wantErr string
	}{
		{"ok", `{"issuer":"https://a.example","clients":[{"client_id":"c","secret_hash":"sha256$47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}]}`, ""},
		{"missing issuer", `{}`, "issuer: is required"},
		{"storage driver", `{"issuer":"https://a.example","storage":{"driver":"mysql"}}`, "unsupported driver"},
		{"postgres dsn", `{"issuer":"https://a.example","storage":{"driver":"postgres"}}`, "connection string is required"},
		{"negative ttl", `{"issuer":"https://a.example","access_token_ttl":-1}`, "access_token_ttl: must not be negative"},
		{"negative rotation overlap", `{"issuer":"https://a.example","client_secret_rotation_overlap":-1}`, "client_secret_rotation_overlap: must not be negative"},
		{"resource ttl", `{"issuer":"https://a.example","resources":[{"identifier":"https://r","refresh_token_ttl":-1}]}`, "refresh_token_ttl \"-1ns\": must not be negative"},
		{"resource identifier", `{"issuer":"https://a.example","resources":[{}]}`, "identifier: is required"},
		{"client id", `{"issuer":"https://a.example","clients":[{"name":"x"}]}`, "client_id: is required"},
		{"client_secret_jwt needs clear secret", `{"issuer":"https://a.example","clients":[{"client_id":"c","auth_method":"client_secret_jwt","secret_hash":"sha256$47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}]}`, "needs the client secret itself"},
		{"jwks and uri", `{"issuer":"https://a.example","clients":[{"client_id":"c","jwks":{"keys":[]},"jwks_uri":"https://k"}]}`, "not both"},
		{"alg none", `{"issuer":"https://a.example","clients":[{"client_id":"c","auth_signing_alg":"none"}]}`, "applies only to client_secret_jwt and private_key_jwt"},
		{"login limits", `{"issuer":"https://a.example","login_failures_per_account":-1}`, "login_limits: the per-account and per-IP limits must be positive"},
		{"login window", `{"issuer":"https://a.example","login_window":-1}`, "login_limits: the window must be positive"},
		{"login delay base only", `{"issuer":"https://a.example","login_delay_base":"10s"}`, "login_delay: the base 10s exceeds the maximum 8s"},
		{"login delay max", `{"issuer":"https://a.example","login_delay_max":"31s"}`, "login_delay: the maximum must not exceed 30s"},
		{"login delay", `{"issuer":"https://a.example","login_delay_base":"2s","login_delay_max":"30s"}`, ""},
		{"relative introspects", `{"issuer":"https://a.example","clients":[{"client_id":"c","introspects":["api"]}]}`, "must be an absolute URI"},
		{"default_resource not linked", `{"issuer":"https://a.example","clients":[{"client_id":"c","resources":["https://a.example/api"],"default_resource":"https://a.example/other"}]}`, "must be one of the client's resources"},
		// The drift issue 9 names: adapt accepted it, the server refused it at start.
		{"http redirect off loopback", `{"issuer":"https://a.example","clients":[{"client_id":"c","redirect_uris":["http://example.com/cb"]}]}`, `client "c": redirect_uris "http://example.com/cb": http is allowed only on loopback; use https`},
		{"id token alg without key", `{"issuer":"https://a.example","clients":[{"client_id":"c","redirect_uris":["https://a.example/cb"],"id_token_signed_response_alg":"PS256"}]}`, "no signing key"},
		{"placeholder secret is fine at adapt time", `{"issuer":"https://a.example","clients":[{"client_id":"c","secret":"{env.NOT_SET_HERE}"}]}`, ""},
		{"default_resource with fragment", `{"issuer":"https://a.example","enforce_per_client_resources":false,"clients":[{"client_id":"c","default_resource":"https://a.example/api#x"}]}`, "default_resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Handler
			if err := caddy.StrictUnmarshalJSON([]byte(tt.json), &h); err != nil {
				t.Fatal(err)
			}
			err := h.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestGlobalOption(t *testing.T) {
	tests := []struct {
		name, caddyfile, wantErr string
		wantApp                  bool
	}{
		{name: "absent", caddyfile: ":8080 {\n respond ok\n}"},
		{name: "bare", caddyfile: "{\n oauth\n}\n:8080 {\n respond ok\n}", wantApp: true},
		{name: "empty block", caddyfile: "{\n oauth {\n }\n}\n:8080 {\n respond ok\n}", wantApp: true},
		{name: "unknown option", caddyfile: "{\n oauth {\n store x\n }\n}\n:8080 {\n respond ok\n}", wantErr: `unknown oauth option "store"`},
		{name: "argument", caddyfile: "{\n oauth x\n}\n:8080 {\n respond ok\n}", wantErr: "wrong argument count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := adapt(tt.caddyfile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parsed struct {
				Apps map[string]json.RawMessage `json:"apps"`
			}
			if err := json.Unmarshal(cfg, &parsed); err != nil {
				t.Fatal(err)
			}
			raw, ok := parsed.Apps["oauth"]
			if ok != tt.wantApp {
				t.Fatalf("oauth app present = %v, want %v", ok, tt.wantApp)
			}
			if ok {
				var app App
				if err := caddy.StrictUnmarshalJSON(raw, &app); err != nil {
					t.Fatalf("oauth app JSON %s does not load: %v", raw, err)
				}
			}
		})
	}
}

// TestAdaptRoundTrip checks that `caddy adapt` output loads back into the same handler
// (strictly: no unknown fields) and re-encodes to the same JSON.
func TestAdaptRoundTrip(t *testing.T) {
	site := "https://auth.example {\n" + fullCaddyfile + "\n}"
	cfg, err := adapt(site)
	if err != nil {
		t.Fatal(err)
	}
	handlers := findHandlers(t, cfg, "oauth_server")
	if len(handlers) != 1 {
		t.Fatalf("found %d oauth_server handlers in adapted config, want 1:\n%s", len(handlers), cfg)
	}
	adapted := handlers[0]
	h := loadHandler(t, adapted)
	if err := h.Validate(); err != nil {
		t.Fatalf("adapted JSON does not validate: %v", err)
	}
	again, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var withoutName map[string]any
	if err := json.Unmarshal(adapted, &withoutName); err != nil {
		t.Fatal(err)
	}
	if withoutName["handler"] != "oauth_server" {
		t.Fatalf("handler name = %v", withoutName["handler"])
	}
	delete(withoutName, "handler")
	stripped, _ := json.Marshal(withoutName)
	assertJSONEqual(t, again, stripped)

	// Golden-ish: the values that matter most survive in the form the server needs.
	if h.Issuer != "https://auth.example" || h.Storage.DSN != "{env.DATABASE_URL}" {
		t.Errorf("issuer/storage = %q/%+v", h.Issuer, h.Storage)
	}
	ac, err := h.authConfig(caddy.NewReplacer())
	if err == nil {
		t.Fatal("authConfig resolved {env.DEMO_SECRET} although it is unset")
	}
	t.Setenv("DEMO_SECRET", "s3cret-from-env")
	if ac, err = h.authConfig(caddy.NewReplacer()); err != nil {
		t.Fatal(err)
	}
	r := ac.Resources[0]
	if *r.AccessTokenTTL != 5*60*1e9 || !*r.DPoPBoundAccessTokensRequired || *r.Disabled {
		t.Errorf("resource policy = ttl %v dpop %v disabled %v", *r.AccessTokenTTL, *r.DPoPBoundAccessTokensRequired, *r.Disabled)
	}
	wantClaims := map[string]any{"tier": "gold", "level": float64(3), "roles": []any{"a", "b"}}
	if !reflect.DeepEqual(r.CustomClaims, wantClaims) {
		t.Errorf("claims = %#v, want %#v", r.CustomClaims, wantClaims)
	}
	if c := ac.Clients[0]; c.Secret != "s3cret-from-env" || c.TokenEndpointAuthMethod != "client_secret_jwt" || !c.RedirectURIAnyLoopbackPort || c.DefaultResource != "https://api.example.test" ||
		!slices.Equal(c.Resources, []string{"https://api.example.test"}) ||
		!slices.Equal(c.Introspects, []string{"https://api.example.test", "https://other.example.test"}) {
		t.Errorf("client = %+v", c)
	}
	if c := ac.Clients[1]; c.JWKS != `{"keys":[]}` {
		t.Errorf("jwks = %q", c.JWKS)
	}
	if !ac.ClientAssertionEndpointAudience {
		t.Error("client_assertion_endpoint_audience did not reach the server's config")
	}
	if !ac.OutboundAllowPrivate {
		t.Error("outbound_allow_private did not reach the server's config")
	}
	if d := ac.ClientIDMetadataDocuments; !d.Enabled || !d.AllowPrivate || d.MaxBytes != 4096 || d.Timeout != 3e9 || d.CacheMin != 120e9 || d.CacheMax != 12*3600e9 ||
		!slices.Equal(d.AllowedHosts, []string{"clients.example", "*.mcp.example"}) || !slices.Equal(d.Resources, []string{"https://api.example.test"}) {
		t.Errorf("client_id_metadata_documents = %+v", d)
	}
	if *ac.EnforcePerClientResources || ac.ResourceSeedMode != "merge" || ac.KeyRotationPeriod != 720*3600*1e9 {
		t.Errorf("server policy = %+v", ac)
	}
}

func TestDirectiveOrder(t *testing.T) {
	// No `order` line needed: oauth_server runs before every handler that could answer its
	// requests (and before oauth_resource, so an unmatched gateway in the issuer's own site
	// does not demand a token for /token), whatever the order in the site block.
	cfg, err := adapt(`http://127.0.0.1:9080 {
		reverse_proxy 127.0.0.1:9999
		respond "catch-all"
		file_server
		templates
		oauth_resource {
			resource http://127.0.0.1:9080/api
			issuer http://127.0.0.1:9080
		}
		oauth_server {
			issuer http://127.0.0.1:9080
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	s := string(cfg)
	as := strings.Index(s, `"handler":"oauth_server"`)
	for _, other := range []string{"reverse_proxy", "static_response", "file_server", "templates", "oauth_resource"} {
		at := strings.Index(s, `"handler":"`+other+`"`)
		if as < 0 || at < 0 || as > at {
			t.Errorf("oauth_server (at %d) should come before %s (at %d):\n%s", as, other, at, s)
		}
	}
}

func TestExampleCaddyfileAdapts(t *testing.T) {
	body, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := adapt(string(body))
	if err != nil {
		t.Fatal(err)
	}
	handlers := findHandlers(t, cfg, "oauth_server")
	if len(handlers) != 1 {
		t.Fatalf("found %d oauth_server handlers", len(handlers))
	}
	h := loadHandler(t, handlers[0])
	if h.Issuer != "http://127.0.0.1:9080" || len(h.Resources) != 2 || len(h.Clients) != 3 || len(h.Accounts) != 1 {
		t.Fatalf("example config = %+v", h)
	}
	if app := h.Clients[1]; app.ID != "demo-app" || len(app.RedirectURIs) != 1 || len(app.PostLogoutRedirectURIs) != 1 || h.Accounts[0].Username != "alice" || h.Accounts[0].PasswordHash == "" {
		t.Fatalf("example end-user config = %+v %+v", h.Clients[1], h.Accounts)
	}
	if h.Resources[1].AccessTokenFormat != "opaque" || h.Clients[0].ID != "demo-service" || len(h.Clients[0].Resources) != 2 {
		t.Fatalf("example resources/clients = %+v %+v", h.Resources, h.Clients)
	}
	if len(h.Clients[0].Secret) < 43 {
		t.Errorf("demo secret is %d chars, want >= 43", len(h.Clients[0].Secret))
	}
}

func adapt(body string) ([]byte, error) {
	// Formatting first keeps the "input is not formatted" warning out; others fail the test.
	formatted := caddyfile.Format([]byte(body))
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(formatted, map[string]any{"filename": "Caddyfile"})
	if err == nil && len(warnings) > 0 {
		return cfg, &adaptWarning{warnings}
	}
	return cfg, err
}

type adaptWarning struct{ w []caddyconfig.Warning }

func (a *adaptWarning) Error() string {
	var s []string
	for _, w := range a.w {
		s = append(s, w.String())
	}
	return "adapt warnings: " + strings.Join(s, "; ")
}

// findHandlers returns every handler object named name, wherever routes nest it.
func findHandlers(t *testing.T, cfg []byte, name string) []json.RawMessage {
	t.Helper()
	var found []json.RawMessage
	var walk func(raw json.RawMessage)
	walk = func(raw json.RawMessage) {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil {
			if h, ok := obj["handler"]; ok && string(h) == `"`+name+`"` {
				found = append(found, raw)
				return
			}
			for _, v := range obj {
				walk(v)
			}
			return
		}
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) == nil {
			for _, v := range arr {
				walk(v)
			}
		}
	}
	walk(cfg)
	return found
}

// loadHandler decodes an adapted handler object the way Caddy does: strictly, after the
// module name field is taken out.
func loadHandler(t *testing.T, raw json.RawMessage) *Handler {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "handler")
	stripped, _ := json.Marshal(obj)
	h := new(Handler)
	if err := caddy.StrictUnmarshalJSON(stripped, h); err != nil {
		t.Fatalf("adapted JSON does not load: %v\n%s", err, raw)
	}
	return h
}

func assertJSONEqual(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got invalid JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want invalid JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON mismatch\n got: %s\nwant: %s", got, want)
	}
}
