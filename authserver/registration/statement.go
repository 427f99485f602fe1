package registration

import (
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// RFC 7591 §3.2.2 error codes of software statements.
const (
	codeInvalidStatement    = "invalid_software_statement"
	codeUnapprovedStatement = "unapproved_software_statement"
)

// statementLeeway tolerates clock skew between the publisher and this server.
const statementLeeway = time.Minute

// maxStatementBytes bounds a software statement before it is parsed.
const maxStatementBytes = 16 << 10

// statements verifies software statements (RFC 7591 §2.3) against the trusted keys.
type statements struct {
	keys *jose.JSONWebKeySet // nil: no statement is trusted
	now  func() time.Time
}

// verify returns the claims of a statement signed by a trusted key. A statement that is not
// a well-formed, current, signed JWT is invalid_software_statement; one that no trusted key
// signed is unapproved_software_statement (it may be valid, just not for this server).
func (s statements) verify(statement string) (json.RawMessage, error) {
	if len(statement) > maxStatementBytes {
		return nil, newError(codeInvalidStatement, "software_statement: is too large")
	}
	tok, err := jwt.ParseSigned(statement, jwa.Jose(jwa.Asymmetric()))
	if err != nil {
		return nil, newError(codeInvalidStatement, "software_statement: is not a JWT signed with an asymmetric algorithm")
	}
	if s.keys == nil {
		return nil, newError(codeUnapprovedStatement, "software_statement: this server trusts no software statement publisher")
	}
	var (
		std    jwt.Claims
		claims map[string]json.RawMessage
	)
	verified := false
	for _, key := range s.candidates(tok.Headers[0].KeyID) {
		if tok.Claims(key.Key, &std, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, newError(codeUnapprovedStatement, "software_statement: is not signed by a trusted publisher")
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Time: s.now()}, statementLeeway); err != nil {
		return nil, newError(codeInvalidStatement, "software_statement: is expired or not yet valid")
	}
	if std.IssuedAt == nil && std.Expiry == nil {
		// Nothing bounds a statement without iat and exp: a leaked one would register forever.
		// Publishers then rotate keys to revoke; iat or exp is cheap to add.
		return nil, newError(codeInvalidStatement, "software_statement: needs iat or exp")
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	return raw, nil
}

// candidates are the trusted keys a statement with key ID kid may be signed with.
func (s statements) candidates(kid string) []jose.JSONWebKey {
	if kid != "" {
		if keys := s.keys.Key(kid); len(keys) > 0 {
			return keys
		}
		return nil
	}
	return s.keys.Keys
}
