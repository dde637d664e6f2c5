# mfa-authz: MFA step-up for Envoy's external authorization.
# `make run` serves the example config; `make test` runs everything CI runs.

GO       ?= go
BIN      := bin/mfa-authz
CONFIG   ?= mfa-authz.example.yaml
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BENCHTIME ?= 1s

.PHONY: all build run test test-deps vet fmt-check unit bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mfa-authz

# Serve the example config on loopback: gRPC on 127.0.0.1:9191, HTTP on :9192.
run: build
	mkdir -p data
	./$(BIN) serve --config $(CONFIG)

test: test-deps fmt-check vet unit loadtest-ci

# test/caddy runs the forward-auth endpoint behind a real Caddy: install
# Debian's caddy package when the binary is missing (the package's systemd
# unit is not used; the test starts /usr/bin/caddy itself). A stale package
# index is refreshed only when the first install attempt fails.
APT_GET := DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get
test-deps:
	@command -v caddy >/dev/null 2>&1 || { \
		echo "test-deps: installing caddy (Debian package)"; \
		$(APT_GET) install -y -q caddy >/dev/null 2>&1 || \
		{ $(APT_GET) update -q >/dev/null && $(APT_GET) install -y -q caddy >/dev/null; }; \
	}

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./authz/... ./policy/... ./cache/...

clean:
	rm -rf bin data

# --- Load testing (test/load) and a local Envoy ------------------------------
# ghz, the gRPC load generator, is pinned and installed from the Go module
# proxy into bin/tools; ghz-html (test/load/ghzhtml, a module of its own)
# renders ghz's JSON reports with ghz's own HTML printer.

TOOLS_BIN           := $(CURDIR)/bin/tools
GHZ_VERSION         := v0.121.0
GHZ                 := $(TOOLS_BIN)/ghz
GHZ_HTML            := $(TOOLS_BIN)/ghz-html
LOAD_DURATION       ?= 10s
LOAD_CONCURRENCY    ?= 20
LOAD_CONNECTIONS    ?= 2
LOAD_MIXES          ?= unprotected,session,missing-code,mixed
LOAD_CI_DURATION    ?= 2s
LOAD_CI_CONCURRENCY ?= 10

.PHONY: tools ghz loadtest loadtest-ci envoy

tools: ghz
	cd test/load/ghzhtml && $(GO) build -o $(GHZ_HTML) .

ghz:
	@if [ "$$($(GHZ) --version 2>/dev/null)" != "$(GHZ_VERSION)" ]; then \
		echo "installing ghz $(GHZ_VERSION) into bin/tools"; \
		mkdir -p $(TOOLS_BIN) && \
		GOBIN=$(TOOLS_BIN) $(GO) install -ldflags '-X main.version=$(GHZ_VERSION)' github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION); \
	fi

# mfa-authz and a no-op ext_authz baseline on loopback, each request mix for
# LOAD_DURATION; prints the table, reports in test/load/reports/.
loadtest: tools
	$(GO) run ./test/load/cmd/loadtest --ghz $(GHZ) --ghz-html $(GHZ_HTML) --duration $(LOAD_DURATION) \
		--concurrency $(LOAD_CONCURRENCY) --connections $(LOAD_CONNECTIONS) --mixes $(LOAD_MIXES)

# The short CI mode: every mix for LOAD_CI_DURATION, with assertions (TestLoad).
loadtest-ci: ghz
	GHZ=$(GHZ) LOAD_CI_DURATION=$(LOAD_CI_DURATION) LOAD_CI_CONCURRENCY=$(LOAD_CI_CONCURRENCY) \
		LOAD_REPORT_DIR=$(CURDIR)/test/load/reports/ci $(GO) test -count=1 -v -run '^TestLoad$$' ./test/load/

# Envoy in front of a running mfa-authz (`make run` first), on 127.0.0.1:10000.
envoy:
	@if command -v envoy >/dev/null 2>&1; then exec envoy -c envoy/envoy.yaml; fi; \
	echo "envoy is not on PATH. Get Envoy from its official release binaries"; \
	echo "(https://www.envoyproxy.io/docs/envoy/latest/start/install), or run the container image"; \
	echo "from the repository root, sharing the host's loopback with mfa-authz:"; \
	echo "  docker run --rm --network host -v \"\$$PWD/envoy:/mfa/envoy:ro\" -w /mfa envoyproxy/envoy:<version> -c envoy/envoy.yaml"; \
	exit 1
