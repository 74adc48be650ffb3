package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHostGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := hostGuard([]string{"Shadowplane.Internal."}, ok)
	for host, want := range map[string]int{
		"127.0.0.1:19000":            http.StatusNoContent,
		"[::1]:19000":                http.StatusNoContent,
		"10.1.2.3":                   http.StatusNoContent,
		"localhost:19000":            http.StatusNoContent,
		"LOCALHOST.":                 http.StatusNoContent,
		"shadowplane.internal:19000": http.StatusNoContent,
		"rebind.attacker.example":    http.StatusForbidden,
		"localhost.attacker.example": http.StatusForbidden,
		"":                           http.StatusForbidden,
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/proxies", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: status %d, want %d (%s)", host, w.Code, want, w.Body)
		}
	}
}
