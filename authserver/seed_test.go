package authserver

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

// TestResourceSeedModes starts a server twice over one store: first with the original
// declaration, then (after an "admin edit" in the store) with a changed declaration.
func TestResourceSeedModes(t *testing.T) {
	const id = "https://seed.example.test"
	ttl := time.Minute
	original := ResourceConfig{Identifier: id, Name: "Original", AllowedScopes: []string{"a"}, AccessTokenTTL: &ttl}
	changed := ResourceConfig{Identifier: id, AllowedScopes: []string{"b"}} // no name, no TTL

	cases := []struct {
		mode       string
		wantName   string
		wantScopes []string
		wantTTL    *int64
	}{
		{SeedInsertOnly, "Edited", []string{"edited"}, ptr(int64(120))},
		{SeedMerge, "Edited", []string{"b"}, ptr(int64(120))},
		{SeedOverwrite, id, []string{"b"}, nil},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			ctx := context.Background()
			st, err := sqlstore.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "oauth.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			seal, _ := sealer.New(make([]byte, 32))
			start := func(rc ResourceConfig) {
				srv, err := New(ctx, Config{Issuer: testIssuer, ResourceSeedMode: c.mode, Resources: []ResourceConfig{rc}}, Deps{Store: st, Sealer: seal})
				if err != nil {
					t.Fatal(err)
				}
				srv.Close()
			}
			start(original)
			r, err := st.GetResourceByIdentifier(ctx, id)
			if err != nil || r.Name != "Original" || *r.AccessTokenTTL != 60 {
				t.Fatalf("first seed: %+v %v", r, err)
			}
			r.Name, r.AllowedScopes, r.AccessTokenTTL = "Edited", []string{"edited"}, ptr(int64(120))
			if err := st.UpdateResource(ctx, r); err != nil {
				t.Fatal(err)
			}
			start(changed)
			r, err = st.GetResourceByIdentifier(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != c.wantName || !slices.Equal(r.AllowedScopes, c.wantScopes) || !equalPtr(r.AccessTokenTTL, c.wantTTL) {
				t.Errorf("after reseed: name=%q scopes=%v ttl=%v", r.Name, r.AllowedScopes, r.AccessTokenTTL)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no issuer", Config{}, "issuer: is required"},
		{"http issuer off loopback", Config{Issuer: "http://auth.example.com"}, "loopback"},
		{"issuer with query", Config{Issuer: "https://a.example/?x=1"}, "query"},
		{"bad format", Config{Issuer: testIssuer, AccessTokenFormat: "paseto"}, "jwt or opaque"},
		{"alg without key", Config{Issuer: testIssuer, AccessTokenSigningAlg: "ES384"}, "signing_algs"},
		{"unknown alg", Config{Issuer: testIssuer, SigningAlgs: []string{"none"}}, "not supported"},
		{"bad seed mode", Config{Issuer: testIssuer, ResourceSeedMode: "replace"}, "insert_only"},
		{"relative resource", Config{Issuer: testIssuer, Resources: []ResourceConfig{{Identifier: "/api"}}}, "absolute URI"},
		{"resource fragment", Config{Issuer: testIssuer, Resources: []ResourceConfig{{Identifier: "https://a.example/#f"}}}, "fragment"},
		{"duplicate resource", Config{Issuer: testIssuer, Resources: []ResourceConfig{{Identifier: "https://a.example"}, {Identifier: "https://a.example"}}}, "twice"},
		{"client without id", Config{Issuer: testIssuer, Clients: []ClientConfig{{}}}, "client_id: is required"},
		{"negative login limit", Config{Issuer: testIssuer, LoginFailuresPerIP: -1}, "login_limits"},
		{"negative login window", Config{Issuer: testIssuer, LoginWindow: -time.Minute}, "login_limits"},
		{"login delay base over max", Config{Issuer: testIssuer, LoginDelayBase: 4 * time.Second, LoginDelayMax: 2 * time.Second}, "login_delay: the base 4s exceeds the maximum 2s"},
		{"login delay too long", Config{Issuer: testIssuer, LoginDelayMax: time.Minute}, "must not exceed 30s"},
		{"cleanup too often", Config{Issuer: testIssuer, CleanupInterval: time.Millisecond}, "cleanup_interval must be at least 1s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.cfg.withDefaults()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	if _, err := (Config{Issuer: testIssuer + "/"}).withDefaults(); err == nil || !strings.Contains(err.Error(), "must not end with a slash") {
		t.Errorf("issuer with a trailing slash: err = %v", err)
	}
	got, err := Config{Issuer: testIssuer}.withDefaults()
	if err != nil || got.Issuer != testIssuer || !*got.EnforcePerClientResources || got.ResourceSeedMode != SeedInsertOnly ||
		got.AccessTokenSigningAlg != "ES256" || got.AccessTokenTTL != DefaultAccessTokenTTL ||
		got.LoginFailuresPerAccount != 5 || got.LoginFailuresPerIP != 20 || got.LoginWindow != 15*time.Minute ||
		got.LoginDelayBase != time.Second || got.LoginDelayMax != 8*time.Second || got.CleanupInterval != 10*time.Minute {
		t.Errorf("defaults: %+v %v", got, err)
	}
}

func TestClientConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cc   ClientConfig
		want string
	}{
		{"basic without secret", ClientConfig{ID: "c", TokenEndpointAuthMethod: "client_secret_basic"}, "needs a client secret"},
		{"jwt with hash only", ClientConfig{ID: "c", SecretHash: "sha256$AAAA", TokenEndpointAuthMethod: "client_secret_jwt"}, "needs the client secret itself"},
		{"private_key_jwt without keys", ClientConfig{ID: "c", TokenEndpointAuthMethod: "private_key_jwt"}, "jwks"},
		{"public with secret", ClientConfig{ID: "c", Secret: svcSecret, TokenEndpointAuthMethod: "none"}, "takes no client secret"},
		{"public client_credentials", ClientConfig{ID: "c", GrantTypes: []string{"client_credentials"}}, "cannot use client_credentials"},
		{"unknown method", ClientConfig{ID: "c", Secret: svcSecret, TokenEndpointAuthMethod: "client_secret_magic"}, "not supported"},
		{"typo grant", ClientConfig{ID: "c", Secret: svcSecret, GrantTypes: []string{"client_credential"}}, "unknown"},
		{"both secrets", ClientConfig{ID: "c", Secret: svcSecret, SecretHash: "sha256$x"}, "not both"},
		{"bad hash", ClientConfig{ID: "c", SecretHash: "md5$abc"}, "secret_hash"},
		{"bad scope", ClientConfig{ID: "c", Secret: svcSecret, Scopes: []string{`a"b`}}, "scope"},
		{"unknown resource", ClientConfig{ID: "c", Secret: svcSecret, Resources: []string{"https://undeclared.example"}}, "not declared"},
		{"unknown introspected resource", ClientConfig{ID: "c", Secret: svcSecret, Introspects: []string{"https://undeclared.example"}}, "not declared"},
		{"relative introspected resource", ClientConfig{ID: "c", Secret: svcSecret, Introspects: []string{"/api"}}, "absolute URI"},
		// Introspection takes client credentials, which a public client has none of.
		{"public client introspects", ClientConfig{ID: "c", Introspects: []string{"https://undeclared.example"}}, "cannot introspect"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := sqlstore.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "oauth.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			seal, _ := sealer.New(make([]byte, 32))
			srv, err := New(ctx, Config{Issuer: testIssuer, Clients: []ClientConfig{c.cc}}, Deps{Store: st, Sealer: seal})
			if err == nil {
				srv.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}
