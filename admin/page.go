package admin

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/shadowplane/shadowplane/xds/server"
)

// Page sizes of the list endpoints. Ten thousand proxies are some 10 MB
// of JSON, and the web view polls every 1.5 s: a page is what one answer
// holds, and a client wanting more follows "next" (?after=).
const (
	DefaultProxiesPage     = 500
	MaxProxiesPage         = 5000
	DefaultExperimentsPage = 100
	MaxExperimentsPage     = 1000
)

// pageQuery is a list request's ?limit= and ?after=.
type pageQuery struct {
	limit int
	after string
}

// parsePage reads ?limit (1..max, default def) and ?after (the "next" of
// the previous page). A bad limit is a 400, not silently the default: a
// client asking for everything should learn it gets a page.
func parsePage(r *http.Request, def, max int) (pageQuery, error) {
	q := pageQuery{limit: def, after: r.URL.Query().Get("after")}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > max {
			return q, fmt.Errorf("?limit=%s: want a number from 1 to %d", quoteHost(s), max)
		}
		q.limit = n
	}
	return q, nil
}

// page sorts items by key, then returns those after q.after, at most
// q.limit of them, and the key to ask for the next page ("" on the last).
// Keys must be unique for the cursor to be exact. Each key is computed
// once: with 10,000 proxies, formatting keys in every comparison was most
// of a page's cost. The caller's slice is left as it was.
func page[T any](items []T, key func(T) string, q pageQuery) ([]T, string) {
	type keyed struct {
		k string
		i int
	}
	ks := make([]keyed, 0, len(items))
	for i, it := range items {
		if k := key(it); q.after == "" || k > q.after {
			ks = append(ks, keyed{k, i})
		}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return cmp.Compare(a.k, b.k) })
	next := ""
	if len(ks) > q.limit {
		ks = ks[:q.limit]
		next = ks[len(ks)-1].k
	}
	out := make([]T, len(ks))
	for j, k := range ks {
		out[j] = items[k.i]
	}
	return out, next
}

// proxyKey orders proxies by stream, oldest first; zero-padded so that
// the text order is the numeric one.
func proxyKey(p server.Proxy) string {
	var b [20]byte
	s := strconv.AppendInt(b[:0], p.StreamID, 10)
	return strings.Repeat("0", 20-len(s)) + string(s)
}
