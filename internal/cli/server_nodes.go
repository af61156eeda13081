package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samizdat-project/samizdat/bus"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store"
)

// Several server nodes on one PostgreSQL database, joined by NATS
// (docs/operator-guide.md "From one node to three").

var (
	_ server.Notifier = (*bus.Bus)(nil)
	_ bus.Receiver    = (*server.Server)(nil)
)

// connectBus connects to the NATS servers of --nats (nil, nil when empty:
// one node, news stays in the process). Only a shared database makes
// several nodes one service, so NATS without --store postgres is refused.
func connectBus(natsURL, storeURL string, log *slog.Logger) (*bus.Bus, error) {
	if natsURL == "" {
		return nil, nil
	}
	if storeURL == "" {
		return nil, errors.New("--nats joins nodes that share one database: give every node the same --store postgres://... URL")
	}
	if !strings.HasPrefix(natsURL, "nats://") && !strings.HasPrefix(natsURL, "tls://") {
		return nil, fmt.Errorf("--nats %q: want nats://HOST:PORT (comma-separated for several NATS servers)", natsURL)
	}
	return bus.Connect(natsURL, &bus.Options{Name: "samizdat server", Logger: log})
}

// registerBusMetrics adds the bus's counters to the node's /metrics.
func registerBusMetrics(reg *prometheus.Registry, b *bus.Bus) {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	reg.MustRegister(
		counter("samizdat_bus_published_total", "Notices this node published on the NATS bus.", &b.Published),
		counter("samizdat_bus_received_total", "Notices this node received from the other nodes.", &b.Received),
		counter("samizdat_bus_dropped_total", "Notices lost: not published (bus away, buffer full) or dropped as a slow consumer.", &b.Dropped),
		counter("samizdat_bus_resyncs_total", "Times this node looked at the database again after lost notices.", &b.Resyncs),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "samizdat_bus_connected", Help: "1 while a NATS server is connected."}, func() float64 {
			if b.Connected() {
				return 1
			}
			return 0
		}),
	)
}

// healthHandlers adds /healthz (the process answers) and /readyz (this
// node can serve: the database answers, the bus, if any, is connected, and
// the node is not shutting down) to mux.
func healthHandlers(mux *http.ServeMux, ctx context.Context, st server.Store, b *bus.Bus) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context(), ctx, st, b); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

func ready(rctx, life context.Context, st server.Store, b *bus.Bus) error {
	if life.Err() != nil {
		return errors.New("shutting down")
	}
	ctx, cancel := context.WithTimeout(rctx, 2*time.Second)
	defer cancel()
	if _, err := st.GroupEpoch(ctx, store.GroupHash{}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("database: %v", err)
	}
	if b != nil && !b.Connected() {
		return errors.New("no NATS server connected")
	}
	return nil
}
