# shadowplane — see README.md. Targets run on a fresh machine with Go 1.26.
GO       ?= go
BIN      ?= bin/shadowplane
POLICIES ?= examples/mirroring

.PHONY: all build run demo test lint bench bench-xds bench-decisions e2e-seeds envoy-configs clean

all: build

build:
	$(GO) build -o bin/ ./cmd/shadowplane ./examples/sampleapp ./examples/demo

## run: serve the mirroring example on embedded defaults (xDS 127.0.0.1:18000, admin 127.0.0.1:19000).
run: build
	$(BIN) serve --policies $(POLICIES)

## demo: two progressive canaries end to end on this machine (one promoted, one rolled back), live in the terminal.
demo: build
	bin/demo

## test: formatting, vet, and every test, including the gRPC xDS end-to-end test. Packages whose
## code runs concurrently run under the race detector; pure computation (the statistics and the
## decision simulator) runs without it, where it is about ten times faster.
NORACE := ./analysis/stats/ ./test/decisions/
test: lint
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e '/analysis/stats$$' -e '/test/decisions')
	$(GO) test -count=1 $(NORACE)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: translation and push benchmarks (figures go to docs/performance.md).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./xds/server/snapshot/ ./xds/server/

## bench-xds: ours vs a plain go-control-plane server, 100/1,000/5,000 simulated Envoys, each on its own connection (several minutes).
bench-xds: build
	$(GO) build -o bin/ ./test/xdsload
	bin/xdsload -n $${N:-100,1000,5000} -changes $${CHANGES:-10} -plot docs/propagation.svg
	bin/xdsload file -shadowplane bin/shadowplane -n 1000 -edits 20

## bench-hostile-xds: 100 healthy simulated Envoys timed through 20 policy edits (EDITS=200 for a p99 that
## is not one sample), alone and beside issue 13's attackers (type URLs, 3.9 MB node metadata, 100,000 delta
## names, 10,000 idle connections against serve's open-file limit of 8,192, set with prlimit), which run in a
## process of their own at nice 19 (HOSTILE_FLAGS=-apart=false: beside the fleet, as before); push p50/p99,
## admin API latency, RSS, cores busy per process (about a minute).
.PHONY: bench-hostile-xds
bench-hostile-xds: build
	$(GO) build -o bin/ ./test/xdsload
	bin/xdsload hostile -shadowplane bin/shadowplane -n $${N:-100} -edits $${EDITS:-20} -idle $${IDLE:-10000} $${HOSTILE_FLAGS}

## bench-decisions: 1,000 simulated experiments per case through the decision code and through the old
## rule; writes docs/decision-quality.md and docs/decision-quality.svg (about 6 minutes on 2 cores).
bench-decisions:
	$(GO) run ./test/decisions/bench -runs $${RUNS:-1000}

## e2e-seeds: seeds 000 and 003 at their own traffic (2 and 4 requests a second) with healthy versions,
## through real processes, until each experiment decides (about 10 minutes; CI runs it after make test).
e2e-seeds:
	SHADOWPLANE_SEEDS=1 $(GO) test -count=1 -run '^TestSeed' -v -timeout 60m ./test/e2e/

## hostile: issue 13's hostile-input suite at the issue's sizes (2,097,082 duplicate hosts, 4 MiB of aliases,
## 10,000 files through validate and serve), and the policy load benchmark at 1,000 and 10,000 files (a few minutes).
.PHONY: hostile
hostile:
	SHADOWPLANE_HOSTILE_FULL=1 $(GO) test -count=1 -v -timeout 30m ./test/hostile/
	$(GO) test -run '^$$' -bench LoadFiles -benchtime 3x -benchmem ./policy/files/

## bench-k8s: 10,000 EndpointSlice endpoints churning at 50 changes a second through a real kube-apiserver
## (make kube-apiserver first): serve's CPU per change and the time until a proxy has it (about a minute).
.PHONY: bench-k8s
bench-k8s:
	SHADOWPLANE_K8S_SCALE=1 $(GO) test -count=1 -run '^TestScaleEndpointChurn$$' -v -timeout 10m ./test/e2e/kubernetes/

## clients: install the Node client of the client matrix (test/e2e/clients_test.go) at the versions
## its package-lock.json pins; the C-core client is Debian's python3-grpcio (.ci/run installs both).
.PHONY: clients
clients:
	npm ci --prefix test/clients/node --no-audit --no-fund

## kube-apiserver: build the Kubernetes API server that the Kubernetes tests run (test/kube), once,
## into the cache directory where they look for it (10–20 min on 2 cores the first time; .ci/run
## does the same). Delete the binary to build it again. etcd comes from apt-get install etcd-server.
## Any other binary: KUBE_APISERVER=/path/to/kube-apiserver make test.
K8S_VERSION ?= v1.37.2
.PHONY: kube-apiserver
kube-apiserver:
	@kas="$${XDG_CACHE_HOME:-$$HOME/.cache}/shadowplane/k8s-$(K8S_VERSION)/kube-apiserver"; \
	  if "$$kas" --version >/dev/null 2>&1; then echo "$$kas is built"; \
	  else test/kube/build-kube-apiserver.sh "$$(dirname "$$kas")" $(K8S_VERSION); fi

## envoy-configs: regenerate envoy-configs/*.yaml from `shadowplane bootstrap`.
envoy-configs:
	$(GO) test ./envoy-configs/ -update

clean:
	rm -rf bin
