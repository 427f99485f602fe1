package caddymodule

import (
	"strconv"
	"testing"

	"github.com/caddy-oauth/caddy-oauth/internal/testport"
)

// TestFreePortIsOutsideTheEphemeralRange: a port in the ephemeral range can be taken by any
// outgoing connection between freePort's probe and Caddy's bind (CI failed on that once).
func TestFreePortIsOutsideTheEphemeralRange(t *testing.T) {
	for range 50 {
		n, _ := strconv.Atoi(freePort(t))
		if n >= testport.EphemeralLow() {
			t.Fatalf("freePort gave %d, inside the ephemeral range (from %d)", n, testport.EphemeralLow())
		}
	}
}
