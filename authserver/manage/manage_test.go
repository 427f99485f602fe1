package manage

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-oauth/caddy-oauth/authserver/audit"
	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/sealer"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

const apiID = "https://api.example.test"

type fixture struct {
	svc     *Service
	st      store.Store
	changes atomic.Int64
	now     time.Time
}

// newFixture is a Service over a fresh SQLite store holding one resource (apiID); the client
// "conf" and the resource "https://conf.example.test" count as configured.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "oauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateResource(ctx, &store.Resource{Identifier: apiID, Name: "API", PolicyVersion: 1}); err != nil {
		t.Fatal(err)
	}
	seal, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.svc = New(Deps{
		Store: st, Env: spec.Env{SigningAlgs: []string{"RS256", "ES256"}, EnforceLinks: true},
		Seal: seal.Seal, Open: seal.Open,
		ConfiguredClient:      func(id string) bool { return id == "conf" },
		ConfiguredResource:    func(id string) bool { return id == "https://conf.example.test" },
		Changed:               func() { f.changes.Add(1) },
		SecretRotationOverlap: time.Hour,
		Now:                   func() time.Time { return f.now },
	})
	return f
}

func TestCreateClient(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		in         spec.Client
		wantSecret bool
		wantMethod string
		wantErr    string // substring; "" means success
	}{
		{name: "no method, no keys: client_secret_basic with a generated secret",
			in: spec.Client{ID: "svc", GrantTypes: []string{"client_credentials"}, Resources: []string{apiID}}, wantSecret: true, wantMethod: "client_secret_basic"},
		{name: "public client gets no secret",
			in: spec.Client{ID: "spa", TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://app.example/cb"}}, wantMethod: "none"},
		{name: "client_secret_jwt: generated and sealed",
			in: spec.Client{ID: "hmac", TokenEndpointAuthMethod: "client_secret_jwt"}, wantSecret: true, wantMethod: "client_secret_jwt"},
		{name: "a given hash is kept, nothing generated",
			in: spec.Client{ID: "hashed", SecretHash: mustHash(t, clientsecret.Generate())}, wantMethod: "client_secret_basic"},
		{name: "unknown resource refused", in: spec.Client{ID: "x", Resources: []string{"https://nope.example"}}, wantErr: "resources: names a resource that does not exist"},
		{name: "spec rule refused", in: spec.Client{ID: "pub", TokenEndpointAuthMethod: "none", GrantTypes: []string{"client_credentials"}}, wantErr: "cannot use client_credentials"},
		{name: "configured ID refused", in: spec.Client{ID: "conf"}, wantErr: "declared in the configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			got, err := f.svc.CreateClient(ctx, tt.in, store.SourceAdmin)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, err := f.st.GetClient(ctx, tt.in.ID); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("refused client was stored: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.Secret != "") != tt.wantSecret {
				t.Fatalf("secret generated = %v, want %v", got.Secret != "", tt.wantSecret)
			}
			stored, err := f.st.GetClient(ctx, tt.in.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Source != store.SourceAdmin || stored.TokenEndpointAuthMethod != tt.wantMethod {
				t.Fatalf("stored source %q method %q", stored.Source, stored.TokenEndpointAuthMethod)
			}
			if got.Secret != "" {
				if strings.Contains(stored.SecretHash, got.Secret) || !clientsecret.NewVerifier(time.Minute, 10).Verify(stored.ID, stored.SecretHash, got.Secret) {
					t.Fatalf("generated secret is not stored hashed: %q", stored.SecretHash)
				}
				if (tt.wantMethod == "client_secret_jwt") != (len(stored.SecretSealed) > 0) {
					t.Fatalf("sealed secret present = %v", len(stored.SecretSealed) > 0)
				}
			}
			if len(tt.in.Resources) > 0 && (len(got.Links) != 1 || got.Links[0].Resource != apiID || !got.Links[0].Tokens) {
				t.Fatalf("links = %+v", got.Links)
			}
			if f.changes.Load() == 0 {
				t.Fatal("caches were not invalidated")
			}
		})
	}
}

func mustHash(t *testing.T, secret string) string {
	h, err := clientsecret.Hash(secret)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCreateClientGeneratesIDAndRefusesDuplicates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	got, err := f.svc.CreateClient(ctx, spec.Client{TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://app.example/cb"}}, store.SourceRegistration)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Client.ID) < 22 || strings.ContainsAny(got.Client.ID, "+/=") {
		t.Fatalf("generated ID %q is not 128-bit URL-safe", got.Client.ID)
	}
	const n = 8
	var wg sync.WaitGroup
	var ok, exists atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.CreateClient(ctx, spec.Client{ID: "same", TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://app.example/cb"}}, store.SourceAdmin)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrExists):
				exists.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || exists.Load() != n-1 {
		t.Fatalf("%d created, %d ErrExists; want 1 and %d", ok.Load(), exists.Load(), n-1)
	}
}

func TestReplaceClient(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	created, err := f.svc.CreateClient(ctx, spec.Client{ID: "svc", Resources: []string{apiID}}, store.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	// A replacement without a secret (the admin view never shows it) keeps the secret; its
	// links become exactly what it names (none).
	got, err := f.svc.ReplaceClient(ctx, spec.Client{ID: "svc", Name: "Renamed", TokenEndpointAuthMethod: "client_secret_basic"}, store.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != "" || got.Client.SecretHash != created.Client.SecretHash || got.Client.Name != "Renamed" || len(got.Links) != 0 {
		t.Fatalf("replaced: secret %q hash kept %v name %q links %v", got.Secret, got.Client.SecretHash == created.Client.SecretHash, got.Client.Name, got.Links)
	}
	if got.Client.Source != store.SourceAdmin || !got.Client.CreatedAt.Equal(created.Client.CreatedAt) {
		t.Fatalf("source %q, created_at %v -> %v", got.Client.Source, created.Client.CreatedAt, got.Client.CreatedAt)
	}
	// Switching a public client to a secret method generates one.
	if _, err := f.svc.CreateClient(ctx, spec.Client{ID: "pub", TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://app.example/cb"}}, store.SourceAdmin); err != nil {
		t.Fatal(err)
	}
	got, err = f.svc.ReplaceClient(ctx, spec.Client{ID: "pub", TokenEndpointAuthMethod: "client_secret_post", GrantTypes: []string{"client_credentials"}}, store.SourceAdmin)
	if err != nil || got.Secret == "" {
		t.Fatalf("switch to client_secret_post: %v, secret %q", err, got.Secret)
	}
	for _, tt := range []struct {
		in   spec.Client
		want error
	}{
		{spec.Client{ID: "missing", TokenEndpointAuthMethod: "none"}, ErrNotFound},
		{spec.Client{ID: "conf", TokenEndpointAuthMethod: "none"}, ErrConfigured},
	} {
		if _, err := f.svc.ReplaceClient(ctx, tt.in, store.SourceAdmin); !errors.Is(err, tt.want) {
			t.Errorf("replace %s: %v, want %v", tt.in.ID, err, tt.want)
		}
	}
	// An invalid replacement changes nothing.
	before, _ := f.st.GetClient(ctx, "svc")
	if _, err := f.svc.ReplaceClient(ctx, spec.Client{ID: "svc", RedirectURIs: []string{"not a uri"}}, store.SourceAdmin); err == nil {
		t.Fatal("invalid replacement accepted")
	}
	after, _ := f.st.GetClient(ctx, "svc")
	if after.Name != before.Name || !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatal("a refused replacement changed the client")
	}
}

func TestDeleteClientRevokesItsTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.svc.CreateClient(ctx, spec.Client{ID: "svc", Resources: []string{apiID}}, store.SourceAdmin); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := f.st.CreateGrant(ctx, &store.Grant{ID: "g1", ClientID: "svc", Subject: "alice", CreatedAt: time.Now(), ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateAccessToken(ctx, &store.AccessToken{Hash: "h1", ClientID: "svc", Subject: "svc", IssuedAt: time.Now(), ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteClient(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.GetClient(ctx, "svc"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("client still there: %v", err)
	}
	if g, err := f.st.GetGrant(ctx, "g1"); err != nil || !g.Revoked {
		t.Fatalf("grant not revoked: %+v %v", g, err)
	}
	if tok, err := f.st.GetAccessToken(ctx, "h1"); err != nil || !tok.Revoked {
		t.Fatalf("opaque token not revoked: %+v %v", tok, err)
	}
	if links, _ := f.st.ListLinks(ctx, store.LinkQuery{ClientID: "svc"}); len(links) != 0 {
		t.Fatalf("links left: %v", links)
	}
	for id, want := range map[string]error{"svc": ErrNotFound, "conf": ErrConfigured} {
		if err := f.svc.DeleteClient(ctx, id); !errors.Is(err, want) {
			t.Errorf("delete %s: %v, want %v", id, err, want)
		}
	}
}

func TestRotateSecret(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	created, err := f.svc.CreateClient(ctx, spec.Client{ID: "svc"}, store.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.RotateSecret(ctx, "svc", DefaultOverlap)
	if err != nil {
		t.Fatal(err)
	}
	c := got.Client
	if got.Secret == "" || got.Secret == created.Secret || c.PreviousSecretHash != created.Client.SecretHash ||
		c.PreviousSecretExpiresAt == nil || !c.PreviousSecretExpiresAt.Equal(f.now.Add(time.Hour)) {
		t.Fatalf("rotation: %+v", c)
	}
	got, err = f.svc.RotateSecret(ctx, "svc", 0)
	if err != nil || got.Client.PreviousSecretHash != "" || got.Client.PreviousSecretExpiresAt != nil {
		t.Fatalf("overlap 0 keeps a previous secret: %+v %v", got, err)
	}
	if _, err := f.svc.CreateClient(ctx, spec.Client{ID: "pub", TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://app.example/cb"}}, store.SourceAdmin); err != nil {
		t.Fatal(err)
	}
	var specErr *spec.Error
	if _, err := f.svc.RotateSecret(ctx, "pub", DefaultOverlap); !errors.As(err, &specErr) {
		t.Fatalf("rotating a public client: %v", err)
	}
	if _, err := f.svc.RotateSecret(ctx, "conf", DefaultOverlap); !errors.Is(err, ErrConfigured) {
		t.Fatalf("rotating a configured client: %v", err)
	}
}

// TestChangesAreLoggedWithoutSecrets: every change is an audit event, and no generated secret
// or token, nor a hash of one, reaches the log.
func TestChangesAreLoggedWithoutSecrets(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	core, logs := observer.New(zap.DebugLevel)
	f.svc.log = zap.New(core)
	f.svc.d.Audit = audit.New(zap.New(core))
	created, err := f.svc.CreateClient(ctx, spec.Client{ID: "svc", Resources: []string{apiID}}, store.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := f.svc.RotateSecret(ctx, "svc", DefaultOverlap)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := f.svc.CreateInitialAccessToken(ctx, InitialAccessTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteClient(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	secrets := []string{created.Secret, rotated.Secret, token, InitialAccessTokenHash(token), rotated.Client.SecretHash, created.Client.SecretHash}
	var messages []string
	for _, e := range logs.All() {
		if e.LoggerName != "audit" || e.ContextMap()["event"] != e.Message {
			t.Errorf("log entry %q (logger %q) is not an audit event", e.Message, e.LoggerName)
		}
		line, _ := json.Marshal(e.ContextMap())
		text := e.Message + string(line)
		messages = append(messages, e.Message)
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("log entry %q holds a secret", text)
			}
		}
	}
	want := []string{audit.ClientCreated, audit.ClientSecret, audit.InitialAccessTokenCreated, audit.ClientDeleted}
	if !slices.Equal(messages, want) {
		t.Errorf("logged %q, want %q", messages, want)
	}
}

// TestGeneratedClientIDsDoNotStartLikeFlags: a client ID the admin API generates never
// starts with "-" or "_" (one starting with "-" reads as an option to caddy oauth-client
// show <id>); of 300 base64url draws, about 10 would.
func TestGeneratedClientIDsDoNotStartLikeFlags(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for range 300 {
		got, err := f.svc.CreateClient(ctx, spec.Client{TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://app.example/cb"}}, store.SourceAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if id := got.Client.ID; id[0] == '-' || id[0] == '_' {
			t.Fatalf("generated client ID %q starts like a command-line option", id)
		}
	}
}
