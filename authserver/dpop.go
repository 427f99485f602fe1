package authserver

import (
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
		s.ownGuard = dpop.NewMemoryGuard(defaultDPoPReplayEntries, v.ReplayTTL())
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

// tokenDPoP verifies the DPoP proof of a token request (RFC 9449 §5) and returns the JWK
// thumbprint to bind the tokens to, or "" when the request carries no proof. required says
// whether the client or resource demands binding.
func (s *Server) tokenDPoP(r *http.Request, required bool) (string, error) {
	proofs := r.Header.Values("DPoP")
	switch {
	case len(proofs) == 0 && required:
		return "", oautherr.New(oautherr.InvalidDPoPProof, "a DPoP proof is required: the client or the resource demands DPoP-bound access tokens")
	case len(proofs) == 0:
		return "", nil
	case len(proofs) > 1:
		return "", oautherr.New(oautherr.InvalidDPoPProof, "send exactly one DPoP header")
	}
	proof, err := s.dpop.Verify(r.Context(), proofs[0], dpop.Request{Method: r.Method, URL: s.endpoint(pathToken)})
	if err != nil {
		var de *dpop.Error
		if errors.As(err, &de) {
			e := oautherr.New(de.Code, de.Description)
			if de.Code == oautherr.UseDPoPNonce && s.dpop.Nonces != nil {
				e.DPoPNonce = s.dpop.Nonces.Current()
			}
			return "", e
		}
		return "", err
	}
	return proof.JKT, nil
}

// dpopAlgs is what discovery advertises as dpop_signing_alg_values_supported.
func (s *Server) dpopAlgs() []string { return s.dpop.AllowedAlgs() }
