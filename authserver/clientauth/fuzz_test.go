package clientauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// FuzzAuthenticate feeds arbitrary Authorization headers and credential parameters. Whatever
// arrives, Authenticate must not panic and must answer either a client or an *oautherr.Error
// that is not a server error (the fixtures that simulate server failures are removed).
func FuzzAuthenticate(f *testing.F) {
	k := keys()
	hs := sign(f, jose.HS256, hsSecret, "", claims("hs", nil))
	es := sign(f, jose.ES256, k.ec256, "ec256", claims("pk", nil))
	seeds := [][5]string{
		{basicAuth("basic", goodSecret), "", "", "", ""},
		{basicAuth(weirdID, weirdSecret), weirdID, "", "", ""},
		{basicRaw("spacey:a+b"), "", "", "", ""},
		{"Basic !!!", "", "", "", ""},
		{"Basic", "", "", "", ""},
		{"Bearer x", "", "", "", ""},
		{"", "post", goodSecret, "", ""},
		{"", "public", "", "", ""},
		{"", "", "", hs, AssertionTypeJWT},
		{"", "hs", "", hs, AssertionTypeJWT},
		{"", "", "", es, AssertionTypeJWT},
		{"", "", "", rawJWT(`{"alg":"none"}`, mustJSON(claims("pk", nil)), nil), AssertionTypeJWT},
		{"", "", "", "e30.e30.", AssertionTypeJWT},
		{"", "", "", "..", "x"},
		{basicAuth("basic", goodSecret), "", goodSecret, hs, AssertionTypeJWT},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	a := newTestAuthenticator(func() time.Time { return testNow })
	clients := a.Clients.(fakeClients)
	delete(clients, "hsbadseal")
	a.Clients = healthyClients{clients}
	f.Fuzz(func(t *testing.T, header, clientID, secret, assertion, assertionType string) {
		r := httptest.NewRequest(http.MethodPost, tokenURL, nil)
		r.PostForm = url.Values{}
		for name, v := range map[string]string{"client_id": clientID, "client_secret": secret, "client_assertion": assertion, "client_assertion_type": assertionType} {
			if v != "" {
				r.PostForm.Set(name, v)
			}
		}
		if header != "" {
			r.Header["Authorization"] = []string{header}
		}
		client, err := a.Authenticate(r, tokenURL, Methods())
		if err == nil {
			if client == nil || client.ID == "" {
				t.Fatalf("no error and no client")
			}
			return
		}
		if client != nil {
			t.Fatalf("client %q returned with error %v", client.ID, err)
		}
		var e *oautherr.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T is not an *oautherr.Error: %v", err, err)
		}
		if e.Code != oautherr.InvalidClient && e.Code != oautherr.InvalidRequest {
			t.Fatalf("unexpected error %s: %v", e.Code, err)
		}
		if e.Code == oautherr.InvalidClient && e.Status != http.StatusUnauthorized {
			t.Fatalf("invalid_client with status %d", e.Status)
		}
	})
}

// healthyClients is fakeClients without the simulated store failure.
type healthyClients struct{ fakeClients }

func (h healthyClients) GetClient(ctx context.Context, id string) (*store.Client, error) {
	if id == "broken" {
		return nil, store.ErrNotFound
	}
	return h.fakeClients.GetClient(ctx, id)
}
