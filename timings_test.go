package courier_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

func TestTimings(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m testenv.Mode) {
		ts := testenv.NewServer(t, m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Millisecond)
			w.Write([]byte("ok"))
		}))
		s := ts.Session(t, courier.WithDetailedTimings(true))
		first, err := s.Get(t.Context(), "/")
		if err != nil {
			t.Fatal(err)
		}
		ft := first.Timings
		if ft.Reused || ft.Connect <= 0 || ft.FirstByte < 20*time.Millisecond || ft.Total < ft.FirstByte || ft.RequestWritten <= 0 || ft.RequestWritten > ft.FirstByte {
			t.Errorf("first request timings = %+v, want a new connection, connect > 0, written before first byte >= 20ms <= total", ft)
		}
		if (m == testenv.HTTP2) != (ft.TLS > 0) {
			t.Errorf("%s: TLS = %v, want > 0 only over TLS", m, ft.TLS)
		}
		second, err := s.Get(t.Context(), "/")
		if err != nil {
			t.Fatal(err)
		}
		if st := second.Timings; !st.Reused || st.Connect != 0 || st.TLS != 0 || st.FirstByte < 20*time.Millisecond {
			t.Errorf("second request timings = %+v, want a reused connection with no connect or TLS time", st)
		}
	})
}

// Default timings need no hooks beyond courier's own: DNS and
// RequestWritten stay zero, the rest is there.
func TestTimingsDefault(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s := ts.Session(t)
	resp, err := s.Get(t.Context(), "/")
	if err != nil {
		t.Fatal(err)
	}
	if tm := resp.Timings; tm.Connect <= 0 || tm.FirstByte <= 0 || tm.Total <= 0 || tm.DNS != 0 || tm.RequestWritten != 0 {
		t.Errorf("default timings = %+v, want connect, first byte and total, no DNS or written", tm)
	}
}
