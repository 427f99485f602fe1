// Command dpopproofs prepares the DPoP scenario of bench/gateway.sh. A load generator such as
// wrk cannot sign, so this tool does the signing ahead of the run: it makes a fresh ES256 key,
// obtains a DPoP-bound access token for it at the token endpoint (client_credentials with a
// proof for POST -token-url), checks that the token's cnf.jkt is the key's thumbprint, then
// writes N single-use proofs for GET -url, one per line, each with a unique jti, iat = now and
// ath = the token's hash, for a wrk script to send one per request.
//
//	DPOPPROOFS_CLIENT_SECRET=... dpopproofs -token-url http://127.0.0.1:8080/token \
//	    -client bench-client -resource https://api.test -scope read \
//	    -url http://127.0.0.1:8080/dpop/x -n 100000 -proofs proofs.txt -token token.txt
//
// The client secret comes from the environment and the token goes to a file, so neither shows
// on a command line. Like tokenbench it only talks to loopback addresses.
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

const (
	maxProofs   = 10_000_000 // bounds a mistyped -n (about 4.5 GB of proofs)
	maxBodyRead = 1 << 20
	secretEnv   = "DPOPPROOFS_CLIENT_SECRET"
)

type options struct {
	tokenURL   *url.URL
	targetURL  *url.URL
	clientID   string
	secret     string
	resource   string
	scope      string
	n          int
	workers    int
	proofsPath string
	tokenPath  string
	// tokenProofs more proofs for POST -token-url (no ath) go to tokenProofsPath: the token
	// endpoint's DPoP cost in bench/pinned.sh.
	tokenProofs     int
	tokenProofsPath string
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dpopproofs:", err)
		os.Exit(2)
	}
	if err := run(opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dpopproofs:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("dpopproofs", flag.ContinueOnError)
	o := &options{secret: os.Getenv(secretEnv)}
	var tokenURL, target string
	fs.StringVar(&tokenURL, "token-url", "", "token endpoint (loopback)")
	fs.StringVar(&target, "url", "", "protected URL the proofs are for: htu (loopback)")
	fs.StringVar(&o.clientID, "client", "", "client_id; the secret is read from $"+secretEnv)
	fs.StringVar(&o.resource, "resource", "", "RFC 8707 resource the token is for")
	fs.StringVar(&o.scope, "scope", "", "requested scope")
	fs.IntVar(&o.n, "n", 0, "number of proofs to write")
	fs.IntVar(&o.workers, "workers", runtime.NumCPU(), "signing goroutines")
	fs.StringVar(&o.proofsPath, "proofs", "", "output file: one proof per line")
	fs.StringVar(&o.tokenPath, "token", "", "output file: the access token")
	fs.IntVar(&o.tokenProofs, "token-endpoint-proofs", 0, "also write this many proofs for POST -token-url (no ath)")
	fs.StringVar(&o.tokenProofsPath, "token-endpoint-proofs-file", "", "output file of -token-endpoint-proofs")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if o.tokenURL, err = loopbackURL("-token-url", tokenURL); err != nil {
		return nil, err
	}
	if o.targetURL, err = loopbackURL("-url", target); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() != 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.clientID == "" || o.secret == "":
		return nil, errors.New("-client and $" + secretEnv + " are required")
	case o.resource == "":
		return nil, errors.New("-resource is required")
	case o.n < 1 || o.n > maxProofs:
		return nil, fmt.Errorf("-n must be within 1..%d", maxProofs)
	case o.workers < 1 || o.workers > 64:
		return nil, errors.New("-workers must be within 1..64")
	case o.proofsPath == "" || o.tokenPath == "":
		return nil, errors.New("-proofs and -token are required")
	case o.tokenProofs < 0 || o.tokenProofs > maxProofs || (o.tokenProofs > 0) != (o.tokenProofsPath != ""):
		return nil, fmt.Errorf("-token-endpoint-proofs (within 0..%d) and -token-endpoint-proofs-file go together", maxProofs)
	}
	return o, nil
}

// loopbackURL accepts only http(s) URLs on a loopback address, so a typo cannot aim the tool
// at a real host. The query and fragment are dropped: htu excludes them (RFC 9449 §4.2).
func loopbackURL(flagName, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: want an http(s) URL, got %q", flagName, raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s: %q is not a loopback address", flagName, host)
	}
	u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
	return u, nil
}

func run(o *options, out io.Writer) error {
	start := time.Now()
	p, err := newProver()
	if err != nil {
		return err
	}
	token, err := p.requestToken(o)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.tokenPath, []byte(token), 0o600); err != nil {
		return err
	}
	proofs, err := p.proofs(o.n, o.workers, http.MethodGet, o.targetURL.String(), token)
	if err != nil {
		return err
	}
	if err := writeLines(o.proofsPath, proofs); err != nil {
		return err
	}
	if o.tokenProofs > 0 {
		tp, err := p.proofs(o.tokenProofs, o.workers, http.MethodPost, o.tokenURL.String(), "")
		if err != nil {
			return err
		}
		if err := writeLines(o.tokenProofsPath, tp); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "dpopproofs: token bound to jkt %s; %d proofs for GET %s (unique jti) in %s\n",
		p.jkt, len(proofs), o.targetURL, time.Since(start).Round(time.Millisecond))
	return nil
}

// prover signs ES256 DPoP proofs with one key.
type prover struct {
	key    *ecdsa.PrivateKey
	header string // base64url of the protected header, the same for every proof
	jkt    string // RFC 7638 thumbprint of the public key
}

func newProver() (*prover, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pub, err := key.PublicKey.Bytes() // uncompressed point: 0x04 || X || Y
	if err != nil {
		return nil, err
	}
	x, y := b64(pub[1:33]), b64(pub[33:65])
	// RFC 7638 §3.2: required members only, lexicographic order, no whitespace.
	canonical := `{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`
	sum := sha256.Sum256([]byte(canonical))
	header := `{"typ":"dpop+jwt","alg":"ES256","jwk":` + canonical + `}`
	return &prover{key: key, header: b64([]byte(header)), jkt: b64(sum[:])}, nil
}

type proofClaims struct {
	JTI string `json:"jti"`
	HTM string `json:"htm"`
	HTU string `json:"htu"`
	IAT int64  `json:"iat"`
	ATH string `json:"ath,omitempty"`
}

// proof signs one proof; ath is empty at the token endpoint.
func (p *prover) proof(method, htu, ath string) (proof, jti string, err error) {
	var id [16]byte // 128 random bits, above the 96 RFC 9449 §11.1 asks for
	if _, err := rand.Read(id[:]); err != nil {
		return "", "", err
	}
	jti = b64(id[:])
	payload, err := json.Marshal(proofClaims{JTI: jti, HTM: method, HTU: htu, IAT: time.Now().Unix(), ATH: ath})
	if err != nil {
		return "", "", err
	}
	input := p.header + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, p.key, digest[:])
	if err != nil {
		return "", "", err
	}
	sig := make([]byte, 64) // JWS ES256: R || S, 32 bytes each (RFC 7518 §3.4)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig), jti, nil
}

// proofs signs n proofs in parallel and fails if two share a jti.
func (p *prover) proofs(n, workers int, method, htu, token string) ([]string, error) {
	ath := "" // none at the token endpoint
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		ath = b64(sum[:])
	}
	out := make([]string, n)
	jtis := make([]string, n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if out[i], jtis[i], errs[w] = p.proof(method, htu, ath); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	seen := make(map[string]struct{}, n)
	for _, jti := range jtis {
		if _, dup := seen[jti]; dup {
			return nil, fmt.Errorf("jti %s generated twice", jti)
		}
		seen[jti] = struct{}{}
	}
	return out, nil
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	Error       string `json:"error"`
}

// requestToken obtains a DPoP-bound token with client_credentials and checks the binding.
func (p *prover) requestToken(o *options) (string, error) {
	proof, _, err := p.proof(http.MethodPost, o.tokenURL.String(), "")
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {o.resource}}
	if o.scope != "" {
		form.Set("scope", o.scope)
	}
	req, err := http.NewRequest(http.MethodPost, o.tokenURL.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	// RFC 6749 §2.3.1: the credentials are form-encoded before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(o.clientID), url.QueryEscape(o.secret))
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBodyRead)).Decode(&tr); err != nil {
		return "", fmt.Errorf("token endpoint: status %d, unreadable body: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: status %d, error %q", resp.StatusCode, tr.Error)
	}
	if !strings.EqualFold(tr.TokenType, "DPoP") {
		return "", fmt.Errorf("token endpoint: token_type %q, want DPoP", tr.TokenType)
	}
	if jkt, ok := jwtJKT(tr.AccessToken); ok && jkt != p.jkt {
		return "", fmt.Errorf("token cnf.jkt %q is not the proof key's thumbprint %q", jkt, p.jkt)
	}
	return tr.AccessToken, nil
}

// jwtJKT reads cnf.jkt from a JWT's payload without verifying it (the gateway does that);
// ok is false for an opaque token.
func jwtJKT(token string) (string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return "", false
	}
	return c.Cnf.JKT, true
}

func writeLines(path string, lines []string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, l := range lines {
		w.WriteString(l)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
