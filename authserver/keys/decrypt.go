package keys

import (
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-oauth/caddy-oauth/jwa"
)

// ErrUndecryptable is returned by Decrypt for anything that is not a JWE this server can open.
var ErrUndecryptable = errors.New("keys: cannot decrypt")

// EncAlgs returns the JWE key-management algs the server holds a current key for.
func (m *Manager) EncAlgs() []string {
	var out []string
	for _, e := range m.snap.Load().decrypting {
		out = append(out, e.alg)
	}
	return out
}

// Decrypt opens a compact JWE encrypted to one of the server's published encryption keys
// (current or retired, not yet purged) with a key-management alg in algs and a content
// encryption in encs (both narrowed to jwa's lists). The key is the one the header's kid
// names, and must be of the header's alg; without a kid the current keys are tried.
func (m *Manager) Decrypt(compact string, algs, encs []string) ([]byte, error) {
	if len(compact) > MaxTokenLen {
		return nil, fmt.Errorf("%w: too long", ErrUndecryptable)
	}
	keyAlgs := make([]jose.KeyAlgorithm, 0, len(algs))
	for _, a := range algs {
		if SupportedEncryption(a) {
			keyAlgs = append(keyAlgs, jose.KeyAlgorithm(a))
		}
	}
	contentEncs := make([]jose.ContentEncryption, 0, len(encs))
	for _, e := range encs {
		if jwa.IsContentEncryption(e) {
			contentEncs = append(contentEncs, jose.ContentEncryption(e))
		}
	}
	jwe, err := jose.ParseEncryptedCompact(compact, keyAlgs, contentEncs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUndecryptable, err)
	}
	s := m.snap.Load()
	candidates := s.decrypting
	if kid := jwe.Header.KeyID; kid != "" {
		candidates = nil
		if e := s.keys[kid]; e != nil {
			candidates = []*entry{e}
		}
	}
	for _, e := range candidates {
		if !algSpecs[e.alg].enc || e.alg != jwe.Header.Algorithm {
			continue
		}
		if plain, err := jwe.Decrypt(e.priv); err == nil {
			return plain, nil
		}
	}
	return nil, fmt.Errorf("%w: no key of this server opens it", ErrUndecryptable)
}
