// Package testport hands tests loopback ports for servers whose address must be known before
// they start (a Caddyfile names its sites and admin endpoint up front).
//
// A port taken with Listen("127.0.0.1:0") and closed again is in the kernel's ephemeral range,
// which is also where every outgoing connection gets its local port: with the packages'
// tests running side by side, a client's connection took such a port before Caddy bound it
// ("bind: address already in use", seen in CI). Ports below the ephemeral range are never
// handed out by the kernel, so a probed one stays free unless another test binds it on purpose.
package testport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// low and high bound the ports Free picks from when the ephemeral range cannot be read.
const (
	low  = 20000
	high = 32767
)

var handedOut sync.Map

// Free returns a loopback port below the kernel's ephemeral range that nothing listens on and
// that no earlier call in this process returned.
func Free(t testing.TB) string {
	t.Helper()
	top := min(high, EphemeralLow()-1)
	for range 1000 {
		port := strconv.Itoa(low + rand.IntN(top-low+1))
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("testport: no free loopback port below the ephemeral range")
	return ""
}

// EphemeralLow is the first port of the kernel's ephemeral range (Linux), or 32768.
func EphemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return high + 1
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return high + 1
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n <= low {
		return high + 1
	}
	return n
}
