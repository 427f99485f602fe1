package manage

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

func TestResources(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ttl := 10 * time.Minute
	r, err := f.svc.CreateResource(ctx, spec.Resource{Identifier: "https://new.example", AccessTokenTTL: &ttl,
		AllowedScopes: []string{"read"}, CustomClaims: map[string]any{"tenant": "acme", "sub": "forged"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "https://new.example" || *r.AccessTokenTTL != 600 || r.CustomClaims["sub"] != nil || r.CustomClaims["tenant"] != "acme" || r.PolicyVersion != 1 {
		t.Fatalf("created %+v", r)
	}
	for _, tt := range []struct {
		in   spec.Resource
		want error
	}{
		{spec.Resource{Identifier: "https://new.example"}, ErrExists},
		{spec.Resource{Identifier: "https://conf.example.test"}, ErrConfigured},
	} {
		if _, err := f.svc.CreateResource(ctx, tt.in); !errors.Is(err, tt.want) {
			t.Errorf("create %s: %v, want %v", tt.in.Identifier, err, tt.want)
		}
	}
	var specErr *spec.Error
	if _, err := f.svc.CreateResource(ctx, spec.Resource{Identifier: "https://x.example", AccessTokenFormat: "xml"}); !errors.As(err, &specErr) {
		t.Errorf("invalid resource: %v", err)
	}
	// A replacement resets what it leaves out and moves the policy version.
	r, err = f.svc.ReplaceResource(ctx, spec.Resource{Identifier: "https://new.example", Name: "New"})
	if err != nil || r.AccessTokenTTL != nil || r.AllowedScopes != nil || r.Name != "New" || r.PolicyVersion != 2 {
		t.Fatalf("replaced %+v %v", r, err)
	}
	if _, err := f.svc.ReplaceResource(ctx, spec.Resource{Identifier: "https://missing.example"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("replace missing: %v", err)
	}
	if err := f.svc.DeleteResource(ctx, "https://new.example"); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteResource(ctx, "https://new.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
	if err := f.svc.DeleteResource(ctx, "https://conf.example.test"); !errors.Is(err, ErrConfigured) {
		t.Errorf("delete configured: %v", err)
	}
}

func TestLinks(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, c := range []spec.Client{
		{ID: "svc"},
		{ID: "pub", TokenEndpointAuthMethod: "none", RedirectURIs: []string{"https://app.example/cb"}},
	} {
		if _, err := f.svc.CreateClient(ctx, c, store.SourceAdmin); err != nil {
			t.Fatal(err)
		}
	}
	var specErr *spec.Error
	for _, tt := range []struct {
		name string
		in   spec.Link
		want error // nil: success; errSpec: a *spec.Error
	}{
		{"tokens", spec.Link{ClientID: "svc", Resource: apiID, Tokens: true}, nil},
		{"introspect replaces it", spec.Link{ClientID: "svc", Resource: apiID, Introspect: true}, nil},
		{"public client cannot introspect", spec.Link{ClientID: "pub", Resource: apiID, Introspect: true}, errSpec},
		{"grants nothing", spec.Link{ClientID: "pub", Resource: apiID}, errSpec},
		{"unknown client", spec.Link{ClientID: "ghost", Resource: apiID, Tokens: true}, ErrNotFound},
		{"unknown resource", spec.Link{ClientID: "svc", Resource: "https://nope.example", Tokens: true}, ErrNotFound},
		{"configured client", spec.Link{ClientID: "conf", Resource: apiID, Tokens: true}, ErrConfigured},
	} {
		_, err := f.svc.PutLink(ctx, tt.in)
		switch {
		case tt.want == nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want == errSpec && !errors.As(err, &specErr):
			t.Errorf("%s: %v, want a spec error", tt.name, err)
		case tt.want != nil && tt.want != errSpec && !errors.Is(err, tt.want):
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	links, err := f.svc.ListLinks(ctx, "", apiID)
	if err != nil || len(links) != 1 || links[0].ClientID != "svc" || links[0].Tokens || !links[0].Introspect {
		t.Fatalf("links %+v %v", links, err)
	}
	if ok, _ := f.st.IsClientIntrospector(ctx, "svc", links[0].ResourceID); !ok {
		t.Fatal("link not stored")
	}
	if err := f.svc.DeleteLink(ctx, "svc", apiID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteLink(ctx, "svc", apiID); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}

var errSpec = errors.New("a *spec.Error")
