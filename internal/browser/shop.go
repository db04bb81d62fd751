package browser

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
)

// Shop is a merchant's return page for browser tests: /done answers a
// "Thank you" page (h1#thanks) and remembers the query it was called with.
type Shop struct {
	*httptest.Server
	mu    sync.Mutex
	query url.Values
}

// NewShop starts a Shop, closed when the test ends.
func NewShop(t testing.TB) *Shop {
	s := &Shop{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/done" {
			http.NotFound(w, r) // favicon.ico
			return
		}
		s.mu.Lock()
		s.query = r.URL.Query()
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>Shop</title><h1 id="thanks">Thank you</h1>`))
	}))
	t.Cleanup(s.Close)
	return s
}

// Got returns the query of the last /done request.
func (s *Shop) Got() url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.query
}

// Snap saves a screenshot of a step when KASSA_TEST_ARTIFACTS asks for
// them (failures are saved anyway).
func (b *Browser) Snap(name string) {
	if os.Getenv(EnvArtifacts) != "" {
		b.Screenshot(name)
	}
}
