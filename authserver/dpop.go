package authserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// Bounds of the memory replay guard a Server makes for itself when Deps has none.
const (
	defaultDPoPReplayEntries = 1_000_000
	dpopProofMaxAge          = 5 * time.Minute
	dpopNonceWindow          = 5 * time.Minute
)

func (s *Server) setupDPoP() error {
	if err := dpop.CheckAlgs(s.cfg.DPoPAlgs); err != nil {
		return err
	}
	v := &dpop.Verifier{Algs: s.cfg.DPoPAlgs, MaxAge: dpopProofMaxAge, Replay: s.deps.DPoPReplay, Now: s.now}
	if v.Replay == nil {
		s.ownGuard = dpop.NewMemoryGuardWithClock(defaultDPoPReplayEntries, v.ReplayTTL(), s.now)
		v.Replay = s.ownGuard
	}
	if s.cfg.DPoPNonceSecret != "" {
		nonces, err := dpop.NewNonces([]byte(s.cfg.DPoPNonceSecret), dpopNonceWindow)
		if err != nil {
			return err
		}
		v.Nonces = nonces
	}
	s.dpop = v
	return nil
}

// tokenProof checks the DPoP proof of a token request (RFC 9449 §5) without consuming it, and
// returns nil when the request carries none. required says whether the client or resource
// demands binding. The grant records the proof (recordTokenProof) only once the client is
// authenticated and the grant's own checks have passed, so requests that fail them — which
// anyone can send — never fill the replay store; and a use_dpop_nonce answer comes before
// anything is spent, so the client retries with the same code (RFC 9449 §8).
func (s *Server) tokenProof(r *http.Request, required bool) (*dpop.Proof, error) {
	return s.endpointProof(r, pathToken, required)
}

// endpointProof checks, without consuming it, the DPoP proof of a request to the endpoint at
// path (the token endpoint, or the PAR endpoint, RFC 9449 §10.1); nil when there is none.
func (s *Server) endpointProof(r *http.Request, path string, required bool) (*dpop.Proof, error) {
	proofs := r.Header.Values("DPoP")
	switch {
	case len(proofs) == 0 && required:
		return nil, oautherr.New(oautherr.InvalidDPoPProof, "a DPoP proof is required: the client or the resource demands DPoP-bound access tokens")
	case len(proofs) == 0:
		return nil, nil
	case len(proofs) > 1:
		return nil, oautherr.New(oautherr.InvalidDPoPProof, "send exactly one DPoP header")
	}
	proof, err := s.dpop.Check(proofs[0], dpop.Request{Method: r.Method, URL: s.requestEndpoint(r, path)})
	if err != nil {
		return nil, s.dpopError(err)
	}
	return proof, nil
}

// recordTokenProof makes the proof of a token request single-use; nil (no proof) passes. Call
// it after every check that anyone could fail, and before tokens are issued.
func (s *Server) recordTokenProof(ctx context.Context, proof *dpop.Proof) error {
	if proof == nil {
		return nil
	}
	if err := s.dpop.Record(ctx, proof); err != nil {
		return s.dpopError(err)
	}
	return nil
}

// dpopError turns a proof rejection into the token endpoint's error, with a fresh nonce
// when the client is to retry with one; other errors (the replay backend failing) pass as
// server errors.
func (s *Server) dpopError(err error) error {
	var de *dpop.Error
	if !errors.As(err, &de) {
		return err
	}
	e := oautherr.New(de.Code, de.Description)
	if de.Code == oautherr.UseDPoPNonce && s.dpop.Nonces != nil {
		e.DPoPNonce = s.dpop.Nonces.Current()
	}
	return e
}

// proofJKT is the thumbprint to bind tokens to: the proof's key, or "" without a proof.
func proofJKT(proof *dpop.Proof) string {
	if proof == nil {
		return ""
	}
	return proof.JKT
}

// dpopAlgs is what discovery advertises as dpop_signing_alg_values_supported.
func (s *Server) dpopAlgs() []string { return s.dpop.AllowedAlgs() }
