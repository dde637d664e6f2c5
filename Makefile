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

test: test-deps fmt-check vet unit

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
