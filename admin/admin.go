// Package admin serves shadowplane's operator HTTP API: health, readiness,
// Prometheus metrics, the connected proxies with their ACK/NACK state, the
// policy files with their problems, and what a proxy is being served.
//
// It listens on loopback unless told otherwise: the config dump shows every
// upstream address, which is not for everyone who can reach the host.
// Reading is open there; the one kind of change, controls on experiments
// (POST /api/v1/experiments/{name}/{action}), needs a bearer token and a
// same-site request (auth.go, controls.go).
//
// The JSON endpoints answer with the types of package admin/api, which
// the convert_*.go files make from the internal structs; the answers
// are pinned by testdata/api (contract_test.go, decision 0021).
package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/admin/ui"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server"
	"github.com/shadowplane/shadowplane/xds/server/snapshot"
)

// DefaultAddress is where the admin API listens unless configured.
const DefaultAddress = "127.0.0.1:19000"

// Proxies is the view of connected proxies the API shows.
type Proxies interface {
	Proxies() []server.Proxy
	Node(id string) (*core.Node, bool)
}

// Snapshots gives what a node is served under the current model.
type Snapshots interface {
	SnapshotFor(node *core.Node) (*snapshot.Snapshot, xds.GroupKey, error)
}

// Policies is the state of the policy files.
type Policies interface {
	Status() []files.FileStatus
	Stats() files.WatcherStats
}

// Experiments is the state of every experiment.
type Experiments interface {
	States() []analysis.State
}

// Leadership says which replica runs the experiments, under leader
// election (*k8s.Elector).
type Leadership interface {
	// Identity is this replica's name in the Lease.
	Identity() string
	// Leader is the replica holding the Lease, "" if none is known.
	Leader() string
	// IsLeader reports whether this replica holds it.
	IsLeader() bool
}

// Config wires the API to the running components.
type Config struct {
	Proxies     Proxies
	Snapshots   Snapshots
	Policies    Policies
	Experiments Experiments
	// Leadership, when set, is shown with the experiments: replicas under
	// leader election.
	Leadership Leadership
	// Ready reports whether the first policy load was served.
	Ready    func() bool
	Gatherer prometheus.Gatherer
	// AllowedHosts are the host names, besides IP addresses and
	// localhost, that requests may name in Host (see hostGuard).
	AllowedHosts []string
	// Controls, when set, takes POST /api/v1/experiments/{name}/{action}
	// (*analysis.Runner).
	Controls Controls
	// Token guards every state-changing endpoint (LoadToken); without it
	// they answer 403. Read-only endpoints stay open.
	Token TokenSource
}

// NewHandler returns the admin API.
func NewHandler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !cfg.Ready() {
			http.Error(w, "not ready: no policy served yet", http.StatusServiceUnavailable)
			return
		}
		// Serving, but say what from: a rejected file is served from its
		// last good version, and proxies get that, not the file on disk.
		var b strings.Builder
		b.WriteString("ok\n")
		listed, rejected := 0, 0
		for _, f := range cfg.Policies.Status() {
			if f.OK {
				continue
			}
			if rejected++; listed == MaxReadyzFiles {
				continue
			}
			listed++
			switch {
			case f.Restored:
				fmt.Fprintf(&b, "%s: rejected (%d problems); serving its last good version, saved before the restart, read %s\n", f.Path, len(f.Problems), f.LoadedAt.Format(time.RFC3339))
			case f.Stale:
				fmt.Fprintf(&b, "%s: rejected (%d problems); serving its last good version, read %s\n", f.Path, len(f.Problems), f.LoadedAt.Format(time.RFC3339))
			case !f.OK:
				fmt.Fprintf(&b, "%s: rejected (%d problems); nothing served from it\n", f.Path, len(f.Problems))
			}
		}
		if rejected > listed {
			fmt.Fprintf(&b, "and %d more rejected files: see /api/v1/policies\n", rejected-listed)
		}
		w.Write([]byte(b.String()))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/proxies", func(w http.ResponseWriter, r *http.Request) {
		q, err := parsePage(r, DefaultProxiesPage, MaxProxiesPage)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		all := cfg.Proxies.Proxies()
		proxies, next := page(all, proxyKey, q)
		writeJSON(w, http.StatusOK, api.ProxyList{Proxies: convertAll(proxies, proxyOf), Total: len(all), Next: next})
	})
	mux.HandleFunc("GET /api/v1/policies", handlePolicies(cfg.Policies))
	mux.HandleFunc("GET /api/v1/experiments", func(w http.ResponseWriter, r *http.Request) {
		q, err := parsePage(r, DefaultExperimentsPage, MaxExperimentsPage)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		var all []analysis.State
		if cfg.Experiments != nil {
			all = cfg.Experiments.States()
		}
		states, next := page(all, func(s analysis.State) string { return s.Experiment }, q)
		body := api.ExperimentList{Experiments: convertAll(states, redactedExperiment), Total: len(all), Next: next}
		if l := cfg.Leadership; l != nil {
			body.Leadership = &api.Leadership{Identity: l.Identity(), Leader: l.Leader(), Leading: l.IsLeader()}
		}
		writeJSON(w, http.StatusOK, body)
	})
	mux.Handle("POST /api/v1/experiments/{name}/{action}", requireToken(cfg.Token, handleControl(cfg.Controls)))
	mux.Handle("GET /ui/", ui.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	mux.HandleFunc("GET /debug/config_dump", func(w http.ResponseWriter, r *http.Request) {
		configDump(w, r, cfg)
	})
	return hostGuard(cfg.AllowedHosts, mux)
}

// configDump shows what a proxy is served: ?node=ID for a connected one;
// add &cluster=NAME (and &kind=grpc) to preview a proxy not connected yet.
func configDump(w http.ResponseWriter, r *http.Request, cfg Config) {
	q := r.URL.Query()
	id := q.Get("node")
	if id == "" {
		writeError(w, http.StatusBadRequest, "missing ?node=ID")
		return
	}
	node, ok := cfg.Proxies.Node(id)
	if !ok {
		if q.Get("cluster") == "" {
			writeError(w, http.StatusNotFound, "no proxy with node id "+id+" is connected; add &cluster=NAME to preview one")
			return
		}
		node = &core.Node{Id: id, Cluster: q.Get("cluster")}
		if q.Get("kind") == "grpc" {
			node.UserAgentName = "gRPC Go"
		}
	}
	snap, key, err := cfg.Snapshots.SnapshotFor(node)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	dump, err := snapshot.NewDump(key, snap)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, dump)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.Error{Message: msg})
}
