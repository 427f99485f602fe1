// Command faultload drives an authorization server and its gateway while bench/faults.sh
// breaks the database under them, and reports what clients saw. Workers loop: obtain an
// opaque access token (client_credentials), then call the gateway with the last token they
// got. Each second it prints how the answers split: 200, 503 (temporarily unavailable: the
// right answer while the database is gone), and anything else (a 500, a hang, a pass without a
// token: failures). When the run ends it introspects every token it was given: one that is
// not active any more was lost after its response was sent.
//
//	FAULTLOAD_CLIENT_SECRET=... FAULTLOAD_GATEWAY_SECRET=... faultload -issuer http://127.0.0.1:8080 \
//	    -client bench-client -gateway-client bench-gateway -resource https://opaque.test \
//	    -api http://127.0.0.1:8080/opaque/x -d 60s -c 8
//
// More targets, each counted on its own: -jwt-api (a JWT for -jwt-resource, obtained each loop
// like the opaque one), -dpop-api (a DPoP-bound token for -dpop-resource, called with a fresh
// proof each time; every fifth call also replays the previous proof, which must never pass),
// and -forged (each loop also presents a made-up token to every API, which must never pass).
//
// The last line is machine-readable: RESULT tokens=N lost=L token_500=… gateway_500=… other=…
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

type counts struct {
	ok, unavailable, serverError, other atomic.Int64
	// proofRefused: 401 invalid_dpop_proof for a fresh proof (statusProofRefused). Failing
	// closed that way is right for a proof the replay guard cannot vouch for (one made before
	// the guard's Redis came back empty); counted apart so the summary shows it.
	proofRefused atomic.Int64
	// totals of the whole run, added up by take
	totalOK, totalUnavailable, totalServerError, totalOther, totalProofRefused int64
}

// statusProofRefused stands for a 401 whose challenge is invalid_dpop_proof.
const statusProofRefused = -401

func (c *counts) add(status int) {
	switch {
	case status == statusProofRefused:
		c.proofRefused.Add(1)
	case status == http.StatusOK:
		c.ok.Add(1)
	case status == http.StatusServiceUnavailable:
		c.unavailable.Add(1)
	case status >= 500:
		c.serverError.Add(1)
	default:
		c.other.Add(1)
	}
}

func (c *counts) take() string {
	ok, un, se, ot := c.ok.Swap(0), c.unavailable.Swap(0), c.serverError.Swap(0), c.other.Swap(0)
	c.totalOK, c.totalUnavailable, c.totalServerError, c.totalOther = c.totalOK+ok, c.totalUnavailable+un, c.totalServerError+se, c.totalOther+ot
	line := fmt.Sprintf("200=%d 503=%d 5xx=%d other=%d", ok, un, se, ot)
	if pr := c.proofRefused.Swap(0); pr > 0 || c.totalProofRefused > 0 {
		c.totalProofRefused += pr
		line += fmt.Sprintf(" proof_refused=%d", pr)
	}
	return line
}

func main() {
	issuer := flag.String("issuer", "", "issuer URL (loopback)")
	client := flag.String("client", "", "client_credentials client; secret in $FAULTLOAD_CLIENT_SECRET")
	gwClient := flag.String("gateway-client", "", "a client that introspects the resource; secret in $FAULTLOAD_GATEWAY_SECRET")
	resource := flag.String("resource", "", "the opaque-token resource")
	api := flag.String("api", "", "gateway URL protected by the resource")
	jwtResource := flag.String("jwt-resource", "", "a JWT resource (with -jwt-api)")
	jwtAPI := flag.String("jwt-api", "", "gateway URL protected by -jwt-resource")
	dpopResource := flag.String("dpop-resource", "", "a DPoP-bound resource (with -dpop-api)")
	dpopAPI := flag.String("dpop-api", "", "gateway URL protected by -dpop-resource")
	forged := flag.Bool("forged", false, "also present made-up tokens, which must never pass")
	dur := flag.Duration("d", time.Minute, "run time")
	workers := flag.Int("c", 8, "workers")
	flag.Parse()
	secret, gwSecret := os.Getenv("FAULTLOAD_CLIENT_SECRET"), os.Getenv("FAULTLOAD_GATEWAY_SECRET")
	for _, u := range []string{*issuer, *api, *jwtAPI, *dpopAPI} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Hostname() != "127.0.0.1" && p.Hostname() != "localhost") {
			fmt.Fprintln(os.Stderr, "faultload: loopback URLs only:", u)
			os.Exit(2)
		}
	}
	if *client == "" || secret == "" || *gwClient == "" || gwSecret == "" || *resource == "" || *dur > 30*time.Minute || *workers < 1 || *workers > 64 {
		fmt.Fprintln(os.Stderr, "faultload: -issuer, -client, -gateway-client, -resource, -api and both secrets are required; -d ≤ 30m, 1 ≤ -c ≤ 64")
		os.Exit(2)
	}
	httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: *workers * 2,
	}}
	var tokenCounts, gatewayCounts, jwtCounts, dpopCounts counts
	var replayPassed, forgedPassed atomic.Int64
	var mu sync.Mutex
	var issued []string
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			last, lastJWT := "", ""
			var dp *dpopCaller
			if *dpopAPI != "" {
				dp = newDPoPCaller(httpClient, *issuer+"/token", *client, secret, *dpopResource, *dpopAPI)
			}
			for n := 0; ctx.Err() == nil; n++ {
				status, token := requestToken(httpClient, *issuer+"/token", *client, secret, *resource, nil)
				tokenCounts.add(status)
				if status == http.StatusOK {
					last = token
					mu.Lock()
					issued = append(issued, token)
					mu.Unlock()
				}
				if last != "" {
					gatewayCounts.add(callWith(httpClient, *api, "Bearer "+last, ""))
				}
				if *jwtAPI != "" {
					status, token := requestToken(httpClient, *issuer+"/token", *client, secret, *jwtResource, nil)
					tokenCounts.add(status)
					if status == http.StatusOK {
						lastJWT = token
					}
					if lastJWT != "" {
						jwtCounts.add(callWith(httpClient, *jwtAPI, "Bearer "+lastJWT, ""))
					}
				}
				if dp != nil {
					status, replayed := dp.call(n%5 == 4)
					if status != 0 || !replayed {
						dpopCounts.add(status)
					}
					if replayed {
						replayPassed.Add(1)
					}
				}
				if *forged {
					for _, u := range []string{*api, *jwtAPI, *dpopAPI} {
						if u != "" && callWith(httpClient, u, "Bearer "+forgedToken(), "") == http.StatusOK {
							forgedPassed.Add(1)
						}
					}
				}
			}
		})
	}
	tick := time.NewTicker(time.Second)
	start := time.Now()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		line := fmt.Sprintf("t=%3.0fs token %s | gateway %s", time.Since(start).Seconds(), tokenCounts.take(), gatewayCounts.take())
		if *jwtAPI != "" {
			line += " | jwt " + jwtCounts.take()
		}
		if *dpopAPI != "" {
			line += " | dpop " + dpopCounts.take()
		}
		fmt.Println(line)
	}
	wg.Wait()

	lost := 0
	for _, tok := range issued {
		if !active(httpClient, *issuer+"/introspect", *gwClient, gwSecret, tok) {
			lost++
		}
	}
	for _, c := range []*counts{&tokenCounts, &gatewayCounts, &jwtCounts, &dpopCounts} {
		c.take()
	}
	fmt.Printf("RESULT tokens=%d lost=%d %s %s %s %s replay_passed=%d forged_passed=%d\n", len(issued), lost,
		tokenCounts.totals("token"), gatewayCounts.totals("gateway"), jwtCounts.totals("jwt"), dpopCounts.totals("dpop"),
		replayPassed.Load(), forgedPassed.Load())
}

func (c *counts) totals(name string) string {
	return fmt.Sprintf("%[1]s_200=%[2]d %[1]s_503=%[3]d %[1]s_5xx=%[4]d %[1]s_other=%[5]d %[1]s_proof_refused=%[6]d",
		name, c.totalOK, c.totalUnavailable, c.totalServerError, c.totalOther, c.totalProofRefused)
}

// forgedToken is a JWT-shaped token signed by nobody the gateways trust.
func forgedToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256","typ":"at+jwt","kid":"forged"}`)) + "." +
		enc([]byte(`{"sub":"mallory","exp":4102444800}`)) + "." + enc(b)
}

// dpopCaller holds one worker's DPoP key and bound token and calls the DPoP API with a fresh
// proof each time.
type dpopCaller struct {
	c                                       *http.Client
	tokenURL, client, secret, resource, api string
	key                                     *ecdsa.PrivateKey
	signer                                  jose.Signer
	token, lastAccepted                     string
}

func newDPoPCaller(c *http.Client, tokenURL, client, secret, resource, api string) *dpopCaller {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		panic(err)
	}
	return &dpopCaller{c: c, tokenURL: tokenURL, client: client, secret: secret, resource: resource, api: api, key: key, signer: signer}
}

func (d *dpopCaller) proof(method, htu, token string) string {
	b := make([]byte, 16)
	rand.Read(b)
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(b), "htm": method, "htu": htu, "iat": time.Now().Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	p, err := jwt.Signed(d.signer).Claims(claims).Serialize()
	if err != nil {
		panic(err)
	}
	return p
}

// call answers the status of one call with a fresh proof (0 when there is no token yet),
// and with replay also presents the last proof that was accepted again, reporting whether
// that passed. (A proof refused with 503 was never used: it may pass later, once.)
func (d *dpopCaller) call(replay bool) (status int, replayPassed bool) {
	if d.token == "" {
		st, tok := requestToken(d.c, d.tokenURL, d.client, d.secret, d.resource, func(h http.Header) {
			h.Set("DPoP", d.proof(http.MethodPost, d.tokenURL, ""))
		})
		if st != http.StatusOK {
			return 0, false
		}
		d.token = tok
	}
	if replay && d.lastAccepted != "" {
		replayPassed = callWith(d.c, d.api, "DPoP "+d.token, d.lastAccepted) == http.StatusOK
	}
	proof := d.proof(http.MethodGet, d.api, d.token)
	resp, err := do(d.c, d.api, "DPoP "+d.token, proof)
	if err != nil {
		return 0, replayPassed
	}
	status = resp.StatusCode
	if status == http.StatusOK {
		d.lastAccepted = proof
	} else if status == http.StatusUnauthorized && strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_dpop_proof") {
		status = statusProofRefused
	}
	return status, replayPassed
}

func requestToken(c *http.Client, endpoint, id, secret, resource string, edit func(http.Header)) (int, string) {
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if edit != nil {
		edit(req.Header)
	}
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := c.Do(req)
	if err != nil {
		return 0, "" // no answer at all counts as "other": a hang or a dropped connection
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK && (json.Unmarshal(body, &out) != nil || out.AccessToken == "") {
		return -1, ""
	}
	return resp.StatusCode, out.AccessToken
}

func callWith(c *http.Client, api, authorization, proof string) int {
	resp, err := do(c, api, authorization, proof)
	if err != nil {
		return 0
	}
	return resp.StatusCode
}

// do sends GET api and returns the answer with its body read and closed.
func do(c *http.Client, api, authorization, proof string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodGet, api, nil)
	req.Header.Set("Authorization", authorization)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, nil
}

func active(c *http.Client, endpoint, id, secret, token string) bool {
	for range 3 { // the database is back by now; allow a retry for a connection being re-made
		req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		resp, err := c.Do(req)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		var out struct {
			Active bool `json:"active"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && err == nil {
			return out.Active
		}
		time.Sleep(time.Second)
	}
	return false
}
