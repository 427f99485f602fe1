package authserver

import (
	"context"
	"errors"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/dpop"
)

// handleUserinfo is the OIDC UserInfo endpoint (OIDC Core §5.3): GET or POST with the access
// token in the Authorization header (Bearer or DPoP) or, on POST, in the form body (RFC 6750
// §2.2). Errors carry WWW-Authenticate per RFC 6750 §3 / RFC 9449 §7.1.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	claims, err := s.userinfo(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, claims)
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		return nil, &oautherr.Error{Code: oautherr.InvalidRequest, Description: "userinfo accepts GET and POST", Status: http.StatusMethodNotAllowed}
	}
	scheme, token, err := s.userinfoCredentials(w, r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	info, err := s.activeToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if info == nil || !slices.Contains(info.audience, s.endpoint(pathUserinfo)) {
		return nil, s.tokenChallenge(scheme, oautherr.InvalidToken, "the access token is invalid, expired, revoked or not meant for userinfo", http.StatusUnauthorized)
	}
	if err := s.userinfoCertificate(r, scheme, info); err != nil {
		return nil, err
	}
	if err := s.userinfoDPoP(r, scheme, token, info); err != nil {
		return nil, err
	}
	scopes := strings.Fields(info.scope)
	if !slices.Contains(scopes, "openid") {
		return nil, s.tokenChallenge(scheme, oautherr.InsufficientScope, "the access token lacks the openid scope", http.StatusForbidden)
	}
	client, err := s.lookups.GetClient(ctx, info.clientID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.tokenChallenge(scheme, oautherr.InvalidToken, "the client of the access token no longer exists", http.StatusUnauthorized)
	} else if err != nil {
		return nil, err
	}
	local, ok := s.localSubject(client, info.subject)
	if !ok {
		return nil, s.tokenChallenge(scheme, oautherr.InvalidToken, "the access token's subject is unknown", http.StatusUnauthorized)
	}
	acc, err := s.accounts.Account(ctx, local)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, account.ErrDisabled) {
		return nil, s.tokenChallenge(scheme, oautherr.InvalidToken, "the account no longer exists or is disabled", http.StatusUnauthorized)
	} else if err != nil {
		return nil, err
	}
	claims := account.ClaimsFor(acc, scopes)
	requested, err := s.userinfoClaimsRequest(ctx, info)
	if err != nil {
		return nil, err
	}
	// client.Scopes as they are now: a client narrowed since the authorization loses them.
	maps.Copy(claims, account.NamedClaims(acc, names(requested), client.Scopes))
	claims["sub"] = info.subject
	return claims, nil
}

// userinfoClaimsRequest returns the userinfo member of the claims parameter of the token's
// grant (OIDC Core §5.5), found by grant ID (opaque tokens) or by jti (JWTs).
func (s *Server) userinfoClaimsRequest(ctx context.Context, info *tokenInfo) (map[string]*claimSpec, error) {
	grantID := info.grantID
	if grantID == "" && info.jwt {
		id, err := s.st.GrantIDOfJTI(ctx, info.jti)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		grantID = id
	}
	if grantID == "" {
		return nil, nil
	}
	g, err := s.st.GetGrant(ctx, grantID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if cr := decodeClaimsRequest(g.Claims); cr != nil {
		return cr.UserInfo, nil
	}
	return nil, nil
}

// userinfoCredentials extracts the access token and the scheme it came with.
func (s *Server) userinfoCredentials(w http.ResponseWriter, r *http.Request) (scheme, token string, err error) {
	headers := r.Header.Values("Authorization")
	if len(headers) > 1 {
		return "", "", s.tokenChallenge("", oautherr.InvalidRequest, "send one Authorization header", http.StatusBadRequest)
	}
	if len(headers) == 1 {
		scheme, token, _ = strings.Cut(headers[0], " ")
		token = strings.TrimSpace(token)
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			scheme = "Bearer"
		case strings.EqualFold(scheme, "DPoP"):
			scheme = "DPoP"
		default:
			return "", "", s.tokenChallenge("", oautherr.InvalidRequest, "use the Bearer or DPoP authorization scheme", http.StatusUnauthorized)
		}
		if token == "" {
			return "", "", s.tokenChallenge(scheme, oautherr.InvalidRequest, "the access token is missing", http.StatusUnauthorized)
		}
	}
	if r.Method == http.MethodPost {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
			if err := parseFormBody(w, r); err != nil {
				return "", "", err
			}
			if body := r.PostForm["access_token"]; len(body) > 0 {
				if token != "" {
					// RFC 6750 §2: exactly one method per request.
					return "", "", s.tokenChallenge("", oautherr.InvalidRequest, "send the access token one way only", http.StatusBadRequest)
				}
				scheme, token = "Bearer", body[0]
			}
		}
	}
	if token == "" {
		// RFC 6750 §3.1: no error code when the request carried no credentials at all.
		return "", "", s.tokenChallenge("", "", "", http.StatusUnauthorized)
	}
	return scheme, token, nil
}

// userinfoDPoP enforces the token's DPoP binding (RFC 9449 §7): a bound token needs the DPoP
// scheme and a proof by its key over this request; an unbound one must not use the scheme.
func (s *Server) userinfoDPoP(r *http.Request, scheme, token string, info *tokenInfo) error {
	if info.jkt == "" {
		if scheme == "DPoP" {
			return s.tokenChallenge("DPoP", oautherr.InvalidToken, "the access token is not DPoP-bound", http.StatusUnauthorized)
		}
		return nil
	}
	if scheme != "DPoP" {
		return s.tokenChallenge("DPoP", oautherr.InvalidToken, "the access token is DPoP-bound: use the DPoP scheme with a proof", http.StatusUnauthorized)
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return s.tokenChallenge("DPoP", oautherr.InvalidDPoPProof, "send exactly one DPoP proof", http.StatusUnauthorized)
	}
	proof, err := s.dpop.Verify(r.Context(), proofs[0], dpop.Request{Method: r.Method, URL: s.requestEndpoint(r, pathUserinfo), AccessToken: token})
	if err != nil {
		var de *dpop.Error
		if errors.As(err, &de) {
			e := s.tokenChallenge("DPoP", de.Code, de.Description, http.StatusUnauthorized)
			if de.Code == oautherr.UseDPoPNonce && s.dpop.Nonces != nil {
				e.DPoPNonce = s.dpop.Nonces.Current()
			}
			return e
		}
		return err
	}
	if proof.JKT != info.jkt {
		return s.tokenChallenge("DPoP", oautherr.InvalidDPoPProof, "the DPoP proof is not signed by the key the token is bound to", http.StatusUnauthorized)
	}
	return nil
}

// tokenChallenge is a resource-server error with its WWW-Authenticate challenge. An empty
// scheme challenges with Bearer and, since DPoP is supported, DPoP too.
func (s *Server) tokenChallenge(scheme, code, description string, status int) *oautherr.Error {
	e := &oautherr.Error{Code: code, Description: description, Status: status}
	params := `realm="userinfo"`
	if p := e.ChallengeParams(); p != "" {
		params += ", " + p
	}
	dpopChallenge := `DPoP algs="` + strings.Join(s.dpopAlgs(), " ") + `", ` + params
	var header string
	switch scheme {
	case "DPoP":
		header = dpopChallenge
	case "Bearer":
		header = "Bearer " + params
	default:
		header = "Bearer " + params + ", " + dpopChallenge
	}
	e.WWWAuthenticate = header
	return e
}
