package sqlstore

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/store"
)

// benchBackends runs fn against SQLite and, when configured, PostgreSQL.
func benchBackends(b *testing.B, fn func(b *testing.B, s *Store)) {
	b.Run("sqlite", func(b *testing.B) {
		be := sqliteBackend()
		s := be.open(b, be.newDSN(b))
		defer s.Close()
		fn(b, s)
	})
	b.Run("postgres", func(b *testing.B) {
		be := postgresBackend(b)
		s := be.open(b, be.newDSN(b))
		defer s.Close()
		fn(b, s)
	})
}

func benchToken(hash string, now time.Time) *store.AccessToken {
	return &store.AccessToken{
		Hash:       hash,
		ClientID:   "client-1",
		Subject:    "user-1",
		ResourceID: "7f0c2a4e-3b5d-4c1e-9a8f-0123456789ab",
		Audience:   []string{"https://api.example"},
		Scope:      "read write",
		Extra:      map[string]any{"tenant": "acme"},
		IssuedAt:   now,
		ExpiresAt:  now.Add(time.Hour),
	}
}

// BenchmarkCreateAccessToken inserts distinct tokens from many goroutines at once, like
// the token endpoint under load.
func BenchmarkCreateAccessToken(b *testing.B) {
	benchBackends(b, func(b *testing.B, s *Store) {
		var seq atomic.Int64
		now := time.Now()
		b.SetParallelism(8) // 8 callers per CPU
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				hash := fmt.Sprintf("bench-%032d", seq.Add(1))
				if err := s.CreateAccessToken(b.Context(), benchToken(hash, now)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
	})
}

// BenchmarkGetAccessToken looks up random existing tokens from many goroutines at once.
func BenchmarkGetAccessToken(b *testing.B) {
	benchBackends(b, func(b *testing.B, s *Store) {
		const n = 10000
		now := time.Now()
		for i := range n {
			if err := s.CreateAccessToken(b.Context(), benchToken(fmt.Sprintf("get-%d", i), now)); err != nil {
				b.Fatal(err)
			}
		}
		var seq atomic.Int64
		b.SetParallelism(8)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := seq.Add(7919) % n // a prime stride visits every token
				if _, err := s.GetAccessToken(b.Context(), fmt.Sprintf("get-%d", i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	})
}

// BenchmarkGetClient looks up clients by ID with 10 and with 100,000 stored (SQLite): the
// lookup is a primary-key search, so ns/op should barely move with the number of clients
// (a B-tree adds a level or two, not a factor of 10,000).
func BenchmarkGetClient(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			be := sqliteBackend()
			s := be.open(b, be.newDSN(b))
			defer s.Close()
			seedClients(b, s, n)
			ids := make([]string, n)
			for i := range ids {
				ids[i] = fmt.Sprintf("client-%d", i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i = (i + 7919) % n // a prime stride visits every client
				if _, err := s.GetClient(b.Context(), ids[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
