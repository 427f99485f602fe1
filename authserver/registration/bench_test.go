package registration_test

import (
	"net/http"
	"testing"
)

// BenchmarkRegister measures registrations per second through the real handler and a SQLite
// store: validation, client row, link and registration token writes. The public client
// needs no secret hashing, so this is the endpoint's own cost.
//
//	go test -run '^$' -bench Register -benchtime 3s ./authserver/registration/
func BenchmarkRegister(b *testing.B) {
	for _, bc := range []struct {
		name     string
		metadata map[string]any
	}{
		{"public", publicClient()},
		{"confidential", confidentialClient()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, nil)
			b.ResetTimer()
			for b.Loop() {
				if r := f.register(staticToken, bc.metadata); r.status != http.StatusCreated {
					b.Fatalf("%d %s", r.status, r.raw)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
		})
	}
}
