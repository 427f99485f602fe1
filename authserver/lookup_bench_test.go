package authserver

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/caddy-oauth/caddy-oauth/authserver/clientsecret"
	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

// lookupBenchClients is how many registered clients BenchmarkClientLookupCache reads.
const lookupBenchClients = 100_000

// BenchmarkClientLookupCache measures what registered clients cost in the token endpoint's
// client cache. It registers lookupBenchClients confidential clients in SQLite (through the
// validation contract, as the admin API does), reads every one through the cache twice (the
// second pass lets ristretto's admission see them again), then reports the live heap the
// cache holds: with the cache as configured (bounded, so only part of the clients stay) and
// with one sized for all of them. Run once:
//
//	go test -run '^$' -bench ClientLookupCache -benchtime 1x ./authserver/
func BenchmarkClientLookupCache(b *testing.B) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite", filepath.Join(b.TempDir(), "oauth.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ids := make([]string, lookupBenchClients)
	for i := range ids {
		ids[i] = fmt.Sprintf("client-%06d", i)
		c, err := spec.NormalizeClient(spec.Client{
			ID:         ids[i],
			Secret:     clientsecret.Generate(), // high entropy: hashed with SHA-256, as in production
			GrantTypes: []string{"client_credentials"},
			Scopes:     []string{"read"},
		}, spec.Env{})
		if err != nil {
			b.Fatal(err)
		}
		rec, err := spec.ClientRecord(c, nil)
		if err != nil {
			b.Fatal(err)
		}
		rec.Source = store.SourceAdmin
		if err := st.CreateClient(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("as-configured", func(b *testing.B) {
		measureClientCache(b, st, ids, func(l *lookups) {})
	})
	b.Run("sized-for-all", func(b *testing.B) {
		measureClientCache(b, st, ids, func(l *lookups) {
			// Same settings as newLookups, with room for every client.
			l.clients.Close()
			c, err := ristretto.NewCache(&ristretto.Config[string, *store.Client]{
				NumCounters: 10 * int64(len(ids)), MaxCost: int64(len(ids)), BufferItems: 64, IgnoreInternalCost: true})
			if err != nil {
				b.Fatal(err)
			}
			l.clients = c
		})
	})
}

func measureClientCache(b *testing.B, st store.Store, ids []string, resize func(*lookups)) {
	ctx := context.Background()
	for b.Loop() {
		l, err := newLookups(st)
		if err != nil {
			b.Fatal(err)
		}
		resize(l)
		empty := liveHeap()
		for range 2 {
			for _, id := range ids {
				if _, err := l.GetClient(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			l.clients.Wait()
		}
		full := liveHeap()
		cached := 0
		for _, id := range ids {
			if _, ok := l.clients.Get(id); ok {
				cached++
			}
		}
		delta := float64(full) - float64(empty)
		b.ReportMetric(float64(cached), "cached-clients")
		b.ReportMetric(delta/(1<<20), "heap-MiB")
		if cached > 0 {
			b.ReportMetric(delta/float64(cached), "B/cached-client")
		}
		runtime.KeepAlive(l)
		l.close()
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
