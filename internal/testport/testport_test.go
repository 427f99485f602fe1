package testport

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeIsBelowTheEphemeralRange(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		port := Free(t)
		n, err := strconv.Atoi(port)
		if err != nil {
			t.Fatal(err)
		}
		if n < low || n >= EphemeralLow() {
			t.Fatalf("port %d is not in [%d, %d): outgoing connections may take it", n, low, EphemeralLow())
		}
		if seen[port] {
			t.Fatalf("port %s handed out twice", port)
		}
		seen[port] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatalf("port %s is not free: %v", port, err)
		}
		l.Close()
	}
}
