package spec

import (
	"crypto/rand"
	"encoding/base64"
)

// NewClientID returns a client ID the server chooses (dynamic registration, the admin API):
// 128 random bits, base64url, since client IDs need to be unique, not secret. One starting
// with "-" would read as an option on command lines (caddy oauth-client show <id>), so such
// draws are made again ("_" too, to start with a letter or digit); this costs under 0.05 bits.
func NewClientID() string {
	var b [16]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand never fails (it panics first)
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' && id[0] != '_' {
			return id
		}
	}
}
