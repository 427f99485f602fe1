package authserver

import (
	"bytes"
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"slices"
	"strings"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/account"
	"github.com/caddy-oauth/caddy-oauth/authserver/oautherr"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// idTokenTTL is the lifetime of ID tokens: they prove a sign-in to the client once; nothing
// should accept them as credentials later.
const idTokenTTL = time.Hour

// idTokenClaims are the claims of an ID token (OIDC Core §2). Scope claims (name, email …)
// are served by userinfo, as OIDC Core §5.4 wants when an access token is issued.
type idTokenClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience string   `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	AuthTime int64    `json:"auth_time"`
	Nonce    string   `json:"nonce,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	AZP      string   `json:"azp"`
	SID      string   `json:"sid,omitempty"`
	ATHash   string   `json:"at_hash,omitempty"`
	// CIBA push mode (CIBA Core §10.3.1): the request the tokens answer, and the refresh
	// token's hash.
	AuthReqID string `json:"urn:openid:params:jwt:claim:auth_req_id,omitempty"`
	RTHash    string `json:"urn:openid:params:jwt:claim:rt_hash,omitempty"`
}

// idTokenExtra are claims only some ID tokens carry.
type idTokenExtra struct {
	AuthReqID    string
	RefreshToken string
}

// idTokenAlg is the client's id_token_signed_response_alg, RS256 by default (OIDC Core §3.1.3.7).
func idTokenAlg(c *store.Client) string {
	return cmp.Or(c.IDTokenSignedResponseAlg, DefaultIDTokenSigningAlg)
}

// issueIDToken signs an ID token for grant's user; nonce is "" on refresh (OIDC Core §12.2).
// Claims the claims parameter asked for in the ID token (§5.5) are added to it, read from acc
// or, when nil, from the account source.
func (s *Server) issueIDToken(ctx context.Context, client *store.Client, g *store.Grant, acc *store.Account, nonce, accessToken string) (string, error) {
	return s.issueIDTokenWith(ctx, client, g, acc, nonce, accessToken, idTokenExtra{})
}

// issueIDTokenWith is issueIDToken with extra's claims.
func (s *Server) issueIDTokenWith(ctx context.Context, client *store.Client, g *store.Grant, acc *store.Account, nonce, accessToken string, extra idTokenExtra) (string, error) {
	now := s.now()
	alg := idTokenAlg(client)
	claims := idTokenClaims{
		Issuer:   s.cfg.Issuer,
		Subject:  s.subjectFor(client, g.Subject),
		Audience: client.ID,
		Expiry:   now.Add(idTokenTTL).Unix(),
		IssuedAt: now.Unix(),
		AuthTime: g.AuthTime.Unix(),
		Nonce:    nonce,
		ACR:      g.ACR,
		AMR:      g.AMR,
		AZP:      client.ID,
		SID:      g.SessionID,
	}
	if accessToken != "" {
		claims.ATHash = leftHalfHash(alg, accessToken)
	}
	claims.AuthReqID = extra.AuthReqID
	if extra.RefreshToken != "" {
		claims.RTHash = leftHalfHash(alg, extra.RefreshToken)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	cr := decodeClaimsRequest(g.Claims)
	released := map[string]any{}
	if cr != nil && len(cr.IDToken) > 0 {
		if acc == nil {
			if acc, err = s.accounts.Account(ctx, g.Subject); errors.Is(err, store.ErrNotFound) || errors.Is(err, account.ErrDisabled) {
				return "", oautherr.New(oautherr.InvalidGrant, "the account is no longer available")
			} else if err != nil {
				return "", err
			}
		}
		// client.Scopes as they are now: a client narrowed since the authorization loses them.
		// NamedClaims releases only standard claims, never one idTokenClaims sets.
		released = account.NamedClaims(acc, names(cr.IDToken), client.Scopes)
	}
	if cr != nil {
		// A delegated login app's claims (validated: never a reserved one); the claims the
		// request asked for win a clash.
		for name, v := range cr.Extra {
			if _, ok := released[name]; !ok {
				released[name] = v
			}
		}
	}
	if len(released) > 0 {
		obj, err := json.Marshal(released)
		if err != nil {
			return "", err
		}
		payload = appendExtraClaims(payload, obj[1:len(obj)-1])
	}
	return s.keys.Sign(alg, "", "JWT", payload)
}

// leftHalfHash is at_hash/c_hash (OIDC Core §3.1.3.6): the left half of the hash of the value
// with the hash function of the ID token's alg, base64url.
func leftHalfHash(alg, value string) string {
	var h hash.Hash
	switch {
	case strings.HasSuffix(alg, "384"):
		h = sha512.New384()
	case strings.HasSuffix(alg, "512"), alg == "EdDSA":
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write([]byte(value))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// idTokenHintSubject verifies an id_token_hint: an ID token this server signed for clientID.
// Expired hints are fine (OIDC Core §3.1.2.1: the hint may have expired); the sub is returned
// as the client sees it.
func (s *Server) idTokenHintSubject(hint, clientID string) (string, error) {
	claims, err := s.verifyIDToken(hint)
	if err != nil {
		return "", err
	}
	if clientID != "" && !claims.hasAudience(clientID) {
		return "", errors.New("id_token_hint was issued to another client")
	}
	return claims.Subject, nil
}

// hintClaims are the claims of a verified ID token we issued.
type hintClaims struct {
	Subject  string          `json:"sub"`
	Issuer   string          `json:"iss"`
	Audience json.RawMessage `json:"aud"`
	SID      string          `json:"sid"`
	Expiry   int64           `json:"exp"`
}

func (h *hintClaims) audiences() []string {
	var one string
	if json.Unmarshal(h.Audience, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(h.Audience, &many)
	return many
}

func (h *hintClaims) hasAudience(aud string) bool { return slices.Contains(h.audiences(), aud) }

// verifyIDToken checks signature and issuer of an ID token of this server (not its expiry).
func (s *Server) verifyIDToken(token string) (*hintClaims, error) {
	if len(token) > maxTokenLen {
		return nil, errors.New("id token too long")
	}
	payload, hdr, err := s.keys.Verify(token, s.cfg.SigningAlgs)
	if err != nil {
		return nil, err
	}
	if typ, _ := hdr.ExtraHeaders["typ"].(string); strings.Contains(strings.ToLower(typ), "at+jwt") {
		return nil, errors.New("an access token is not an ID token")
	}
	var c hintClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&c); err != nil || c.Issuer != s.cfg.Issuer || c.Subject == "" {
		return nil, errors.New("not an ID token of this issuer")
	}
	return &c, nil
}

// Pairwise subjects (OIDC Core §8.1). The pairwise sub is a deterministic authenticated
// encryption of the local subject under the client's sector: an HMAC of (sector, subject) is
// both the synthetic IV and the tag, the subject is encrypted with AES-CTR under it (SIV
// construction). Different sectors see unrelated values, only this server can map one back
// (userinfo needs to), and no table has to be stored.

func (s *Server) subjectFor(c *store.Client, local string) string {
	if c.SubjectType != "pairwise" {
		return local
	}
	iv := s.pairwiseIV(c.SectorIdentifier, local)
	out := make([]byte, len(iv)+len(local))
	copy(out, iv)
	cipher.NewCTR(s.pairwiseBlock, iv).XORKeyStream(out[len(iv):], []byte(local))
	return base64.RawURLEncoding.EncodeToString(out)
}

// localSubject maps a subject as client c sees it back to the account's subject.
func (s *Server) localSubject(c *store.Client, sub string) (string, bool) {
	if c.SubjectType != "pairwise" {
		return sub, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(sub)
	if err != nil || len(raw) <= aes.BlockSize {
		return "", false
	}
	iv, ct := raw[:aes.BlockSize], raw[aes.BlockSize:]
	local := make([]byte, len(ct))
	cipher.NewCTR(s.pairwiseBlock, iv).XORKeyStream(local, ct)
	if !hmac.Equal(iv, s.pairwiseIV(c.SectorIdentifier, string(local))) {
		return "", false
	}
	return string(local), true
}

func (s *Server) pairwiseIV(sector, local string) []byte {
	mac := hmac.New(sha256.New, s.pairwiseMACKey)
	mac.Write([]byte(sector))
	mac.Write([]byte{0})
	mac.Write([]byte(local))
	return mac.Sum(nil)[:aes.BlockSize]
}
