package rsvalidate

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// checkDPoP enforces RFC 9449 §7: a DPoP-bound token only with the DPoP scheme and a proof
// by its key; an unbound token never with the DPoP scheme; Bearer refused where DPoP is
// required. Proof outcomes are never cached: every proof is new.
func (v *Validator) checkDPoP(ctx context.Context, r *http.Request, c credential, id *Identity) *Error {
	if c.scheme != "DPoP" {
		if id.JKT != "" {
			return dpopTokenError("DPoP-bound access token requires the DPoP scheme", nil)
		}
		required, err := v.dpopRequired(ctx)
		if err != nil {
			return unavailable(err)
		}
		if required {
			return dpopTokenError("DPoP-bound access token required", nil)
		}
		return nil
	}
	if id.JKT == "" {
		return dpopTokenError("access token is not DPoP-bound", nil)
	}
	origin, ok := v.cfg.Origin(r)
	if !ok {
		// Refused before the proof is verified, so its jti is not spent.
		return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidDPoPProof,
			Description: "DPoP proof cannot match: the request's host is not one this resource is served at", scheme: "DPoP"}
	}
	proof, err := v.dpop.Verify(ctx, c.proof, dpop.Request{
		Method:      r.Method,
		URL:         origin + r.URL.EscapedPath(),
		AccessToken: c.token,
	})
	if err != nil {
		var de *dpop.Error
		if errors.As(err, &de) {
			return &Error{Status: http.StatusUnauthorized, Code: de.Code, Description: de.Description, Cause: err, scheme: "DPoP"}
		}
		// Not a verdict on the proof (e.g. the replay guard's backend is down): fail closed.
		return unavailable(err)
	}
	if subtle.ConstantTimeCompare([]byte(proof.JKT), []byte(id.JKT)) != 1 {
		return dpopTokenError("DPoP proof key does not match the token's binding", nil)
	}
	return nil
}

func dpopTokenError(desc string, cause error) *Error {
	e := invalidToken(desc, cause)
	e.scheme = "DPoP"
	return e
}

// clientCertificate is the request's TLS client certificate (Config.ClientCertificate), or nil.
func (v *Validator) clientCertificate(r *http.Request) *x509.Certificate {
	if v.cfg.ClientCertificate != nil {
		return v.cfg.ClientCertificate(r)
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// checkCertBinding enforces RFC 8705 §3: a token with cnf.x5t#S256 is only good over a TLS
// connection authenticated with that certificate.
func checkCertBinding(cert *x509.Certificate, id *Identity) *Error {
	if id.X5TS256 == "" {
		return nil
	}
	if cert == nil {
		return invalidToken("certificate-bound access token requires the client certificate", nil)
	}
	sum := sha256.Sum256(cert.Raw)
	var got [43]byte // base64url of 32 bytes, unpadded
	base64.RawURLEncoding.Encode(got[:], sum[:])
	if subtle.ConstantTimeCompare(got[:], []byte(id.X5TS256)) != 1 {
		return invalidToken("client certificate does not match the token's binding", nil)
	}
	return nil
}
