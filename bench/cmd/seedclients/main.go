// Command seedclients registers many confidential clients in an authorization server's
// SQLite database, for benchmarks that need a large client table (bench/clients.sh). Each
// client goes through the same validation contract and record as the admin API
// (spec.NormalizeClient, spec.ClientRecord), is linked to one resource, and gets a
// high-entropy secret derived from a seed, so the load generator can authenticate as any
// of them.
//
//	seedclients -db oauth.db -n 100000 -prefix c -resource https://api.test -out clients.txt
//
// -out receives one HTTP Basic "Authorization" header value per client (the credentials
// stay in a file, off the command line). The resource must already exist (the server's
// configuration declares it); run this after the server has started on the database.
package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/caddy-oauth/caddy-oauth/authserver/spec"
	"github.com/caddy-oauth/caddy-oauth/authserver/store"
	"github.com/caddy-oauth/caddy-oauth/authserver/store/sqlstore"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seedclients:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		db       = flag.String("db", "", "SQLite database of the server")
		n        = flag.Int("n", 10, "how many clients")
		prefix   = flag.String("prefix", "bench-", "client IDs are prefix + number")
		resource = flag.String("resource", "", "identifier of the resource to link every client to")
		scope    = flag.String("scope", "read", "the scope the clients may request")
		out      = flag.String("out", "", "file for the Authorization header values, one per client")
	)
	flag.Parse()
	seed := os.Getenv("BENCH_SEED")
	switch {
	case *db == "" || *resource == "" || *out == "":
		return errors.New("-db, -resource and -out are required")
	case *n < 1 || *n > 1_000_000:
		return errors.New("-n must be within 1..1000000")
	case len(seed) < 16:
		return errors.New("BENCH_SEED (the secret the client secrets derive from) must be set, 16 bytes or more")
	}
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite", *db)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := st.GetResourceByIdentifier(ctx, *resource)
	if err != nil {
		return fmt.Errorf("resource %s: %v", *resource, err)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	start := time.Now()
	for i := range *n {
		id := fmt.Sprintf("%s%d", *prefix, i)
		secret := deriveSecret(seed, id)
		if err := register(ctx, st, id, secret, res, *scope); err != nil {
			f.Close()
			return err
		}
		// RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
		basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
		fmt.Fprintf(w, "Basic %s\n", basic)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("seeded %d clients in %s\n", *n, time.Since(start).Round(time.Millisecond))
	return nil
}

// deriveSecret is the client's secret: 256 bits, so the server checks it with SHA-256.
func deriveSecret(seed, id string) string {
	m := hmac.New(sha256.New, []byte(seed))
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func register(ctx context.Context, st *sqlstore.Store, id, secret string, res *store.Resource, scope string) error {
	c, err := spec.NormalizeClient(spec.Client{
		ID:                      id,
		Secret:                  secret,
		TokenEndpointAuthMethod: spec.AuthSecretBasic,
		GrantTypes:              []string{"client_credentials"},
		Scopes:                  []string{scope},
		Resources:               []string{res.Identifier},
	}, spec.Env{})
	if err != nil {
		return err
	}
	rec, err := spec.ClientRecord(c, nil)
	if err != nil {
		return err
	}
	rec.Source = store.SourceAdmin
	if err := st.CreateClient(ctx, rec); err != nil {
		return fmt.Errorf("client %s: %v", id, err)
	}
	return st.LinkClientResource(ctx, &store.ClientResource{ClientID: id, ResourceID: res.ID, Tokens: true})
}
