package requestobject

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/profile"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

type staticKeys []jose.JSONWebKey

func (k staticKeys) ClientKeys(context.Context, *store.Client, bool) ([]jose.JSONWebKey, error) {
	return k, nil
}

type memoryReplay struct{ seen sync.Map }

func (m *memoryReplay) UseOnce(_ context.Context, key string, _ time.Time) error {
	if _, loaded := m.seen.LoadOrStore(key, true); loaded {
		return store.ErrConflict
	}
	return nil
}

// FuzzRequestObject: whatever arrives as a request parameter, Verify never panics and refuses
// anything it does not accept with invalid_request_object (400); what it accepts names the client.
func FuzzRequestObject(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v := &Verifier{Issuer: "https://as.example", Keys: staticKeys{{Key: &key.PublicKey, KeyID: "k"}}, Replay: &memoryReplay{}}
	client := &store.Client{ID: "c"}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k"))
	now := time.Now().Unix()
	for _, claims := range []map[string]any{
		{"iss": "c", "aud": "https://as.example", "exp": now + 60, "scope": "openid", "resource": []string{"https://api.example"}},
		{"iss": "c", "aud": []string{"https://as.example"}, "exp": now + 60, "claims": map[string]any{"userinfo": nil}, "max_age": 30},
	} {
		b, _ := json.Marshal(claims)
		jws, _ := signer.Sign(b)
		s, _ := jws.CompactSerialize()
		f.Add(s)
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, raw string) {
		params, err := v.Verify(context.Background(), client, profile.Resolve("", ""), raw)
		if err != nil {
			var e *oautherr.Error
			if !errors.As(err, &e) || e.Code != oautherr.InvalidRequestObject || e.Status != http.StatusBadRequest {
				t.Fatalf("refusal %v is not invalid_request_object", err)
			}
			return
		}
		if params.Get("client_id") != "c" || params.Has("request") || params.Has("exp") {
			t.Fatalf("accepted parameters %v", params)
		}
	})
}
