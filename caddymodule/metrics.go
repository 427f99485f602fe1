package caddymodule

import "github.com/caddy-oauth/caddy-oauth/oauthmetrics"

// bundleMetrics are the bundle's Prometheus metrics. They live as long as the process, so
// counters survive reloads; every config generation registers them with its own registry
// (Caddy's, served by the admin endpoint's /metrics and by the metrics handler).
var bundleMetrics = oauthmetrics.New()
