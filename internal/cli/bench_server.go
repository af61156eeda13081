package cli

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/samizdat-project/samizdat/server"
)

// runBenchServer runs the same server and store as 'samizdat server', with
// two differences for benchmarks: the rate limits are off (one load
// generator on 127.0.0.1 is, to the server, one very busy address), and
// there is no admin listener; logs go to stderr at warning level.
func runBenchServer(e env) int {
	fs := newFlags(e, "bench server")
	place := addPlaceFlags(fs, "127.0.0.1:0") // server.go
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address (for profiling the server under load; off if empty)")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	if *place.data == "" {
		return fail(e, "bench server", fmt.Errorf("--data DIR is required"))
	}
	if *pprofAddr != "" {
		pln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fail(e, "bench server", fmt.Errorf("--pprof: %w", err))
		}
		fmt.Fprintf(e.stderr, "bench server: pprof on http://%s/debug/pprof/\n", pln.Addr())
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go http.Serve(pln, mux)
	}
	if err := benchServe(e, *place.data, *place.store, *place.listen); err != nil {
		return fail(e, "bench server", err)
	}
	return 0
}

func benchServe(e env, data, storeURL, listen string) error {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	key, err := loadOrCreateServerKey(filepath.Join(data, serverKeyFile))
	if err != nil {
		return err
	}
	defer key.Destroy()
	st, err := openStore(data, storeURL, server.NewMetrics())
	if err != nil {
		return fmt.Errorf("opening the database: %w", err)
	}
	defer st.Close()
	var logOut io.Writer = e.stderr
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(server.Config{Store: st, Key: key, Logger: log, DrainTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	link := server.Link{Key: srv.Public(), Addrs: []string{ln.Addr().String()}}
	fmt.Fprintf(e.stdout, "samizdat bench server (rate limits off) listening on %s\nserver link: %s\n", ln.Addr(), link)
	return srv.Serve(ctx, ln)
}
