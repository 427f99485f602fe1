package spec

import "testing"

// TestClientIDsDoNotStartLikeFlags: a generated client_id never starts with "-" or "_": one
// starting with "-" is read as an option by command lines (caddy oauth-client show <id>, and
// most tools); CI hit it once (1 ID in 64 would).
func TestClientIDsDoNotStartLikeFlags(t *testing.T) {
	for range 10_000 {
		if id := NewClientID(); id[0] == '-' || id[0] == '_' || len(id) != 22 {
			t.Fatalf("client ID %q", id)
		}
	}
}
