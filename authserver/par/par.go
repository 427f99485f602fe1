// Package par is the pushed authorization request endpoint (RFC 9126): a client posts the
// parameters of an authorization request, authenticated as at the token endpoint, and gets
// back a short-lived, single-use request_uri to send to the authorization endpoint instead.
//
// The package owns the request_uri's lifecycle (minting, storing, spending). Everything that
// is the authorization server's own rule — client authentication, DPoP proofs, request
// objects and the validation of the parameters — it asks of its Core, so both endpoints
// apply one contract.
package par

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// URNPrefix starts every request_uri this endpoint hands out (RFC 9126 §2.2).
const URNPrefix = "urn:ietf:params:oauth:request_uri:"

// referenceBytes is the size of a request_uri's random part: 256 bits, so it cannot be guessed.
const referenceBytes = 32

// clientAuthParams authenticate the push; they are not part of the authorization request and
// are never stored (a client secret must not outlive the request that carried it).
var clientAuthParams = []string{"client_secret", "client_assertion", "client_assertion_type"}

// Core is what the endpoint needs from the authorization server.
type Core interface {
	// ReadForm checks that r is a POST with a form body, as at the token endpoint, and
	// returns the form.
	ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, error)
	// AuthenticateClient authenticates the caller with the token endpoint's methods
	// (invalid_client, 401, when it fails).
	AuthenticateClient(r *http.Request) (*store.Client, error)
	// DPoPProof checks r's DPoP proof for this endpoint without spending it; nil, nil when r
	// carries none.
	DPoPProof(r *http.Request) (*dpop.Proof, error)
	// RecordDPoPProof spends a checked proof so that it cannot be replayed.
	RecordDPoPProof(ctx context.Context, proof *dpop.Proof) error
	// Resolve replaces a request object in params by its parameters and validates the
	// result as the authorization endpoint does; it returns the parameters to store.
	Resolve(ctx context.Context, client *store.Client, params url.Values) (url.Values, error)
	// RequireRedirectURI reports whether client's pushes must name their redirect_uri.
	RequireRedirectURI(client *store.Client) bool
}

// Endpoint serves the PAR endpoint and spends the request_uris it handed out.
type Endpoint struct {
	Core Core
	// Unavailable tells the database failing from a bug: such failures answer 503
	// temporarily_unavailable (oautherr.Classify); nil means never.
	Unavailable func(error) bool
	Store       store.PushedRequestStore
	// TTL is how long a request_uri stays valid (expires_in).
	TTL time.Duration
	Now func() time.Time
	Log *zap.Logger
}

// response is the PAR endpoint's answer (RFC 9126 §2.2).
type response struct {
	RequestURI string `json:"request_uri"`
	ExpiresIn  int64  `json:"expires_in"`
}

// ServeHTTP answers a push: 201 with a request_uri, or a JSON error (never a redirect: the
// caller is the client itself, RFC 9126 §2.3).
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp, err := e.push(w, r)
	if err != nil {
		e.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(resp)
}

// push checks, stores and answers one pushed request. The order keeps anything that anyone
// could send from spending a DPoP proof or a row: the proof is recorded only once every
// check has passed.
func (e *Endpoint) push(w http.ResponseWriter, r *http.Request) (*response, error) {
	form, err := e.Core.ReadForm(w, r)
	if err != nil {
		return nil, err
	}
	client, err := e.Core.AuthenticateClient(r)
	if err != nil {
		return nil, err
	}
	proof, err := e.Core.DPoPProof(r)
	if err != nil {
		return nil, err
	}
	params, err := authorizationParams(form, client)
	if err != nil {
		return nil, err
	}
	resolved, err := e.Core.Resolve(r.Context(), client, params)
	if err != nil {
		return nil, err
	}
	if err := bindDPoP(resolved, proof); err != nil {
		return nil, err
	}
	if e.Core.RequireRedirectURI(client) && resolved.Get("redirect_uri") == "" {
		return nil, oautherr.Request("redirect_uri is required in a pushed authorization request under this client's security profile")
	}
	if err := e.Core.RecordDPoPProof(r.Context(), proof); err != nil {
		return nil, err
	}
	return e.store(r.Context(), client, resolved)
}

// authorizationParams are the authorization request parameters of a push: the form without
// the client's credentials, naming the authenticated client.
func authorizationParams(form url.Values, client *store.Client) (url.Values, error) {
	if form.Has("request_uri") {
		// RFC 9126 §2.1: a pushed request cannot point at another one.
		return nil, oautherr.Request("request_uri must not be sent to the pushed authorization request endpoint")
	}
	if id := form.Get("client_id"); id != "" && id != client.ID {
		return nil, oautherr.Request("client_id does not match the authenticated client")
	}
	params := make(url.Values, len(form))
	for name, values := range form {
		params[name] = values
	}
	for _, name := range clientAuthParams {
		params.Del(name)
	}
	params.Set("client_id", client.ID)
	return params, nil
}

// bindDPoP binds the authorization code to the proof's key (RFC 9449 §10.1): the key's
// thumbprint becomes dpop_jkt, and a dpop_jkt naming another key is refused.
func bindDPoP(params url.Values, proof *dpop.Proof) error {
	if proof == nil {
		return nil
	}
	if jkt := params.Get("dpop_jkt"); jkt != "" && jkt != proof.JKT {
		return oautherr.New(oautherr.InvalidDPoPProof, "dpop_jkt does not match the key of the DPoP proof")
	}
	params.Set("dpop_jkt", proof.JKT)
	return nil
}

// store saves the parameters under a new request_uri; only the reference's hash is kept.
func (e *Endpoint) store(ctx context.Context, client *store.Client, params url.Values) (*response, error) {
	encoded, err := json.Marshal(params)
	if err != nil {
		return nil, oautherr.Server(err)
	}
	reference := make([]byte, referenceBytes)
	_, _ = rand.Read(reference) // never fails (crypto/rand)
	ref := base64.RawURLEncoding.EncodeToString(reference)
	now := e.Now()
	err = e.Store.CreatePushedRequest(ctx, &store.PushedRequest{
		Hash: hashReference(ref), ClientID: client.ID, Params: encoded,
		ExpiresAt: now.Add(e.TTL), CreatedAt: now,
	})
	if err != nil {
		return nil, oautherr.Server(err)
	}
	e.Log.Debug("pushed authorization request stored", zap.String("client_id", client.ID), zap.Duration("ttl", e.TTL))
	return &response{RequestURI: URNPrefix + ref, ExpiresIn: int64(e.TTL / time.Second)}, nil
}

// Consume returns the parameters pushed under requestURI, once, when clientID pushed them.
// Every failure is invalid_request_uri (RFC 9126 §4): unknown, used, expired, not one of
// ours, or another client's.
func (e *Endpoint) Consume(ctx context.Context, clientID, requestURI string) (url.Values, *oautherr.Error) {
	invalid := func(why string) (url.Values, *oautherr.Error) {
		return nil, oautherr.New(oautherr.InvalidRequestURI, why)
	}
	ref, ok := strings.CutPrefix(requestURI, URNPrefix)
	if !ok || ref == "" {
		return invalid("request_uri is not one this server issued")
	}
	// Spent even when the client does not match: a request_uri shown to another client is
	// compromised, and its rightful owner simply pushes again.
	pushed, err := e.Store.ConsumePushedRequest(ctx, hashReference(ref), e.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return invalid("request_uri is unknown, expired or already used")
	case err != nil:
		return nil, oautherr.Server(err)
	case pushed.ClientID != clientID:
		return invalid("request_uri was pushed by another client")
	}
	var params url.Values
	if err := json.Unmarshal(pushed.Params, &params); err != nil {
		return nil, oautherr.Server(err)
	}
	return params, nil
}

// hashReference is the store key of a request_uri's random part.
func hashReference(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (e *Endpoint) writeError(w http.ResponseWriter, r *http.Request, err error) {
	oe := oautherr.Classify(err, e.Unavailable)
	if oe.Status >= http.StatusInternalServerError {
		e.Log.Error("pushed authorization request failed", zap.String("path", r.URL.Path), zap.Error(err))
	} else {
		e.Log.Debug("pushed authorization request refused", zap.String("error", oe.Code), zap.String("description", oe.Description))
	}
	oautherr.Write(w, oe)
}
