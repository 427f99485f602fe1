// Command faultproxy stands between a remote gateway and its authorization server in
// bench/faults.sh, so the script can make the issuer's JWKS and introspection endpoints slow or
// unreachable on demand. It forwards every request to -target; its mode is set over a control
// port:
//
//	ok      forward (the default)
//	down    close each connection without an answer (the issuer is unreachable)
//	slow    hold each request for -delay (or ?delay=) before forwarding it
//
//	faultproxy -listen 127.0.0.1:9090 -target http://127.0.0.1:8080 -control 127.0.0.1:9091
//	curl 'http://127.0.0.1:9091/mode?set=slow&delay=8s'
//
// Loopback only: it is a test tool.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync/atomic"
	"time"
)

type state struct {
	mode  atomic.Value // string
	delay atomic.Int64 // nanoseconds
}

func main() {
	listen := flag.String("listen", "", "address to serve (loopback)")
	target := flag.String("target", "", "URL to forward to (loopback)")
	control := flag.String("control", "", "control address (loopback)")
	delay := flag.Duration("delay", 8*time.Second, "default hold in slow mode")
	flag.Parse()
	t, err := url.Parse(*target)
	if err != nil || t.Hostname() != "127.0.0.1" || *listen == "" || *control == "" {
		fmt.Fprintln(os.Stderr, "faultproxy: -listen, -control and a loopback -target are required")
		os.Exit(2)
	}
	s := &state{}
	s.mode.Store("ok")
	s.delay.Store(int64(*delay))
	proxy := httputil.NewSingleHostReverseProxy(t)

	ctl := http.NewServeMux()
	ctl.HandleFunc("/mode", func(w http.ResponseWriter, r *http.Request) {
		switch m := r.URL.Query().Get("set"); m {
		case "ok", "down", "slow":
			if d, err := time.ParseDuration(r.URL.Query().Get("delay")); err == nil {
				s.delay.Store(int64(d))
			}
			s.mode.Store(m)
			fmt.Fprintf(w, "mode %s, delay %s\n", m, time.Duration(s.delay.Load()))
		default:
			http.Error(w, "set=ok|down|slow", http.StatusBadRequest)
		}
	})
	go func() {
		if err := http.ListenAndServe(*control, ctl); err != nil {
			fmt.Fprintln(os.Stderr, "faultproxy: control:", err)
			os.Exit(1)
		}
	}()

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.mode.Load().(string) {
		case "down":
			// No answer at all: the caller sees the connection drop, as when the issuer is gone.
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					if tcp, ok := conn.(*net.TCPConn); ok {
						tcp.SetLinger(0) // a reset, not a graceful close
					}
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case "slow":
			select {
			case <-time.After(time.Duration(s.delay.Load())):
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})
	if err := http.ListenAndServe(*listen, handler); err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(1)
	}
}
