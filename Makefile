# caddy-oauth: `make run` serves Caddyfile.example, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN ?= bin/caddy
FUZZTIME ?= 10s

.PHONY: build run test unit interop readme examples browser fuzz xcaddy-build bench vet

build:
	$(GO) build -o $(BIN) ./cmd/caddy

# The main job: Caddy with the bundled authorization server on http://127.0.0.1:9080.
run:
	$(GO) run ./cmd/caddy run --config Caddyfile.example --adapter caddyfile

# Every test: vet, Go unit/integration tests (SQLite and a real PostgreSQL), fuzz smoke runs,
# the openid-client interop suite, the README's shell blocks and runnable examples, the Chromium
# browser suite and an xcaddy build.
test: vet unit fuzz interop readme examples browser xcaddy-build

vet:
	$(GO) vet ./...

unit:
	scripts/with-postgres.sh scripts/with-redis.sh scripts/with-nginx.sh scripts/gotest.sh

fuzz:
	scripts/fuzz.sh $(FUZZTIME)

interop:
	test/interop/run.sh

# Every shell block of the README, run as written against Caddyfile.example, outputs checked.
readme:
	test/readme/run.sh

# The README's multi-process examples, run as shipped (examples/*/run.sh).
examples:
	examples/revocation-stream/run.sh
	examples/fapi2/run.sh

# Headless Chromium (Debian's, installed by scripts/chromium.sh) through login, consent and
# logout; screenshots in test/browser/artifacts/.
browser:
	test/browser/run.sh

xcaddy-build:
	scripts/xcaddy-build.sh

bench:
	bench/run.sh
