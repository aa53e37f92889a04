package oauth2_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/courierhttp/courier/auth/oauth2"
)

// refreshLog collects the RefreshInfo of WithOnRefresh.
type refreshLog struct {
	mu    sync.Mutex
	infos []oauth2.RefreshInfo
}

func (l *refreshLog) add(i oauth2.RefreshInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.infos = append(l.infos, i)
}

func (l *refreshLog) get() []oauth2.RefreshInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]oauth2.RefreshInfo(nil), l.infos...)
}

// WithOnRefresh reports each refresh: why (first, rejected), where the
// token came from (the source, a store another layer filled, a fallback),
// and a failure without its secrets.
func TestOnRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	store := new(oauth2.MemoryStore)
	var a, b refreshLog
	rtA := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), oauth2.WithStore(store), oauth2.WithOnRefresh(a.add))(nil)
	rtB := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), oauth2.WithStore(store), oauth2.WithOnRefresh(b.add))(nil)
	for _, rt := range []http.RoundTripper{rtA, rtB} {
		if status, _, err := get(t.Context(), rt, e.api.URL); err != nil || status != http.StatusOK {
			t.Fatalf("GET = %d, %v", status, err)
		}
	}
	e.revoke()
	if status, _, err := get(t.Context(), rtA, e.api.URL); err != nil || status != http.StatusOK {
		t.Fatalf("GET after a revoke = %d, %v", status, err)
	}
	waitFor(t, "three refreshes reported", func() bool { return len(a.get())+len(b.get()) == 3 })
	ia, ib := a.get(), b.get()
	if ia[0].Reason != oauth2.ReasonFirst || ia[0].Origin != oauth2.OriginSource || ia[0].Err != nil || ia[0].Waiters != 1 || ia[0].Expiry.IsZero() {
		t.Errorf("layer a's first refresh: %+v, want first, from the source", ia[0])
	}
	if ib[0].Reason != oauth2.ReasonFirst || ib[0].Origin != oauth2.OriginStore {
		t.Errorf("layer b's refresh: %+v, want first, from the store", ib[0])
	}
	if ia[1].Reason != oauth2.ReasonRejected || ia[1].Origin != oauth2.OriginSource {
		t.Errorf("layer a's refresh after the 401: %+v, want rejected, from the source", ia[1])
	}

	// A failing store with fallback; then a failing token endpoint.
	var c refreshLog
	p := &probeStore{Store: new(oauth2.MemoryStore)}
	p.set(func(p *probeStore) { p.loadErr = errStoreDown })
	rtC := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), oauth2.WithStore(p), oauth2.WithStoreFallback(true), oauth2.WithOnRefresh(c.add))(nil)
	get(t.Context(), rtC, e.api.URL)
	var d refreshLog
	e.set(func(e *env) { e.tokenStatus = http.StatusInternalServerError })
	rtD := oauth2.New(oauth2.ClientCredentials(e.clientCredentials()), oauth2.WithOnRefresh(d.add))(nil)
	get(t.Context(), rtD, e.api.URL)
	waitFor(t, "two more refreshes reported", func() bool { return len(c.get()) == 1 && len(d.get()) == 1 })
	if i := c.get()[0]; i.Origin != oauth2.OriginFallback || i.Err != nil {
		t.Errorf("with the store down: %+v, want a fallback", i)
	}
	if i := d.get()[0]; i.Err == nil || i.Origin != oauth2.OriginSource {
		t.Errorf("with the endpoint failing: %+v, want the error", i)
	} else {
		noSecret(t, i.Err)
	}
}
