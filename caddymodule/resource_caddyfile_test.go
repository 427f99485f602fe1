package caddymodule

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// fullResourceCaddyfile uses every subdirective once (rules with path matchers: named
// matchers need a site block, see TestResourceAdaptRoundTrip).
const fullResourceCaddyfile = `oauth_resource {
	resource https://api.example.com/v1
	issuer https://auth.example.com
	introspection_client gateway {env.INTROSPECTION_SECRET}
	algs ES256 RS256
	accept_plain_jwt
	clock_skew 10s
	token_in_query
	token_in_body true
	token_in_subprotocol
	require_dpop
	dpop_algs ES256 EdDSA
	dpop_nonce {env.DPOP_NONCE_SECRET}
	dpop_replay_capacity 5000
	external_url https://api.example.com
	keep_credentials
	scopes read
	claim tier gold silver
	rule /admin/* {
		scopes admin
		claim role admin
	}
	rule * {
		scopes audit
	}
	header_up X-User {oauth.sub}
	header_up X-Client {oauth.client_id}
	revocation_stream {
		client gateway-stream {env.STREAM_SECRET}
		fail_closed_after 1m
	}
	outbound_allow_private
}`

const fullResourceJSON = `{
	"resource": "https://api.example.com/v1",
	"issuer": "https://auth.example.com",
	"introspection_client_id": "gateway",
	"introspection_client_secret": "{env.INTROSPECTION_SECRET}",
	"algs": ["ES256", "RS256"],
	"accept_plain_jwt": true,
	"clock_skew": 10000000000,
	"token_in_query": true,
	"token_in_body": true,
	"token_in_subprotocol": true,
	"require_dpop": true,
	"dpop_algs": ["ES256", "EdDSA"],
	"dpop_nonce": "{env.DPOP_NONCE_SECRET}",
	"dpop_replay_capacity": 5000,
	"external_url": "https://api.example.com",
	"keep_credentials": true,
	"scopes": ["read"],
	"claims": {"tier": ["gold", "silver"]},
	"rules": [
		{"match": [{"path": ["/admin/*"]}], "scopes": ["admin"], "claims": {"role": ["admin"]}},
		{"scopes": ["audit"]}
	],
	"header_up": {"X-User": "{oauth.sub}", "X-Client": "{oauth.client_id}"},
	"revocation_stream": {"client_id": "gateway-stream", "client_secret": "{env.STREAM_SECRET}", "fail_closed_after": 60000000000},
	"outbound_allow_private": true
}`

func TestResourceUnmarshalCaddyfile(t *testing.T) {
	const base = "resource https://api.example\n issuer https://auth.example\n"
	block := func(lines string) string { return "oauth_resource {\n " + base + lines + "\n}" }
	tests := []struct {
		name, input string
		want        string // JSON of the parsed handler, when no error is expected
		wantErr     string
	}{
		{name: "minimal", input: block(""), want: `{"resource":"https://api.example","issuer":"https://auth.example"}`},
		{name: "urn resource, loopback issuer", input: "oauth_resource {\n resource urn:example:api\n issuer http://127.0.0.1:9080\n}",
			want: `{"resource":"urn:example:api","issuer":"http://127.0.0.1:9080"}`},
		{name: "full", input: fullResourceCaddyfile, want: fullResourceJSON},
		{name: "bool false", input: block("require_dpop false\n keep_credentials false"), want: `{"resource":"https://api.example","issuer":"https://auth.example"}`},
		{name: "client certificate header", input: block("client_certificate_header X-SSL-Client-Cert"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","client_certificate_header":"X-SSL-Client-Cert"}`},
		{name: "bad client certificate header", input: block("client_certificate_header \"X Cert\""), wantErr: "is not a header name"},
		{name: "scopes accumulate", input: block("scopes a\n scopes b c"), want: `{"resource":"https://api.example","issuer":"https://auth.example","scopes":["a","b","c"]}`},
		{name: "literal nonce secret", input: block("dpop_nonce 0123456789abcdef0123456789abcdef"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","dpop_nonce":"0123456789abcdef0123456789abcdef"}`},

		{name: "redis replay guard", input: block("dpop_replay_redis {env.REDIS_URL}"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","dpop_replay_redis":"{env.REDIS_URL}"}`},
		{name: "literal redis url", input: block("dpop_replay_redis rediss://:pw@redis.internal:6380/2"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","dpop_replay_redis":"rediss://:pw@redis.internal:6380/2"}`},

		{name: "revocation_stream bare", input: block("introspection_client gw s3cret\n revocation_stream"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","introspection_client_id":"gw","introspection_client_secret":"s3cret","revocation_stream":{}}`},
		{name: "revocation_stream bare, then more", input: block("introspection_client gw s3cret\n revocation_stream\n scopes a"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","introspection_client_id":"gw","introspection_client_secret":"s3cret","revocation_stream":{},"scopes":["a"]}`},
		{name: "revocation_stream own client", input: block("revocation_stream {\n client gw {env.S}\n }"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","revocation_stream":{"client_id":"gw","client_secret":"{env.S}"}}`},
		{name: "revocation_stream without credentials", input: block("revocation_stream"), wantErr: "revocation_stream: no credentials"},
		{name: "revocation_stream fail_closed_after only", input: block("revocation_stream {\n fail_closed_after 30s\n }"), wantErr: "revocation_stream: no credentials"},
		{name: "revocation_stream client one arg", input: block("revocation_stream {\n client gw\n }"), wantErr: "wrong argument count"},
		{name: "revocation_stream bad duration", input: block("introspection_client gw s\n revocation_stream {\n fail_closed_after soon\n }"), wantErr: "fail_closed_after"},
		{name: "revocation_stream negative duration", input: block("introspection_client gw s\n revocation_stream {\n fail_closed_after -1m\n }"), wantErr: "must not be negative"},
		{name: "revocation_stream unknown", input: block("introspection_client gw s\n revocation_stream {\n push yes\n }"), wantErr: `unknown subdirective "push"`},
		{name: "revocation_stream argument", input: block("introspection_client gw s\n revocation_stream on"), wantErr: "wrong argument count"},
		{name: "outbound_allow_private false", input: block("outbound_allow_private false"), want: `{"resource":"https://api.example","issuer":"https://auth.example"}`},
		{name: "args on directive", input: "oauth_resource https://api.example {\n}", wantErr: "wrong argument count"},
		{name: "missing resource", input: "oauth_resource {\n issuer https://auth.example\n}", wantErr: "resource is required"},
		{name: "missing issuer", input: "oauth_resource {\n resource https://api.example\n}", wantErr: "issuer: is required"},
		{name: "relative resource", input: "oauth_resource {\n resource /api\n}", wantErr: "must be an absolute URI"},
		{name: "resource fragment", input: "oauth_resource {\n resource https://api.example#x\n}", wantErr: "must be an absolute URI without a fragment"},
		{name: "http issuer off loopback", input: "oauth_resource {\n resource https://api.example\n issuer http://auth.example\n}", wantErr: "use https"},
		{name: "unknown subdirective", input: block("audiences x"), wantErr: `unknown oauth_resource subdirective "audiences"`},
		{name: "audience and claim names of the own issuer", input: block("audience api://orders\n subject_claim oid\n scope_claim scp\n client_id_claim azp"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","audience":"api://orders","subject_claim":"oid","scope_claim":"scp","client_id_claim":"azp"}`},
		{name: "a second issuer with its own settings", input: block("issuer https://login.example.net/v2.0 {\n audience api://orders\n algs RS256\n accept_plain_jwt\n subject_claim oid\n scope_claim scp\n client_id_claim azp\n }\n issuer https://old.example"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","issuers":[{"issuer":"https://login.example.net/v2.0","audience":"api://orders","algs":["RS256"],"accept_plain_jwt":true,"subject_claim":"oid","scope_claim":"scp","client_id_claim":"azp"},{"issuer":"https://old.example"}]}`},
		{name: "the first issuer with a block", input: "oauth_resource {\n resource https://api.example\n issuer https://auth.example {\n audience api://x\n }\n}",
			want: `{"resource":"https://api.example","issuer":"https://auth.example","audience":"api://x"}`},
		{name: "an issuer trusted twice", input: block("issuer https://auth.example"), wantErr: "issuer https://auth.example: trusted twice"},
		{name: "a second issuer over http", input: block("issuer http://other.example"), wantErr: "issuer http://other.example: "},
		{name: "a second issuer's bad alg", input: block("issuer https://other.example {\n algs none\n }"), wantErr: `algs: unsupported value "none"`},
		{name: "a second issuer's unknown option", input: block("issuer https://other.example {\n audiences x\n }"), wantErr: `issuer: unknown option "audiences"`},
		{name: "a second issuer's half introspection client", input: block("issuer https://other.example {\n introspection_client gw\n }"), wantErr: "usage: introspection_client"},
		{name: "a second issuer cannot introspect", input: block("issuer https://other.example {\n introspection_client gw s\n }"), wantErr: "only the first issuer introspects"},
		{name: "introspection one arg", input: block("introspection_client gateway"), wantErr: "usage: introspection_client"},
		{name: "alg none", input: block("algs ES256 none"), wantErr: `algs: unsupported value "none"`},
		{name: "hmac alg", input: block("algs HS256"), wantErr: `unsupported value "HS256"`},
		{name: "dpop alg none", input: block("dpop_algs none"), wantErr: `dpop_algs: unsupported value "none"`},
		{name: "bad skew", input: block("clock_skew soon"), wantErr: `clock_skew: invalid duration "soon"`},
		{name: "negative skew", input: block("clock_skew -1s"), wantErr: "clock_skew: must not be negative"},
		{name: "bad bool", input: block("require_dpop maybe"), wantErr: "want true or false"},
		{name: "short nonce secret", input: block("dpop_nonce short"), wantErr: "at least 32 characters"},
		{name: "zero capacity", input: block("dpop_replay_capacity 0"), wantErr: "want a positive integer"},
		{name: "bad capacity", input: block("dpop_replay_capacity lots"), wantErr: "want a positive integer"},
		{name: "redis without url", input: block("dpop_replay_redis"), wantErr: "wrong argument count"},
		{name: "redis url scheme", input: block("dpop_replay_redis http://redis.internal"), wantErr: "invalid Redis URL"},
		{name: "redis and capacity", input: block("dpop_replay_redis redis://127.0.0.1:6379\n dpop_replay_capacity 10"), wantErr: "no effect with dpop_replay_redis"},
		{name: "external url with path", input: block("external_url https://api.example/v1"), wantErr: "must be an origin only"},
		{name: "external url relative", input: block("external_url api.example"), wantErr: "must be an http(s) URL"},
		{name: "hosts", input: block("hosts api.example *.api.example\n hosts 127.0.0.1:9080 [::1]:8443"),
			want: `{"resource":"https://api.example","issuer":"https://auth.example","hosts":["api.example","*.api.example","127.0.0.1:9080","[::1]:8443"]}`},
		{name: "hosts without value", input: block("hosts"), wantErr: "wrong argument count"},
		{name: "hosts with scheme", input: block("hosts https://api.example"), wantErr: "is not a host"},
		{name: "hosts with path", input: block("hosts api.example/v1"), wantErr: "is not a host"},
		{name: "hosts bad port", input: block("hosts api.example:99999"), wantErr: "invalid port"},
		{name: "hosts empty port", input: block("hosts api.example:"), wantErr: "is not a host"},
		{name: "hosts bad label", input: block("hosts api..example"), wantErr: "invalid label"},
		{name: "hosts partial wildcard", input: block("hosts a*.example"), wantErr: "invalid label"},
		{name: "hosts bad ipv6", input: block("hosts [::g]"), wantErr: "not an IPv6 address"},
		{name: "hosts and external url", input: block("hosts api.example\n external_url https://api.example"), wantErr: "external_url and hosts: set one"},
		{name: "scope with quote", input: block(`scopes "a\"b"`), wantErr: "not a valid scope token"},
		{name: "claim without value", input: block("claim tier"), wantErr: "usage: claim <name> <value...>"},
		{name: "claim twice", input: block("claim a 1\n claim a 2"), wantErr: `claim "a": set twice`},
		{name: "rule without matcher", input: block("rule {\n scopes a\n }"), wantErr: "a matcher is required"},
		{name: "rule with word", input: block("rule admin {\n scopes a\n }"), wantErr: "a matcher is required"},
		{name: "rule named matcher outside site", input: block("rule @admin {\n scopes a\n }"), wantErr: "named matchers need a site block"},
		{name: "rule empty", input: block("rule /x {\n }"), wantErr: "requires nothing"},
		{name: "rule without block", input: block("rule /x"), wantErr: "requires nothing"},
		{name: "rule extra arg", input: block("rule /x /y {\n scopes a\n }"), wantErr: "wrong argument count"},
		{name: "rule unknown subdirective", input: block("rule /x {\n methods GET\n }"), wantErr: `unknown rule subdirective "methods"`},
		{name: "header_up one arg", input: block("header_up X-User"), wantErr: "usage: header_up"},
		{name: "header_up bad name", input: block("header_up X:User {oauth.sub}"), wantErr: "invalid header name"},
		{name: "header_up twice", input: block("header_up X-User a\n header_up X-User b"), wantErr: `header_up "X-User": set twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCaddyfile[ResourceHandler](t, tt.input, tt.want, tt.wantErr) })
	}
}

func TestResourceValidateJSON(t *testing.T) {
	// JSON configs skip the Caddyfile parser, so Validate must catch the same mistakes.
	const ok = `"resource":"https://api.example","issuer":"https://auth.example"`
	tests := []struct {
		name, json, wantErr string
	}{
		{"ok", `{` + ok + `}`, ""},
		{"missing resource", `{"issuer":"https://auth.example"}`, "resource is required"},
		{"missing issuer", `{"resource":"https://api.example"}`, "issuer: is required"},
		{"secret without id", `{` + ok + `,"introspection_client_secret":"s"}`, "both a client ID and a secret"},
		{"empty alg", `{` + ok + `,"algs":[""]}`, "algs: unsupported value"},
		{"dpop alg", `{` + ok + `,"dpop_algs":["HS256"]}`, "dpop_algs"},
		{"negative capacity", `{` + ok + `,"dpop_replay_capacity":-1}`, "must not be negative"},
		{"redis", `{` + ok + `,"dpop_replay_redis":"redis://127.0.0.1:6379/0"}`, ""},
		{"redis bad db", `{` + ok + `,"dpop_replay_redis":"redis://127.0.0.1:6379/x"}`, "invalid Redis URL"},
		{"short nonce", `{` + ok + `,"dpop_nonce":"abc"}`, "at least 32 characters"},
		{"claim without values", `{` + ok + `,"claims":{"tier":[]}}`, "at least one value"},
		{"empty rule", `{` + ok + `,"rules":[{"match":[{"path":["/x"]}]}]}`, "rule 0: requires nothing"},
		{"rule scope", `{` + ok + `,"rules":[{"scopes":["a b"]}]}`, "rule 0: scope"},
		{"header name", `{` + ok + `,"header_up":{"":"x"}}`, "invalid header name"},
		{"hosts", `{` + ok + `,"hosts":["api.example","*.example:8443"]}`, ""},
		{"bad host", `{` + ok + `,"hosts":["https://api.example"]}`, "is not a host"},
		{"stream without credentials", `{` + ok + `,"revocation_stream":{}}`, "revocation_stream: no credentials"},
		{"stream with introspection client", `{` + ok + `,"introspection_client_id":"gw","introspection_client_secret":"s","revocation_stream":{}}`, ""},
		{"stream secret without id", `{` + ok + `,"revocation_stream":{"client_secret":"s"}}`, "both a client ID and a secret"},
		{"stream negative bound", `{` + ok + `,"revocation_stream":{"client_id":"gw","client_secret":"s","fail_closed_after":-1}}`, "must not be negative"},
		{"hosts and external_url", `{` + ok + `,"hosts":["api.example"],"external_url":"https://api.example"}`, "set one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h ResourceHandler
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

// TestResourceAdaptRoundTrip adapts a site whose rules use named matchers and checks that
// the JSON loads back into the same handler and re-encodes identically.
func TestResourceAdaptRoundTrip(t *testing.T) {
	site := `https://api.example.com {
	@admin path /admin/*
	@writes method POST PUT DELETE
	reverse_proxy 127.0.0.1:9999
	oauth_resource {
		resource https://api.example.com
		issuer https://auth.example.com
		dpop_replay_redis {env.REDIS_URL}
		scopes read
		rule @admin {
			scopes admin
		}
		rule @writes {
			scopes write
			claim tier gold
		}
		rule /reports/* {
			scopes reports
		}
		header_up X-User {oauth.sub}
		introspection_client gateway {env.GATEWAY_SECRET}
		revocation_stream
	}
}`
	cfg, err := adapt(site)
	if err != nil {
		t.Fatal(err)
	}
	handlers := findHandlers(t, cfg, "oauth_resource")
	if len(handlers) != 1 {
		t.Fatalf("found %d oauth_resource handlers in adapted config, want 1:\n%s", len(handlers), cfg)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(handlers[0], &obj); err != nil {
		t.Fatal(err)
	}
	delete(obj, "handler")
	stripped, _ := json.Marshal(obj)
	var h ResourceHandler
	if err := caddy.StrictUnmarshalJSON(stripped, &h); err != nil {
		t.Fatalf("adapted JSON does not load: %v\n%s", err, stripped)
	}
	if err := h.Validate(); err != nil {
		t.Fatalf("adapted JSON does not validate: %v", err)
	}
	again, _ := json.Marshal(&h)
	assertJSONEqual(t, again, stripped)

	want := `{
		"resource": "https://api.example.com",
		"issuer": "https://auth.example.com",
		"dpop_replay_redis": "{env.REDIS_URL}",
		"hosts": ["api.example.com"],
		"scopes": ["read"],
		"rules": [
			{"match": [{"path": ["/admin/*"]}], "scopes": ["admin"]},
			{"match": [{"method": ["POST", "PUT", "DELETE"]}], "scopes": ["write"], "claims": {"tier": ["gold"]}},
			{"match": [{"path": ["/reports/*"]}], "scopes": ["reports"]}
		],
		"header_up": {"X-User": "{oauth.sub}"},
		"introspection_client_id": "gateway",
		"introspection_client_secret": "{env.GATEWAY_SECRET}",
		"revocation_stream": {}
	}`
	assertJSONEqual(t, stripped, []byte(want))
}

func TestResourceDirective(t *testing.T) {
	tests := []struct {
		name, site, wantErr string
	}{
		{name: "unknown named matcher", site: "https://api.example {\n oauth_resource {\n resource https://api.example\n issuer https://auth.example\n rule @nope {\n scopes a\n }\n }\n}", wantErr: "unrecognized matcher name"},
		{name: "handler matcher", site: "https://api.example {\n oauth_resource /api/* {\n resource https://api.example\n issuer https://auth.example\n }\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := adapt(tt.site)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestResourceDirectiveOrder: without an `order` line, oauth_resource runs before every
// handler that could answer the request, wherever either is written in the block.
func TestResourceDirectiveOrder(t *testing.T) {
	const guard = `oauth_resource {
		resource http://127.0.0.1:9080/api
		issuer http://127.0.0.1:9080
	}`
	tests := []struct {
		sibling string
		handler string // the handler the sibling adapts to
	}{
		{"respond secret 200", "static_response"},
		{"metrics", "metrics"},
		{"file_server", "file_server"},
		{"templates", "templates"},
		{"reverse_proxy 127.0.0.1:9999", "reverse_proxy"},
		{"php_fastcgi 127.0.0.1:9000", "rewrite"}, // its try_files rewrite comes first
		{"php_fastcgi 127.0.0.1:9000", "reverse_proxy"},
		{"handle /x/* {\n respond x\n }", "subroute"},
		{"route {\n respond x\n }", "subroute"},
		{"request_header X-User {oauth.sub}", "headers"}, // after, so it can use {oauth.*}
	}
	for _, tt := range tests {
		for _, block := range []string{tt.sibling + "\n" + guard, guard + "\n" + tt.sibling} {
			cfg, err := adapt("http://127.0.0.1:9080 {\n" + block + "\n}")
			if err != nil {
				t.Fatalf("%s: %v", tt.sibling, err)
			}
			// Inside the site's subroute, the handler written first runs first.
			s := string(cfg)
			inner := s[strings.Index(s, `"handler":"subroute"`)+1:]
			rs := strings.Index(inner, `"handler":"oauth_resource"`)
			other := strings.Index(inner, `"handler":"`+tt.handler+`"`)
			if rs < 0 || other < 0 || rs > other {
				t.Errorf("%q: oauth_resource (at %d) must come before %s (at %d):\n%s", tt.sibling, rs, tt.handler, other, s)
			}
		}
	}
}

// TestResourceSiteHosts: through the directive, hosts are the site's addresses (with their
// ports, or the http_port/https_port options), unless external_url or hosts is given.
func TestResourceSiteHosts(t *testing.T) {
	const guard = "oauth_resource {\n resource https://api.example\n issuer https://auth.example\n %s\n }"
	tests := []struct {
		name, globals, site, extra string
		want                       []string // nil: no hosts in the JSON
	}{
		{name: "one host", site: "api.example.com", want: []string{"api.example.com"}},
		{name: "hosts, ports, case and duplicates", site: "https://API.example.com:8443, http://api.example.com, api.example.com, *.gw.example.com, 127.0.0.1:9080, [::1]:8080",
			want: []string{"api.example.com:8443", "api.example.com", "*.gw.example.com", "127.0.0.1:9080", "[::1]:8080"}},
		{name: "https_port option", globals: "https_port 8443", site: "api.example.com", want: []string{"api.example.com:8443"}},
		{name: "http_port option", globals: "http_port 8080", site: "http://api.example.com, https://api.example.com",
			want: []string{"api.example.com:8080", "api.example.com"}},
		{name: "inside handle", site: "http://127.0.0.1:9080", want: []string{"127.0.0.1:9080"}},
		{name: "external_url wins", site: ":8080", extra: "external_url https://api.example"},
		{name: "hosts given", site: ":8080", extra: "hosts api.example", want: []string{"api.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(guard, tt.extra)
			if tt.name == "inside handle" {
				body = "handle /api/* {\n" + body + "\n}"
			}
			cfg, err := adapt(fmt.Sprintf("{\n%s\n}\n%s {\n%s\n}", tt.globals, tt.site, body))
			if err != nil {
				t.Fatal(err)
			}
			// A site on several ports is copied into one server per port, hosts and all.
			handlers := findHandlers(t, cfg, "oauth_resource")
			if len(handlers) == 0 {
				t.Fatal("no oauth_resource handler")
			}
			for _, raw := range handlers {
				var h ResourceHandler
				if err := json.Unmarshal(raw, &h); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(h.Hosts, tt.want) {
					t.Errorf("hosts = %q, want %q", h.Hosts, tt.want)
				}
			}
		})
	}

	t.Run("named route", func(t *testing.T) {
		_, err := adapt("&(api) {\n" + fmt.Sprintf(guard, "") + "\n}\napi.example.com {\n invoke api\n}")
		if err == nil || !strings.Contains(err.Error(), "named route") || !strings.Contains(err.Error(), "external_url") {
			t.Fatalf("error = %v, want one that asks for external_url", err)
		}
	})
}
