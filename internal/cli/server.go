package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/samizdat-project/samizdat/bus"
	"github.com/samizdat-project/samizdat/internal/atomicfile"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/postgres"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/wire"
)

func init() {
	register("server", "run a samizdat server", runServer)
}

// serverKeyFile holds the server's 32 private key bytes, mode 0600.
const serverKeyFile = "server.key"

func runServer(e env) int {
	if len(e.args) > 0 && e.args[0] == "invite" {
		e.args = e.args[1:]
		return runServerInvite(e) // server_invite.go
	}
	fs := newFlags(e, "server")
	place := addPlaceFlags(fs, "127.0.0.1:7443")
	public := fs.String("public", "", "address to put in the server link (default: the listen address)")
	admin := fs.String("admin", "127.0.0.1:7444", "address of the admin listener serving /metrics (empty: none)")
	verbose := fs.Bool("v", false, "log debug messages")
	var relays repeated
	fs.Var(&relays, "relay", "a relay to publish in the signed endpoint book: its relay link or transport spec (repeat for more)")
	relayToken := fs.String("relay-token-file", "", "let relays that hold the token in this file register themselves in the endpoint book (created with a fresh token if missing; hand it only to relays you trust)")
	trustAge := fs.Duration("book-trust-age", 72*time.Hour, "accounts younger than this, or never invited ('samizdat server invite', 'samizdat invite --vouch'), get relays only from the probation bucket (a tenth of the relays), so a censor's fresh accounts cannot enumerate the rest; negative: off")
	probationShare := fs.Float64("book-probation-share", 0.1, "the probation bucket's share of the relays (0 < share < 1): all that accounts never invited can learn, rounded down")
	revealEvery := fs.Duration("book-reveal-every", 24*time.Hour, "after its first relays, an account is handed at most one more per this long (replacements of blocked relays included)")
	linkRelays := fs.Int("link-relays", 2, "how many of the --relay relays the printed server link carries (clients get their own slice of the rest from the book)")
	limits := addLimitFlags(fs) // server_limits.go
	blobs := blobFlags(fs)      // server_blobs.go
	natsURL := fs.String("nats", "", "join the other server nodes on this database through NATS: nats://HOST:PORT[,nats://...] (needs --store postgres://...)")
	app := addAppFlags(fs) // app.go
	var peers repeated
	fs.Var(&peers, "peer", "another node's public address, put after this node's in the server link and the endpoint book so clients move there when this node is down (repeat for more)")
	if err := parseFlags(fs, e.args); err != nil {
		return flagExit(err)
	}
	if *place.data == "" {
		fmt.Fprintln(e.stderr, "samizdat server: --data DIR is required (the server keeps its key and database there)")
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if err := serve(e, log, *place.data, *place.store, *place.listen, *public, *admin, bookFlags{relays: relays, linkRelays: *linkRelays, relayToken: *relayToken, trustAge: *trustAge, revealEvery: *revealEvery, probationShare: *probationShare, blobs: blobs, peers: peers, nats: *natsURL, app: app}, limits); err != nil {
		fmt.Fprintf(e.stderr, "samizdat server: %v\n", err)
		return 1
	}
	return 0
}

// placeFlags are where a server keeps its key and database and where it
// takes clients: the flags 'server' and 'bench server' share.
type placeFlags struct{ data, listen, store *string }

func addPlaceFlags(fs *flag.FlagSet, listen string) placeFlags {
	return placeFlags{
		data:   fs.String("data", "", "directory for the server's key and database (created if missing)"),
		listen: fs.String("listen", listen, "address to accept clients on"),
		store:  fs.String("store", "", "the database: empty for SQLite in the data directory, or a postgres://USER@HOST/DB URL for PostgreSQL"),
	}
}

// bookFlags are the endpoint book's flags (book.go).
type bookFlags struct {
	relays     []string
	linkRelays int
	relayToken string // --relay-token-file; empty: no registration
	trustAge   time.Duration
	// revealEvery is --book-reveal-every (server/distribution.go).
	revealEvery    time.Duration
	probationShare float64      // --book-probation-share
	blobs          *blobOptions // server_blobs.go (not the book's, but served beside it)
	peers          []string     // --peer: the other nodes' public addresses
	nats           string       // --nats: the bus between nodes; empty for one node
	app            *appFlags    // --app: the browser app (app.go)
}

// ledgerFile keeps who invited whom, the relays handed to each account and
// the relays judged blocked (server/distribution.go; mode 0600).
const ledgerFile = "distribution.json"

// relaysFile keeps the relays that registered themselves (mode 0600).
const relaysFile = "relays.json"

// loadOrCreateRelayToken reads the relay registration token (the file's
// text, trimmed), or writes a fresh random one (mode 0600) if the file
// does not exist. It refuses a token file that others can read.
func loadOrCreateRelayToken(path string) ([]byte, bool, error) {
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		rand.Read(raw)
		token := []byte(base64.RawURLEncoding.EncodeToString(raw))
		return token, true, atomicfile.WriteNew(path, append(append([]byte(nil), token...), '\n'), 0o600)
	}
	if err != nil {
		return nil, false, err
	}
	token := bytes.TrimSpace(b)
	if len(token) < wire.MinRelayToken || len(token) > wire.MaxRelayToken {
		return nil, false, fmt.Errorf("%s does not hold a relay token of %d..%d characters; remove it to make a new one", path, wire.MinRelayToken, wire.MaxRelayToken)
	}
	return token, false, nil
}

func serve(e env, log *slog.Logger, data, storeURL, listen, public, admin string, bf bookFlags, limits *limitFlags) error {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	key, err := loadOrCreateServerKey(filepath.Join(data, serverKeyFile))
	if err != nil {
		return err
	}
	defer key.Destroy()

	// The store outlives the signal context: it must finish the writes in
	// flight while the server drains, so it is closed only after Serve.
	metrics := server.NewMetrics()
	st, err := openStore(data, storeURL, metrics)
	if err != nil {
		return fmt.Errorf("opening the database: %w", err)
	}
	defer st.Close()

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", listen, err)
	}
	if public == "" {
		public = ln.Addr().String()
	}
	addrs := append([]string{public}, bf.peers...)
	book, err := serverBookFor(log, data, key.Public(), addrs, bf)
	if err != nil {
		ln.Close()
		return err
	}
	cfg := server.Config{Store: st, Key: key, Logger: log, Metrics: metrics, Reach: book.cfg}
	srv, nodes, err := newServerNode(log, cfg, data, storeURL, bf, limits)
	if err != nil {
		ln.Close()
		return err
	}
	if nodes != nil {
		defer nodes.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler())
	healthHandlers(mux, ctx, st, nodes)
	adminSrv, err := startAdmin(log, admin, mux, "metrics", "/metrics", "health", "/healthz", "ready", "/readyz")
	if err != nil {
		ln.Close()
		return err
	}
	defer shutdownAdmin(adminSrv)

	link := book.link(srv, addrs, bf.linkRelays)
	fmt.Fprintf(e.stdout, "samizdat server listening on %s\nserver link: %s\n", ln.Addr(), link)
	log.Info("serving", "addr", ln.Addr().String())
	if bf.app != nil {
		appSrv, err := bf.app.startApp(e, log, data, link.String())
		if err != nil {
			ln.Close()
			return err
		}
		if appSrv != nil {
			defer appSrv.Close()
			go srv.Serve(ctx, appSrv.Conns) // browsers reach the same handler as any client
		}
	}

	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("stopped; every acknowledged message is on disk")
	return nil
}

// serverBookFor loads the endpoint book the server signs for addrs and,
// with --relay-token-file, lets the relays that hold the token register.
func serverBookFor(log *slog.Logger, data string, key securechan.ServerPublic, addrs []string, bf bookFlags) (*serverBook, error) {
	book, err := loadServerBook(data, key, addrs, bf.relays)
	if err != nil {
		return nil, err
	}
	book.cfg.TrustAge, book.cfg.RevealEvery, book.cfg.ProbationShare = bf.trustAge, bf.revealEvery, bf.probationShare
	book.cfg.LedgerFile = filepath.Join(data, ledgerFile)
	if bf.relayToken == "" {
		return book, nil
	}
	token, created, err := loadOrCreateRelayToken(bf.relayToken)
	if err != nil {
		return nil, err
	}
	book.cfg.Registration = &server.RelayRegistration{Token: token, File: filepath.Join(data, relaysFile)}
	if created {
		log.Info("wrote a new relay registration token; give the file to the relays you trust (samizdat relay --register FILE)", "file", bf.relayToken)
	}
	return book, nil
}

// newServerNode makes the server for cfg with the limits and blob flags
// applied and, with --nats, joins it to the bus of the other nodes; the
// caller closes the bus (nil without --nats).
func newServerNode(log *slog.Logger, cfg server.Config, data, storeURL string, bf bookFlags, limits *limitFlags) (*server.Server, *bus.Bus, error) {
	nodes, err := connectBus(bf.nats, storeURL, log)
	if err != nil {
		return nil, nil, err
	}
	limits.apply(&cfg, data)
	if nodes != nil {
		cfg.Notifier = nodes
		registerBusMetrics(cfg.Metrics.Registry(), nodes)
	}
	err = bf.blobs.apply(&cfg, data)
	var srv *server.Server
	if err == nil {
		srv, err = server.New(cfg)
	}
	if err == nil && nodes != nil {
		err = nodes.Start(srv)
	}
	if err != nil {
		if nodes != nil {
			nodes.Close()
		}
		return nil, nil, err
	}
	return srv, nodes, nil
}

// startAdmin serves mux on addr, the admin listener of the server and the
// relay, until shutdownAdmin; an empty addr serves nothing (nil). paths
// name what mux serves, for the log.
func startAdmin(log *slog.Logger, addr string, mux *http.ServeMux, paths ...any) (*http.Server, error) {
	if addr == "" {
		return nil, nil
	}
	aln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on the admin address %s: %w", addr, err)
	}
	adminSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go adminSrv.Serve(aln)
	log.Info("admin listener up", append([]any{"addr", aln.Addr().String()}, paths...)...)
	return adminSrv, nil
}

// shutdownAdmin stops the admin listener (nil: none), waiting up to 5 s.
func shutdownAdmin(s *http.Server) {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.Shutdown(ctx)
}

// serverStore is what serve needs of either store.
type serverStore interface {
	server.Store
	Close() error
}

// openStore opens the SQLite database in data, or the PostgreSQL database
// that storeURL names (postgres:// or postgresql://).
func openStore(data, storeURL string, metrics *server.Metrics) (serverStore, error) {
	switch {
	case storeURL == "":
		return sqlite.Open(context.Background(), filepath.Join(data, "samizdat.db"), &sqlite.Options{OnBatch: metrics.ObserveBatch})
	case strings.HasPrefix(storeURL, "postgres://"), strings.HasPrefix(storeURL, "postgresql://"):
		return postgres.Open(context.Background(), storeURL, &postgres.Options{OnBatch: metrics.ObserveBatch})
	}
	return nil, fmt.Errorf("--store %q: want empty (SQLite) or a postgres:// URL", storeURL)
}

// loadOrCreateServerKey reads the server key from path, or creates one
// there (mode 0600) if the file does not exist. It refuses a key file that
// others can read.
func loadOrCreateServerKey(path string) (*securechan.ServerKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := securechan.GenerateServerKey(nil)
		if err != nil {
			return nil, err
		}
		priv := key.Bytes()
		defer clear(priv)
		if err := atomicfile.WriteNew(path, priv, 0o600); err != nil {
			return nil, fmt.Errorf("writing the server key file: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the server key file: %w", err)
	}
	defer clear(b)
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading the server key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the server key file %s can be read by others (mode %v); run chmod 600 on it", path, info.Mode().Perm())
	}
	return securechan.NewServerKey(b)
}
