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
// The last line is machine-readable: RESULT tokens=N lost=L token_500=… gateway_500=… other=…
package main

import (
	"context"
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
)

type counts struct {
	ok, unavailable, serverError, other atomic.Int64
	// totals of the whole run, added up by take
	totalOK, totalUnavailable, totalServerError, totalOther int64
}

func (c *counts) add(status int) {
	switch {
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
	return fmt.Sprintf("200=%d 503=%d 5xx=%d other=%d", ok, un, se, ot)
}

func main() {
	issuer := flag.String("issuer", "", "issuer URL (loopback)")
	client := flag.String("client", "", "client_credentials client; secret in $FAULTLOAD_CLIENT_SECRET")
	gwClient := flag.String("gateway-client", "", "a client that introspects the resource; secret in $FAULTLOAD_GATEWAY_SECRET")
	resource := flag.String("resource", "", "the opaque-token resource")
	api := flag.String("api", "", "gateway URL protected by the resource")
	dur := flag.Duration("d", time.Minute, "run time")
	workers := flag.Int("c", 8, "workers")
	flag.Parse()
	secret, gwSecret := os.Getenv("FAULTLOAD_CLIENT_SECRET"), os.Getenv("FAULTLOAD_GATEWAY_SECRET")
	for _, u := range []string{*issuer, *api} {
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
	var tokenCounts, gatewayCounts counts
	var mu sync.Mutex
	var issued []string
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() {
			last := ""
			for ctx.Err() == nil {
				status, token := requestToken(httpClient, *issuer+"/token", *client, secret, *resource)
				tokenCounts.add(status)
				if status == http.StatusOK {
					last = token
					mu.Lock()
					issued = append(issued, token)
					mu.Unlock()
				}
				if last != "" {
					gatewayCounts.add(call(httpClient, *api, last))
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
		fmt.Printf("t=%3.0fs token %s | gateway %s\n", time.Since(start).Seconds(), tokenCounts.take(), gatewayCounts.take())
	}
	wg.Wait()

	lost := 0
	for _, tok := range issued {
		if !active(httpClient, *issuer+"/introspect", *gwClient, gwSecret, tok) {
			lost++
		}
	}
	tokenCounts.take()
	gatewayCounts.take()
	fmt.Printf("RESULT tokens=%d lost=%d token_200=%d token_503=%d token_5xx=%d token_other=%d gateway_200=%d gateway_503=%d gateway_5xx=%d gateway_other=%d\n",
		len(issued), lost, tokenCounts.totalOK, tokenCounts.totalUnavailable, tokenCounts.totalServerError, tokenCounts.totalOther,
		gatewayCounts.totalOK, gatewayCounts.totalUnavailable, gatewayCounts.totalServerError, gatewayCounts.totalOther)
}

func requestToken(c *http.Client, endpoint, id, secret, resource string) (int, string) {
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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

func call(c *http.Client, api, token string) int {
	req, _ := http.NewRequest(http.MethodGet, api, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode
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
