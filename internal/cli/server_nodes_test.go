package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/samizdat-project/samizdat/bus"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
)

// TestReadiness: /healthz answers while the process runs; /readyz only
// while the database answers and the node is not shutting down.
func TestReadiness(t *testing.T) {
	st := sqlitetest.Open(t)
	life, stop := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	healthHandlers(mux, life, st, nil)
	get := func(path string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	if c := get("/healthz"); c != 200 {
		t.Fatalf("/healthz = %d", c)
	}
	if c := get("/readyz"); c != 200 {
		t.Fatalf("/readyz with a working database = %d", c)
	}
	st.Close()
	if c := get("/readyz"); c != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the database closed = %d, want 503", c)
	}
	stop()
	if c := get("/readyz"); c != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while shutting down = %d, want 503", c)
	}
	if c := get("/healthz"); c != 200 {
		t.Fatalf("/healthz while shutting down = %d", c)
	}
}

// TestNATSNeedsSharedDatabase: --nats without --store postgres is refused
// with what to do.
func TestNATSNeedsSharedDatabase(t *testing.T) {
	if _, err := connectBus("nats://127.0.0.1:4222", "", nil); err == nil {
		t.Fatal("--nats with SQLite was accepted")
	}
	if _, err := connectBus("http://x", "postgres://db/x", nil); err == nil {
		t.Fatal("--nats http://... was accepted")
	}
	if b, err := connectBus("", "", nil); b != nil || err != nil {
		t.Fatalf("no --nats: %v, %v; want no bus", b, err)
	}
}

// TestBusMetrics: a node's /metrics carries its bus counters.
func TestBusMetrics(t *testing.T) {
	b, err := bus.Connect("nats://127.0.0.1:1", nil) // nothing listens: the bus keeps retrying
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := server.NewMetrics()
	registerBusMetrics(m.Registry(), b)
	var out strings.Builder
	m.WriteTo(&out)
	for _, want := range []string{"samizdat_bus_published_total 0", "samizdat_bus_connected 0", "samizdat_bus_dropped_total"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
