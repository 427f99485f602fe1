// Package storetest is the contract suite every store.Store implementation must pass.
//
// A backend's tests call Run with a function that opens a new, empty store:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openEmpty(t) })
//	}
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// Run runs every contract test as a subtest. open must return a new, empty store; Run
// closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []contractTest{
		{"Ping", testPing},
		{"ClientRoundTrip", testClientRoundTrip},
		{"ClientUpsertReplacesAndKeepsCreatedAt", testClientUpsert},
		{"ClientNotFound", testClientNotFound},
		{"ClientListAndDelete", testClientListAndDelete},
		{"ResourceRoundTrip", testResourceRoundTrip},
		{"ResourceNilVersusEmpty", testResourceNilVersusEmpty},
		{"ResourceConflict", testResourceConflict},
		{"ResourceUpdate", testResourceUpdate},
		{"ResourceNotFound", testResourceNotFound},
		{"ResourceList", testResourceList},
		{"ResourceDeleteRemovesLinksKeepsTokens", testResourceDelete},
		{"LinkIdempotentAndUnlink", testLinkIdempotent},
		{"LinkList", testLinkList},
		{"LinkGrantsTokensAndIntrospection", testLinkGrants},
		{"AccessTokenRoundTrip", testAccessTokenRoundTrip},
		{"AccessTokenConflictAndNotFound", testAccessTokenConflict},
		{"AccessTokenRevoke", testAccessTokenRevoke},
		{"TimesUTCMillisecondPrecision", testTimes},
		{"RevokeJTI", testRevokeJTI},
		{"ClientTokenCutoff", testClientTokenCutoff},
		{"UseOnce", testUseOnce},
		{"SigningKeys", testSigningKeys},
		{"DeleteExpired", testDeleteExpired},
		{"RaceUseOnce", testRaceUseOnce},
		{"RaceCreateAccessToken", testRaceCreateAccessToken},
		{"RaceMixedReadsAndWrites", testRaceMixed},
	}
	tests = append(tests, flowTests...)
	tests = append(tests, manageTests...)
	tests = append(tests, backchannelTests...)
	tests = append(tests, pushedRequestTests...)
	tests = append(tests, deviceTests...)
	tests = append(tests, cibaTests...)
	tests = append(tests, passkeyTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

type contractTest struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// epoch is a fixed, millisecond-aligned instant the fixtures are built around.
var epoch = time.Date(2031, 5, 6, 7, 8, 9, 123_000_000, time.UTC)

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func newClient(id string) *store.Client {
	return &store.Client{
		ID:                          id,
		Name:                        "Client " + id,
		SecretHash:                  "$argon2id$v=19$hash-of-" + id,
		SecretSealed:                []byte{0, 1, 2, 0xfe, 0xff},
		TokenEndpointAuthMethod:     "client_secret_jwt",
		TokenEndpointAuthSigningAlg: "HS256",
		GrantTypes:                  []string{"authorization_code", "refresh_token"},
		RedirectURIs:                []string{"https://app.example/cb", "http://127.0.0.1/cb"},
		RedirectURIAnyLoopbackPort:  true,
		Scopes:                      []string{"openid", "profile"},
		JWKS:                        `{"keys":[]}`,
		JWKSURI:                     "https://app.example/jwks.json",
		DPoPBoundAccessTokens:       true,
		Disabled:                    false,
		Metadata: map[string]any{
			"logo_uri": "https://app.example/logo.png",
			"contacts": []any{"a@example.com", "b@example.com"},
			"nested":   map[string]any{"n": 1.5, "ok": true, "none": nil},
		},
		PostLogoutRedirectURIs:            []string{"https://app.example/bye"},
		SubjectType:                       "pairwise",
		SectorIdentifier:                  "app.example",
		IDTokenSignedResponseAlg:          "ES256",
		SkipConsent:                       true,
		PKCEOptional:                      true,
		RefreshWithoutOfflineAccess:       true,
		DefaultResource:                   "https://api.example/v1",
		Source:                            store.SourceAdmin,
		RegistrationTokenHash:             "rat-hash-of-" + id,
		SecretExpiresAt:                   ptr(epoch.Add(90 * 24 * time.Hour)),
		PreviousSecretHash:                "$argon2id$v=19$previous-hash-of-" + id,
		PreviousSecretSealed:              []byte{0xff, 0, 7},
		PreviousSecretExpiresAt:           ptr(epoch.Add(24 * time.Hour)),
		BackchannelLogoutURI:              "https://app.example/logout/back?tenant=1",
		BackchannelLogoutSessionRequired:  true,
		FrontchannelLogoutURI:             "https://app.example/logout/front",
		FrontchannelLogoutSessionRequired: true,
	}
}

// withStoredSource is c as the store returns it: an empty Source is stored as SourceConfig.
func withStoredSource(c store.Client) store.Client {
	if c.Source == "" {
		c.Source = store.SourceConfig
	}
	return c
}

func testClientRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]*store.Client{
		"full": newClient("full"),
		// nil slices mean "unset" and must not come back as empty ones, and vice versa.
		"nil fields": {ID: "nil-fields", TokenEndpointAuthMethod: "none"},
		"empty fields": {ID: "empty-fields", TokenEndpointAuthMethod: "none",
			GrantTypes: []string{}, RedirectURIs: []string{}, Scopes: []string{}, Metadata: map[string]any{},
			PostLogoutRedirectURIs: []string{}},
		// A flag alone comes back alone (its column is its own).
		"loopback port opt-in": {ID: "loopback-port", TokenEndpointAuthMethod: "client_secret_basic",
			RedirectURIs: []string{"http://127.0.0.1/cb"}, RedirectURIAnyLoopbackPort: true},
		// Each new field alone, so a column swap cannot go unnoticed.
		"registration":  {ID: "registration", Source: store.SourceRegistration, RegistrationTokenHash: "rat"},
		"secret expiry": {ID: "secret-expiry", Source: store.SourceMetadataDocument, SecretExpiresAt: ptr(epoch)},
		"previous secret": {ID: "previous-secret", PreviousSecretHash: "prev",
			PreviousSecretExpiresAt: ptr(epoch.Add(time.Hour))},
		"previous sealed":         {ID: "previous-sealed", PreviousSecretSealed: []byte("sealed")},
		"backchannel logout uri":  {ID: "bc-uri", BackchannelLogoutURI: "https://rp.example/bc"},
		"backchannel session":     {ID: "bc-sid", BackchannelLogoutSessionRequired: true},
		"frontchannel logout uri": {ID: "fc-uri", FrontchannelLogoutURI: "https://rp.example/fc"},
		"frontchannel session":    {ID: "fc-sid", FrontchannelLogoutSessionRequired: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			want := withStoredSource(*c)
			mustNil(t, s.UpsertClient(ctx, c), "UpsertClient")
			got, err := s.GetClient(ctx, c.ID)
			mustNil(t, err, "GetClient")
			if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
				t.Errorf("CreatedAt/UpdatedAt not set: %v / %v", got.CreatedAt, got.UpdatedAt)
			}
			assertEqual(t, clientSansTimes(got), clientSansTimes(&want))
			if c.Source != want.Source {
				t.Errorf("stored Source %q not written back (have %q)", want.Source, c.Source)
			}
		})
	}
}

func testClientUpsert(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.UpsertClient(ctx, newClient("c1")), "UpsertClient")
	first, err := s.GetClient(ctx, "c1")
	mustNil(t, err, "GetClient")

	// Every field changes, and fields that were set become unset.
	replacement := &store.Client{
		ID:                      "c1",
		Name:                    "Renamed",
		TokenEndpointAuthMethod: "private_key_jwt",
		GrantTypes:              []string{"client_credentials"},
		JWKS:                    `{"keys":[{"kty":"EC"}]}`,
		Disabled:                true,
		CreatedAt:               epoch, // ignored: CreatedAt is kept
	}
	want := withStoredSource(*replacement)
	mustNil(t, s.UpsertClient(ctx, replacement), "UpsertClient (replace)")
	got, err := s.GetClient(ctx, "c1")
	mustNil(t, err, "GetClient")
	assertEqual(t, clientSansTimes(got), clientSansTimes(&want))
	if !got.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("CreatedAt = %v, want the original %v", got.CreatedAt, first.CreatedAt)
	}
	if got.UpdatedAt.Before(first.UpdatedAt) {
		t.Errorf("UpdatedAt went backwards: %v < %v", got.UpdatedAt, first.UpdatedAt)
	}
}

func testClientNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetClient(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetClient")
	mustBe(t, s.DeleteClient(ctx, "missing"), store.ErrNotFound, "DeleteClient")
}

func testClientListAndDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListClients(ctx)
	mustNil(t, err, "ListClients (empty)")
	if len(list) != 0 {
		t.Fatalf("empty store lists %d clients", len(list))
	}
	for _, id := range []string{"b", "a", "c"} {
		mustNil(t, s.UpsertClient(ctx, newClient(id)), "UpsertClient")
	}
	mustNil(t, s.DeleteClient(ctx, "b"), "DeleteClient")
	_, err = s.GetClient(ctx, "b")
	mustBe(t, err, store.ErrNotFound, "GetClient after delete")

	list, err = s.ListClients(ctx)
	mustNil(t, err, "ListClients")
	assertEqual(t, ids(list, func(c *store.Client) string { return c.ID }), []string{"a", "c"})
	for _, c := range list {
		assertEqual(t, clientSansTimes(c), clientSansTimes(newClient(c.ID)))
	}
}

func ptr[T any](v T) *T { return &v }

func newResource(identifier string) *store.Resource {
	return &store.Resource{
		Identifier:                    identifier,
		Name:                          "API " + identifier,
		AccessTokenTTL:                ptr[int64](300),
		RefreshTokenTTL:               ptr[int64](86400),
		AccessTokenFormat:             store.FormatOpaque,
		SigningAlg:                    "ES256",
		SigningKeyID:                  "kid-1",
		AllowedScopes:                 []string{"read", "write"},
		CustomClaims:                  map[string]any{"tenant": "acme", "tier": 3.0, "roles": []any{"x"}},
		AccountClaims:                 []string{"groups", "department"},
		DPoPBoundAccessTokensRequired: true,
		PolicyVersion:                 7,
		Metadata:                      map[string]any{"owner": "team-a"},
	}
}

func testResourceRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newResource("https://api.example/v1")
	want := *r
	mustNil(t, s.CreateResource(ctx, r), "CreateResource")
	if r.ID == "" {
		t.Fatal("CreateResource left the ID empty")
	}
	want.ID = r.ID

	got, err := s.GetResource(ctx, r.ID)
	mustNil(t, err, "GetResource")
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Errorf("CreatedAt/UpdatedAt not set: %v / %v", got.CreatedAt, got.UpdatedAt)
	}
	assertEqual(t, resourceSansTimes(got), resourceSansTimes(&want))

	got, err = s.GetResourceByIdentifier(ctx, r.Identifier)
	mustNil(t, err, "GetResourceByIdentifier")
	assertEqual(t, resourceSansTimes(got), resourceSansTimes(&want))

	// Generated IDs differ; an ID supplied by the caller is kept.
	other := newResource("https://api.example/v2")
	mustNil(t, s.CreateResource(ctx, other), "CreateResource")
	if other.ID == r.ID {
		t.Errorf("two resources got the same generated ID %q", r.ID)
	}
	named := newResource("https://api.example/v3")
	named.ID = "res-fixed"
	mustNil(t, s.CreateResource(ctx, named), "CreateResource with ID")
	if _, err := s.GetResource(ctx, "res-fixed"); err != nil {
		t.Errorf("GetResource(res-fixed): %v", err)
	}
}

func testResourceNilVersusEmpty(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]func(r *store.Resource){
		// nil policy fields inherit the server default...
		"nil": func(r *store.Resource) {
			r.AccessTokenTTL, r.RefreshTokenTTL, r.AllowedScopes = nil, nil, nil
			r.CustomClaims, r.Metadata, r.AccountClaims = nil, nil, nil
		},
		// ...which is not the same as an explicit empty set or a zero TTL.
		"empty": func(r *store.Resource) {
			r.AccessTokenTTL, r.RefreshTokenTTL = ptr[int64](0), ptr[int64](0)
			r.AllowedScopes, r.CustomClaims, r.Metadata = []string{}, map[string]any{}, map[string]any{}
		},
		"mixed": func(r *store.Resource) {
			r.AccessTokenTTL, r.RefreshTokenTTL = nil, ptr[int64](60)
			r.AllowedScopes, r.CustomClaims = []string{}, nil
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			r := newResource("https://nil-vs-empty.example/" + name)
			mutate(r)
			want := *r
			mustNil(t, s.CreateResource(ctx, r), "CreateResource")
			want.ID = r.ID
			got, err := s.GetResource(ctx, r.ID)
			mustNil(t, err, "GetResource")
			assertEqual(t, resourceSansTimes(got), resourceSansTimes(&want))
			if (got.AllowedScopes == nil) != (want.AllowedScopes == nil) {
				t.Errorf("AllowedScopes nil = %v, want %v", got.AllowedScopes == nil, want.AllowedScopes == nil)
			}
		})
	}
}

func testResourceConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newResource("https://dup.example")
	mustNil(t, s.CreateResource(ctx, r), "CreateResource")

	sameIdentifier := newResource("https://dup.example")
	mustBe(t, s.CreateResource(ctx, sameIdentifier), store.ErrConflict, "CreateResource (same identifier)")
	sameID := newResource("https://other.example")
	sameID.ID = r.ID
	mustBe(t, s.CreateResource(ctx, sameID), store.ErrConflict, "CreateResource (same ID)")

	// The failed inserts left the original untouched.
	got, err := s.GetResourceByIdentifier(ctx, "https://dup.example")
	mustNil(t, err, "GetResourceByIdentifier")
	if got.ID != r.ID {
		t.Errorf("identifier now maps to %q, want %q", got.ID, r.ID)
	}
	list, err := s.ListResources(ctx)
	mustNil(t, err, "ListResources")
	if len(list) != 1 {
		t.Errorf("ListResources returned %d resources, want 1", len(list))
	}
}

func testResourceUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := newResource("https://update.example/a")
	mustNil(t, s.CreateResource(ctx, r), "CreateResource")
	before, err := s.GetResource(ctx, r.ID)
	mustNil(t, err, "GetResource")

	updated := &store.Resource{
		ID:                r.ID,
		Identifier:        "https://update.example/renamed",
		Name:              "Renamed",
		AccessTokenFormat: store.FormatJWT,
		AllowedScopes:     []string{},
		PolicyVersion:     8,
		Disabled:          true,
		CreatedAt:         epoch, // ignored: CreatedAt is kept
	}
	want := *updated
	mustNil(t, s.UpdateResource(ctx, updated), "UpdateResource")
	got, err := s.GetResource(ctx, r.ID)
	mustNil(t, err, "GetResource")
	assertEqual(t, resourceSansTimes(got), resourceSansTimes(&want))
	if !got.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("CreatedAt = %v, want the original %v", got.CreatedAt, before.CreatedAt)
	}
	_, err = s.GetResourceByIdentifier(ctx, "https://update.example/a")
	mustBe(t, err, store.ErrNotFound, "GetResourceByIdentifier (old identifier)")
	if _, err := s.GetResourceByIdentifier(ctx, "https://update.example/renamed"); err != nil {
		t.Errorf("GetResourceByIdentifier (new identifier): %v", err)
	}

	other := newResource("https://update.example/b")
	mustNil(t, s.CreateResource(ctx, other), "CreateResource")
	other.Identifier = "https://update.example/renamed"
	mustBe(t, s.UpdateResource(ctx, other), store.ErrConflict, "UpdateResource (taken identifier)")

	missing := newResource("https://update.example/missing")
	missing.ID = "no-such-id"
	mustBe(t, s.UpdateResource(ctx, missing), store.ErrNotFound, "UpdateResource (missing)")
}

func testResourceNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetResource(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetResource")
	_, err = s.GetResourceByIdentifier(ctx, "https://missing.example")
	mustBe(t, err, store.ErrNotFound, "GetResourceByIdentifier")
	mustBe(t, s.DeleteResource(ctx, "missing"), store.ErrNotFound, "DeleteResource")
}

func testResourceList(t *testing.T, s store.Store) {
	ctx := t.Context()
	var want []string
	for _, id := range []string{"https://c.example", "https://a.example", "https://b.example"} {
		r := newResource(id)
		mustNil(t, s.CreateResource(ctx, r), "CreateResource")
		want = append(want, r.ID)
	}
	list, err := s.ListResources(ctx)
	mustNil(t, err, "ListResources")
	slices.Sort(want)
	assertEqual(t, ids(list, func(r *store.Resource) string { return r.ID }), want)
}

func testResourceDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.UpsertClient(ctx, newClient("client")), "UpsertClient")
	r := newResource("https://delete.example")
	mustNil(t, s.CreateResource(ctx, r), "CreateResource")
	keep := newResource("https://keep.example")
	mustNil(t, s.CreateResource(ctx, keep), "CreateResource")
	for _, id := range []string{r.ID, keep.ID} {
		mustNil(t, s.LinkClientResource(ctx, &store.ClientResource{ClientID: "client", ResourceID: id, Tokens: true, Introspect: true}), "LinkClientResource")
	}
	tok := newAccessToken("tok-of-deleted", epoch.Add(time.Hour))
	tok.ResourceID = r.ID
	mustNil(t, s.CreateAccessToken(ctx, tok), "CreateAccessToken")

	mustNil(t, s.DeleteResource(ctx, r.ID), "DeleteResource")

	_, err := s.GetResource(ctx, r.ID)
	mustBe(t, err, store.ErrNotFound, "GetResource after delete")
	_, err = s.GetResourceByIdentifier(ctx, r.Identifier)
	mustBe(t, err, store.ErrNotFound, "GetResourceByIdentifier after delete")
	linked, err := s.IsClientLinked(ctx, "client", r.ID)
	mustNil(t, err, "IsClientLinked")
	introspector, err := s.IsClientIntrospector(ctx, "client", r.ID)
	mustNil(t, err, "IsClientIntrospector")
	if linked || introspector {
		t.Error("link to the deleted resource survived")
	}
	links, err := s.ListClientResources(ctx, "client")
	mustNil(t, err, "ListClientResources")
	assertEqual(t, ids(links, func(l *store.ClientResource) string { return l.ResourceID }), []string{keep.ID})
	got, err := s.GetAccessToken(ctx, tok.Hash)
	mustNil(t, err, "GetAccessToken of the deleted resource's token")
	if got.ResourceID != r.ID {
		t.Errorf("token ResourceID = %q, want %q", got.ResourceID, r.ID)
	}
}

func testLinkIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.UpsertClient(ctx, newClient("client")), "UpsertClient")
	r := newResource("https://link.example")
	mustNil(t, s.CreateResource(ctx, r), "CreateResource")

	linked, err := s.IsClientLinked(ctx, "client", r.ID)
	mustNil(t, err, "IsClientLinked")
	if linked {
		t.Fatal("linked before LinkClientResource")
	}
	meta := map[string]any{"introspect": true}
	for i := range 2 {
		err := s.LinkClientResource(ctx, &store.ClientResource{ClientID: "client", ResourceID: r.ID, Tokens: true, Metadata: meta})
		mustNil(t, err, fmt.Sprintf("LinkClientResource #%d", i+1))
	}
	linked, err = s.IsClientLinked(ctx, "client", r.ID)
	mustNil(t, err, "IsClientLinked")
	if !linked {
		t.Fatal("not linked after LinkClientResource")
	}
	links, err := s.ListClientResources(ctx, "client")
	mustNil(t, err, "ListClientResources")
	if len(links) != 1 {
		t.Fatalf("ListClientResources returned %d links after linking twice, want 1", len(links))
	}
	l := links[0]
	if l.ClientID != "client" || l.ResourceID != r.ID || !l.Tokens || l.Introspect || !reflect.DeepEqual(l.Metadata, meta) || l.CreatedAt.IsZero() {
		t.Errorf("link = %+v", l)
	}

	mustNil(t, s.UnlinkClientResource(ctx, "client", r.ID), "UnlinkClientResource")
	linked, err = s.IsClientLinked(ctx, "client", r.ID)
	mustNil(t, err, "IsClientLinked")
	if linked {
		t.Error("still linked after UnlinkClientResource")
	}
	mustBe(t, s.UnlinkClientResource(ctx, "client", r.ID), store.ErrNotFound, "UnlinkClientResource (again)")
}

func testLinkList(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"c1", "c2"} {
		mustNil(t, s.UpsertClient(ctx, newClient(id)), "UpsertClient")
	}
	var c1Want []string
	for i, ident := range []string{"https://l1.example", "https://l2.example", "https://l3.example"} {
		r := newResource(ident)
		mustNil(t, s.CreateResource(ctx, r), "CreateResource")
		client := "c1"
		if i == 2 {
			client = "c2"
		} else {
			c1Want = append(c1Want, r.ID)
		}
		// Every link is listed, whatever it grants.
		link := &store.ClientResource{ClientID: client, ResourceID: r.ID, Tokens: i != 1, Introspect: i == 1}
		mustNil(t, s.LinkClientResource(ctx, link), "LinkClientResource")
	}
	links, err := s.ListClientResources(ctx, "c1")
	mustNil(t, err, "ListClientResources")
	slices.Sort(c1Want)
	assertEqual(t, ids(links, func(l *store.ClientResource) string { return l.ResourceID }), c1Want)
	for _, l := range links {
		if l.ClientID != "c1" {
			t.Errorf("link of client %q listed for c1", l.ClientID)
		}
	}
	links, err = s.ListClientResources(ctx, "nobody")
	mustNil(t, err, "ListClientResources (unknown client)")
	if len(links) != 0 {
		t.Errorf("unknown client has %d links", len(links))
	}
}

// testLinkGrants: a link grants tokens, introspection, both or neither, each checked on its
// own; relinking replaces the grants.
func testLinkGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.UpsertClient(ctx, newClient("client")), "UpsertClient")
	r := newResource("https://grants.example")
	mustNil(t, s.CreateResource(ctx, r), "CreateResource")
	other := newResource("https://unlinked.example")
	mustNil(t, s.CreateResource(ctx, other), "CreateResource")
	for _, g := range []struct{ tokens, introspect bool }{{true, false}, {false, true}, {true, true}, {false, false}, {true, false}} {
		link := &store.ClientResource{ClientID: "client", ResourceID: r.ID, Tokens: g.tokens, Introspect: g.introspect}
		mustNil(t, s.LinkClientResource(ctx, link), "LinkClientResource")
		linked, err := s.IsClientLinked(ctx, "client", r.ID)
		mustNil(t, err, "IsClientLinked")
		introspector, err := s.IsClientIntrospector(ctx, "client", r.ID)
		mustNil(t, err, "IsClientIntrospector")
		if linked != g.tokens || introspector != g.introspect {
			t.Errorf("linked with tokens=%v introspect=%v: IsClientLinked %v, IsClientIntrospector %v", g.tokens, g.introspect, linked, introspector)
		}
		links, err := s.ListClientResources(ctx, "client")
		mustNil(t, err, "ListClientResources")
		if len(links) != 1 || links[0].Tokens != g.tokens || links[0].Introspect != g.introspect {
			t.Errorf("linked with tokens=%v introspect=%v: listed %+v", g.tokens, g.introspect, links)
		}
		for _, check := range []func(context.Context, string, string) (bool, error){s.IsClientLinked, s.IsClientIntrospector} {
			if ok, err := check(ctx, "client", other.ID); err != nil || ok {
				t.Errorf("a grant on the unlinked resource: %v, %v", ok, err)
			}
		}
	}
}

func newAccessToken(hash string, expiresAt time.Time) *store.AccessToken {
	return &store.AccessToken{
		Hash:       hash,
		ClientID:   "client",
		Subject:    "user-42",
		ResourceID: "res-1",
		Audience:   []string{"https://api.example"},
		Scope:      "read write",
		JKT:        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		X5TS256:    "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2",
		Extra:      map[string]any{"tenant": "acme", "n": 1.0},
		IssuedAt:   expiresAt.Add(-time.Hour),
		ExpiresAt:  expiresAt,
	}
}

func testAccessTokenRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	cases := map[string]*store.AccessToken{
		"full":    newAccessToken("full", epoch),
		"nil":     {Hash: "nil", ClientID: "client", IssuedAt: epoch, ExpiresAt: epoch.Add(time.Minute)},
		"empty":   {Hash: "empty", Audience: []string{}, Extra: map[string]any{}, IssuedAt: epoch, ExpiresAt: epoch},
		"revoked": {Hash: "revoked", Revoked: true, IssuedAt: epoch, ExpiresAt: epoch},
		// Expired tokens are still returned: the caller decides what expiry means.
		"expired": newAccessToken("expired", epoch.AddDate(-10, 0, 0)),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			want := *tok
			mustNil(t, s.CreateAccessToken(ctx, tok), "CreateAccessToken")
			got, err := s.GetAccessToken(ctx, tok.Hash)
			mustNil(t, err, "GetAccessToken")
			assertEqual(t, got, &want)
		})
	}
}

func testAccessTokenConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateAccessToken(ctx, newAccessToken("h", epoch)), "CreateAccessToken")
	other := newAccessToken("h", epoch.Add(time.Hour))
	other.Subject = "someone-else"
	mustBe(t, s.CreateAccessToken(ctx, other), store.ErrConflict, "CreateAccessToken (duplicate hash)")
	got, err := s.GetAccessToken(ctx, "h")
	mustNil(t, err, "GetAccessToken")
	if got.Subject != "user-42" {
		t.Errorf("duplicate insert overwrote the token: subject %q", got.Subject)
	}
	_, err = s.GetAccessToken(ctx, "missing")
	mustBe(t, err, store.ErrNotFound, "GetAccessToken (missing)")
}

func testAccessTokenRevoke(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateAccessToken(ctx, newAccessToken("a", epoch)), "CreateAccessToken")
	mustNil(t, s.CreateAccessToken(ctx, newAccessToken("b", epoch)), "CreateAccessToken")
	for i := range 2 { // revoking twice is fine
		mustNil(t, s.RevokeAccessToken(ctx, "a"), fmt.Sprintf("RevokeAccessToken #%d", i+1))
	}
	a, err := s.GetAccessToken(ctx, "a")
	mustNil(t, err, "GetAccessToken")
	b, err := s.GetAccessToken(ctx, "b")
	mustNil(t, err, "GetAccessToken")
	if !a.Revoked || b.Revoked {
		t.Errorf("Revoked: a=%v (want true), b=%v (want false)", a.Revoked, b.Revoked)
	}
	mustBe(t, s.RevokeAccessToken(ctx, "missing"), store.ErrNotFound, "RevokeAccessToken (missing)")
}

func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	issued := time.Date(2030, 1, 2, 3, 4, 5, 678_912_345, zone)
	tok := &store.AccessToken{Hash: "times", IssuedAt: issued, ExpiresAt: issued.Add(time.Hour)}
	mustNil(t, s.CreateAccessToken(ctx, tok), "CreateAccessToken")
	got, err := s.GetAccessToken(ctx, "times")
	mustNil(t, err, "GetAccessToken")
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{{"IssuedAt", got.IssuedAt, issued}, {"ExpiresAt", got.ExpiresAt, issued.Add(time.Hour)}} {
		if c.got.Location() != time.UTC {
			t.Errorf("%s location = %v, want UTC", c.name, c.got.Location())
		}
		if d := c.got.Sub(c.want).Abs(); d >= time.Millisecond {
			t.Errorf("%s = %v, want %v within 1ms", c.name, c.got, c.want)
		}
	}
}

func testRevokeJTI(t *testing.T, s store.Store) {
	ctx := t.Context()
	revoked, err := s.IsJTIRevoked(ctx, "jti-1")
	mustNil(t, err, "IsJTIRevoked")
	if revoked {
		t.Fatal("unknown jti reported revoked")
	}
	mustNil(t, s.RevokeJTI(ctx, "jti-1", epoch.Add(time.Hour)), "RevokeJTI")
	// Revoking again with an earlier expiry must not shorten the revocation.
	mustNil(t, s.RevokeJTI(ctx, "jti-1", epoch), "RevokeJTI (again)")
	for _, c := range []struct {
		jti  string
		want bool
	}{{"jti-1", true}, {"jti-2", false}} {
		got, err := s.IsJTIRevoked(ctx, c.jti)
		mustNil(t, err, "IsJTIRevoked")
		if got != c.want {
			t.Errorf("IsJTIRevoked(%s) = %v, want %v", c.jti, got, c.want)
		}
	}
	_, err = s.DeleteExpired(ctx, epoch.Add(time.Minute))
	mustNil(t, err, "DeleteExpired")
	revoked, err = s.IsJTIRevoked(ctx, "jti-1")
	mustNil(t, err, "IsJTIRevoked")
	if !revoked {
		t.Error("revocation dropped before its later expiry")
	}
	_, err = s.DeleteExpired(ctx, epoch.Add(2*time.Hour))
	mustNil(t, err, "DeleteExpired")
	revoked, err = s.IsJTIRevoked(ctx, "jti-1")
	mustNil(t, err, "IsJTIRevoked")
	if revoked {
		t.Error("revocation kept after it expired and was cleaned up")
	}
}

func testClientTokenCutoff(t *testing.T, s store.Store) {
	ctx := t.Context()
	cutoff := func(id string) time.Time {
		t.Helper()
		got, err := s.ClientTokenCutoff(ctx, id)
		mustNil(t, err, "ClientTokenCutoff")
		return got
	}
	if got := cutoff("c1"); !got.IsZero() {
		t.Fatalf("a client without a cut-off has %v", got)
	}
	at := epoch.Add(1234 * time.Millisecond)
	mustNil(t, s.SetClientTokenCutoff(ctx, "c1", at, epoch.Add(time.Hour)), "SetClientTokenCutoff")
	if got := cutoff("c1"); !got.Equal(at) {
		t.Fatalf("cut-off %v, want %v (to the millisecond)", got, at)
	}
	// An earlier cut-off with an earlier expiry changes neither.
	mustNil(t, s.SetClientTokenCutoff(ctx, "c1", epoch, epoch.Add(time.Minute)), "SetClientTokenCutoff (earlier)")
	if got := cutoff("c1"); !got.Equal(at) {
		t.Fatalf("an earlier cut-off moved it back: %v", got)
	}
	if got := cutoff("c2"); !got.IsZero() {
		t.Fatalf("another client got a cut-off: %v", got)
	}
	_, err := s.DeleteExpired(ctx, epoch.Add(2*time.Minute))
	mustNil(t, err, "DeleteExpired")
	if got := cutoff("c1"); !got.Equal(at) {
		t.Fatal("cut-off dropped before its later expiry")
	}
	later := at.Add(time.Second)
	mustNil(t, s.SetClientTokenCutoff(ctx, "c1", later, epoch.Add(90*time.Minute)), "SetClientTokenCutoff (later)")
	if got := cutoff("c1"); !got.Equal(later) {
		t.Fatalf("a later cut-off was not kept: %v", got)
	}
	_, err = s.DeleteExpired(ctx, epoch.Add(2*time.Hour))
	mustNil(t, err, "DeleteExpired")
	if got := cutoff("c1"); !got.IsZero() {
		t.Fatalf("cut-off kept after it expired and was cleaned up: %v", got)
	}
}

func testUseOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	live := time.Now().Add(time.Hour)
	mustNil(t, s.UseOnce(ctx, "k1", live), "UseOnce (first)")
	mustBe(t, s.UseOnce(ctx, "k1", live), store.ErrConflict, "UseOnce (replay)")
	mustBe(t, s.UseOnce(ctx, "k1", live.Add(time.Hour)), store.ErrConflict, "UseOnce (replay, later expiry)")
	mustNil(t, s.UseOnce(ctx, "k2", live), "UseOnce (other key)")

	// A key whose record has expired may be used again, and then it is live again.
	expired := time.Now().Add(-time.Second)
	mustNil(t, s.UseOnce(ctx, "k3", expired), "UseOnce (already expired)")
	mustNil(t, s.UseOnce(ctx, "k3", live), "UseOnce (after expiry)")
	mustBe(t, s.UseOnce(ctx, "k3", live), store.ErrConflict, "UseOnce (replay after re-use)")
}

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	keys, err := s.ListSigningKeys(ctx)
	mustNil(t, err, "ListSigningKeys (empty)")
	if len(keys) != 0 {
		t.Fatalf("empty store lists %d keys", len(keys))
	}
	rs := &store.SigningKey{ID: "rs-1", Alg: "RS256", PrivateSealed: []byte("sealed-rsa"),
		PublicJWK: `{"kty":"RSA","kid":"rs-1"}`, CreatedAt: epoch}
	es := &store.SigningKey{ID: "es-1", Alg: "ES256", PrivateSealed: []byte("sealed-ec"),
		PublicJWK: `{"kty":"EC","kid":"es-1"}`, CreatedAt: epoch.Add(time.Second),
		RetiredAt: ptr(epoch.Add(time.Minute)), PurgeAfter: ptr(epoch.Add(time.Hour))}
	for _, k := range []*store.SigningKey{rs, es} {
		mustNil(t, s.CreateSigningKey(ctx, k), "CreateSigningKey")
	}
	dup := *rs
	mustBe(t, s.CreateSigningKey(ctx, &dup), store.ErrConflict, "CreateSigningKey (duplicate)")

	keys, err = s.ListSigningKeys(ctx)
	mustNil(t, err, "ListSigningKeys")
	assertEqual(t, byID(keys), map[string]*store.SigningKey{"rs-1": rs, "es-1": es})

	retired, purge := epoch.Add(2*time.Hour), epoch.Add(48*time.Hour)
	mustNil(t, s.RetireSigningKey(ctx, "rs-1", retired, purge), "RetireSigningKey")
	mustBe(t, s.RetireSigningKey(ctx, "missing", retired, purge), store.ErrNotFound, "RetireSigningKey (missing)")
	mustNil(t, s.DeleteSigningKey(ctx, "es-1"), "DeleteSigningKey")
	mustBe(t, s.DeleteSigningKey(ctx, "es-1"), store.ErrNotFound, "DeleteSigningKey (again)")

	keys, err = s.ListSigningKeys(ctx)
	mustNil(t, err, "ListSigningKeys")
	wantRS := *rs
	wantRS.RetiredAt, wantRS.PurgeAfter = &retired, &purge
	assertEqual(t, byID(keys), map[string]*store.SigningKey{"rs-1": &wantRS})
}

func testDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := epoch
	past, future := now.Add(-time.Second), now.Add(time.Hour)

	for hash, exp := range map[string]time.Time{"tok-past": past, "tok-now": now, "tok-future": future} {
		mustNil(t, s.CreateAccessToken(ctx, newAccessToken(hash, exp)), "CreateAccessToken")
	}
	mustNil(t, s.RevokeJTI(ctx, "jti-past", past), "RevokeJTI")
	mustNil(t, s.RevokeJTI(ctx, "jti-future", future), "RevokeJTI")
	// UseOnce compares with the wall clock, so its keys live far from epoch in both directions.
	mustNil(t, s.UseOnce(ctx, "once-past", now.AddDate(-20, 0, 0)), "UseOnce")
	mustNil(t, s.UseOnce(ctx, "once-future", now.AddDate(20, 0, 0)), "UseOnce")
	keys := []*store.SigningKey{
		{ID: "key-active", Alg: "ES256", PublicJWK: "{}", CreatedAt: past},
		{ID: "key-retired", Alg: "ES256", PublicJWK: "{}", CreatedAt: past, RetiredAt: &past, PurgeAfter: &future},
		{ID: "key-purge", Alg: "ES256", PublicJWK: "{}", CreatedAt: past, RetiredAt: &past, PurgeAfter: &past},
	}
	for _, k := range keys {
		mustNil(t, s.CreateSigningKey(ctx, k), "CreateSigningKey")
	}

	n, err := s.DeleteExpired(ctx, now)
	mustNil(t, err, "DeleteExpired")
	// tok-past, tok-now (expiring at now counts as expired), jti-past, once-past, key-purge,
	// and the revocation event of jti-past (epoch is after the wall clock, so RevokeJTI
	// appended one for each jti).
	if n != 6 {
		t.Errorf("DeleteExpired removed %d rows, want 6", n)
	}
	for hash, wantFound := range map[string]bool{"tok-past": false, "tok-now": false, "tok-future": true} {
		_, err := s.GetAccessToken(ctx, hash)
		if found := err == nil; found != wantFound {
			t.Errorf("token %s found = %v (err %v), want %v", hash, found, err, wantFound)
		}
	}
	for jti, want := range map[string]bool{"jti-past": false, "jti-future": true} {
		got, err := s.IsJTIRevoked(ctx, jti)
		mustNil(t, err, "IsJTIRevoked")
		if got != want {
			t.Errorf("IsJTIRevoked(%s) = %v, want %v", jti, got, want)
		}
	}
	mustBe(t, s.UseOnce(ctx, "once-future", now.AddDate(20, 0, 0)), store.ErrConflict, "UseOnce (live key)")
	list, err := s.ListSigningKeys(ctx)
	mustNil(t, err, "ListSigningKeys")
	assertEqual(t, ids(list, func(k *store.SigningKey) string { return k.ID }), []string{"key-active", "key-retired"})

	n, err = s.DeleteExpired(ctx, now)
	mustNil(t, err, "DeleteExpired (again)")
	if n != 0 {
		t.Errorf("second DeleteExpired removed %d rows, want 0", n)
	}
}

// start runs n goroutines that each wait for a common signal, so they hit the store at once.
func start(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-gate
			fn(i)
		}()
	}
	ready.Wait()
	close(gate)
	done.Wait()
}

func testRaceUseOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 32
	for round := range 3 {
		key := fmt.Sprintf("race-%d", round)
		errs := make([]error, n)
		start(n, func(i int) { errs[i] = s.UseOnce(ctx, key, time.Now().Add(time.Minute)) })
		var ok, conflict int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrConflict):
				conflict++
			default:
				t.Errorf("UseOnce: unexpected error %v", err)
			}
		}
		if ok != 1 || conflict != n-1 {
			t.Errorf("round %d: %d successes and %d conflicts, want 1 and %d", round, ok, conflict, n-1)
		}
	}
}

// testRaceCreateAccessToken inserts distinct tokens from many goroutines, each also
// retrying one existing hash: only the duplicates may fail, and only with ErrConflict.
func testRaceCreateAccessToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.CreateAccessToken(ctx, newAccessToken("taken", epoch)), "CreateAccessToken")
	const workers, perWorker = 16, 25
	errs := make([]error, workers)
	start(workers, func(w int) {
		for i := range perWorker {
			if i == w%perWorker {
				if err := s.CreateAccessToken(ctx, newAccessToken("taken", epoch)); !errors.Is(err, store.ErrConflict) {
					errs[w] = fmt.Errorf("duplicate: got %v, want ErrConflict", err)
					return
				}
			}
			if err := s.CreateAccessToken(ctx, newAccessToken(fmt.Sprintf("race-%d-%d", w, i), epoch)); err != nil {
				errs[w] = err
				return
			}
		}
	})
	for w, err := range errs {
		if err != nil {
			t.Errorf("worker %d: CreateAccessToken: %v", w, err)
		}
	}
	for w := range workers {
		for i := range perWorker {
			if _, err := s.GetAccessToken(ctx, fmt.Sprintf("race-%d-%d", w, i)); err != nil {
				t.Fatalf("GetAccessToken(race-%d-%d): %v", w, i, err)
			}
		}
	}
}

// testRaceMixed interleaves reads with writes of several kinds; nothing may fail.
func testRaceMixed(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustNil(t, s.UpsertClient(ctx, newClient("shared")), "UpsertClient")
	const workers = 12
	errs := make([]error, workers)
	start(workers, func(w int) {
		errs[w] = mixedWork(ctx, s, w)
	})
	for w, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", w, err)
		}
	}
}

func mixedWork(ctx context.Context, s store.Store, w int) error {
	for i := range 20 {
		var err error
		switch (w + i) % 4 {
		case 0:
			err = s.UpsertClient(ctx, newClient("shared"))
		case 1:
			_, err = s.GetClient(ctx, "shared")
		case 2:
			err = s.RevokeJTI(ctx, fmt.Sprintf("mixed-%d-%d", w, i), epoch)
		case 3:
			_, err = s.ListClients(ctx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func clientSansTimes(c *store.Client) store.Client {
	v := *c
	v.CreatedAt, v.UpdatedAt = time.Time{}, time.Time{}
	return v
}

func resourceSansTimes(r *store.Resource) store.Resource {
	v := *r
	v.CreatedAt, v.UpdatedAt = time.Time{}, time.Time{}
	return v
}

func ids[T any](list []T, id func(T) string) []string {
	out := make([]string, 0, len(list))
	for _, v := range list {
		out = append(out, id(v))
	}
	slices.Sort(out)
	return out
}

func byID(keys []*store.SigningKey) map[string]*store.SigningKey {
	m := make(map[string]*store.SigningKey, len(keys))
	for _, k := range keys {
		m[k.ID] = k
	}
	return m
}

func mustNil(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustBe(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// assertEqual compares deeply, so nil and empty slices or maps differ.
func assertEqual[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("mismatch\n got: %s\nwant: %s\n(%#v)", g, w, got)
	}
}
