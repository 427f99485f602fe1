package remote

import (
	"context"
	"testing"
)

func BenchmarkJWKSCacheKey(b *testing.B) {
	s := newJWKSServer(b, jwksBody(b, goodKeys...))
	c := newTestCache(b, s, newClock())
	ctx := context.Background()
	if err := c.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Key(ctx, "p256", "ES256"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkIntrospectCached(b *testing.B) {
	const token = "2YotnFZFEjr1zCsicMWpAA-an-opaque-access-token-of-typical-length"
	s := newASServer(b)
	s.answer(token, map[string]any{"active": true, "sub": "alice", "scope": "read"})
	in, err := NewIntrospector(s.Client(), s.URL, testClientID, testClientSecret, IntrospectorOptions{}) // real clock
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	ctx := context.Background()
	if info, err := in.Introspect(ctx, token); info == nil || err != nil {
		b.Fatal(info, err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if info, err := in.Introspect(ctx, token); info == nil || err != nil {
				b.Error(info, err)
				return
			}
		}
	})
	if n := s.requests.Load(); n != 1 {
		b.Errorf("requests = %d, want 1", n)
	}
}
