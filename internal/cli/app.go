package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/web"
)

// appSecretFile holds the browser app's secret path (mode 0600), kept so
// the app's URL survives restarts.
const appSecretFile = "app-secret"

// appFlags serve the browser app (docs/spec/web-app.md) beside a server
// or relay.
type appFlags struct {
	addr, cert, key, public string
	mirror                  bool // a relay mirrors channels: serve them to browsers too
}

func addAppFlags(fs *flag.FlagSet) *appFlags {
	a := &appFlags{}
	fs.StringVar(&a.addr, "app", "", "serve the browser app on this address (plain HTTP only on loopback, e.g. behind nginx; otherwise give --app-cert and --app-key); empty: no app")
	fs.StringVar(&a.cert, "app-cert", "", "with --app: TLS certificate (PEM) browsers see")
	fs.StringVar(&a.key, "app-key", "", "with --app: its private key (PEM)")
	fs.StringVar(&a.public, "app-public", "", "with --app: the origin browsers open, e.g. https://relay.example (default: the --app address)")
	return a
}

// appServer is the running app: its WebSocket streams arrive on Conns.
type appServer struct {
	Conns  *web.Listener
	Mirror *web.Listener // the channel mirror's browser streams, if a.mirror
	URL    string        // the app's URL, without the server link fragment
	http   *http.Server
}

// startApp listens on a.addr and serves the app under the secret path
// kept in dir. serverLink, if known, goes after '#' in the printed URL
// (a fragment never reaches the web server).
func (a *appFlags) startApp(e env, log *slog.Logger, dir, serverLink string) (*appServer, error) {
	if a.addr == "" {
		return nil, nil
	}
	if err := web.Check(); err != nil {
		return nil, err
	}
	tlsOn := a.cert != "" || a.key != ""
	host, _, err := net.SplitHostPort(a.addr)
	if err != nil {
		return nil, fmt.Errorf("--app %q is not host:port", a.addr)
	}
	if ip := net.ParseIP(host); !tlsOn && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--app %s: plain HTTP is served only on loopback (behind a TLS web server); give --app-cert and --app-key to serve TLS here", a.addr)
	}
	if tlsOn && (a.cert == "" || a.key == "") {
		return nil, errors.New("--app-cert and --app-key go together")
	}
	secret, err := loadOrCreateSecret(filepath.Join(dir, appSecretFile))
	if err != nil {
		return nil, err
	}
	prefix := "/" + base64.RawURLEncoding.EncodeToString(secret) + "/"
	conns := web.NewListener()
	var mirror *web.Listener
	if a.mirror {
		mirror = web.NewListener()
	}
	h, err := web.NewHandler(web.Options{Prefix: prefix, Conns: conns, Mirror: mirror, Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return nil, fmt.Errorf("listening for the app on %s: %w", a.addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	origin := a.public
	if origin == "" {
		scheme := "http"
		if tlsOn {
			scheme = "https"
		}
		origin = scheme + "://" + ln.Addr().String()
	}
	go func() {
		var err error
		if tlsOn {
			err = srv.ServeTLS(ln, a.cert, a.key)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("the app's web server stopped", "err", err)
		}
	}()
	app := &appServer{Conns: conns, Mirror: mirror, URL: strings.TrimSuffix(origin, "/") + prefix, http: srv}
	b := web.Info()
	url := app.URL
	if body := linkBody(serverLink); body != "" {
		// The https form of the server link (docs/spec/links.md): the CLI
		// takes it as the server link, a browser opens the app with it.
		url += "#" + body
	}
	fmt.Fprintf(e.stdout, "app: %s\napp bundle sha256 %s (%d bytes; gzip %d, brotli %d)\n", url, b.SHA256, b.Size, b.GzipSize, b.BrotliSize)
	log.Info("serving the browser app", "addr", ln.Addr().String(), "sha256", b.SHA256)
	return app, nil
}

// linkBody is a link's text after "samizdat://" or after the '#' of its
// https form; its checksum covers exactly that, so both forms verify.
func linkBody(link string) string {
	if _, frag, ok := strings.Cut(link, "#"); ok && strings.HasPrefix(link, "https://") {
		return frag
	}
	return strings.TrimPrefix(link, "samizdat://")
}

// Close stops the app's web server and its stream listener.
func (app *appServer) Close() {
	if app == nil {
		return
	}
	app.Conns.Close()
	if app.Mirror != nil {
		app.Mirror.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	app.http.Shutdown(ctx)
	app.http.Close()
}
