package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/shadowplane/shadowplane/admin/api"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/xds/server"
)

// manyProxies is a registry's view with n proxies, newest first, so that
// the API's order is its own.
type manyProxies int

func (n manyProxies) Proxies() []server.Proxy {
	out := make([]server.Proxy, int(n))
	for i := range out {
		id := int64(int(n) - i)
		out[i] = server.Proxy{StreamID: id, NodeID: fmt.Sprintf("node-%d", id)}
	}
	return out
}

func (manyProxies) Node(string) (*core.Node, bool) { return nil, false }

// TestProxiesArePaged: 10,000 proxies come a page at a time, each one
// once, in stream order, with the total; a bad limit is refused.
func TestProxiesArePaged(t *testing.T) {
	const n = 10_000
	srv := httptest.NewServer(NewHandler(Config{Proxies: manyProxies(n)}))
	t.Cleanup(srv.Close)

	code, body := get(t, srv, "/api/v1/proxies")
	var first api.ProxyList
	if code != 200 || json.Unmarshal([]byte(body), &first) != nil {
		t.Fatalf("GET /api/v1/proxies = %d: %.200s", code, body)
	}
	if len(first.Proxies) != DefaultProxiesPage || first.Total != n || first.Next == "" {
		t.Fatalf("first page: %d proxies, total %d, next %q; want %d, %d and a next", len(first.Proxies), first.Total, first.Next, DefaultProxiesPage, n)
	}

	seen := 0
	after := ""
	for pages := 0; ; pages++ {
		if pages > n/MaxProxiesPage+1 {
			t.Fatal("paging does not end")
		}
		path := fmt.Sprintf("/api/v1/proxies?limit=%d", MaxProxiesPage)
		if after != "" {
			path += "&after=" + after
		}
		code, body := get(t, srv, path)
		var p api.ProxyList
		if code != 200 || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("GET %s = %d: %.200s", path, code, body)
		}
		for _, px := range p.Proxies {
			seen++
			if px.StreamID != int64(seen) {
				t.Fatalf("proxy %d is stream %d: out of order or repeated", seen, px.StreamID)
			}
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if seen != n {
		t.Errorf("the pages held %d proxies, want %d", seen, n)
	}

	for _, bad := range []string{"0", "-1", "x", fmt.Sprint(MaxProxiesPage + 1)} {
		if code, body := get(t, srv, "/api/v1/proxies?limit="+bad); code != http.StatusBadRequest {
			t.Errorf("?limit=%s = %d, want 400: %.200s", bad, code, body)
		}
	}
}

// TestFetchExperimentsFollowsPages: `shadowplane status` sees every
// experiment, more than one page of them.
func TestFetchExperimentsFollowsPages(t *testing.T) {
	const n = MaxExperimentsPage + 234
	states := make(fixedExperiments, n)
	for i := range states {
		states[i] = analysis.State{Experiment: fmt.Sprintf("exp-%05d", n-i)}
	}
	srv := httptest.NewServer(NewHandler(Config{Experiments: states}))
	t.Cleanup(srv.Close)

	code, body := get(t, srv, "/api/v1/experiments")
	var first api.ExperimentList
	if code != 200 || json.Unmarshal([]byte(body), &first) != nil || len(first.Experiments) != DefaultExperimentsPage || first.Total != n {
		t.Fatalf("GET /api/v1/experiments = %d, %d experiments of %d; want a page of %d of %d", code, len(first.Experiments), first.Total, DefaultExperimentsPage, n)
	}

	got, err := FetchExperiments(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("FetchExperiments = %d experiments, want %d", len(got), n)
	}
	for i, st := range got {
		if want := fmt.Sprintf("exp-%05d", i+1); st.Name != want {
			t.Fatalf("experiment %d is %s, want %s", i, st.Name, want)
		}
	}
}
