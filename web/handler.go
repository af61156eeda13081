package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// CSP is the Content-Security-Policy of every response (docs/spec/web-app.md
// §CSP): scripts only from the app's own files, WebAssembly compiled by
// them, no inline script or style, connections only back to the origin
// (its ws/wss included), images from the origin, data: (the invite QR, an
// attachment's thumbnail) or blob: (a received image, made by the app's
// own script from bytes the client verified: §6).
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// maxWSMessage bounds one WebSocket message from a browser; the stream
// carries secure-channel frames, which are smaller.
const maxWSMessage = 1 << 20

// Options configure a Handler.
type Options struct {
	// Prefix is the secret path the app lives under, "/<secret>/".
	Prefix string
	// Conns receives every WebSocket stream opened at Prefix+"ws"; nil
	// refuses them.
	Conns *Listener
	// Mirror receives the streams opened at Prefix+"mirror": a relay's
	// channel mirror (package mirror), which a browser reads when a
	// channel's server is unreachable (docs/spec/web-app.md §5); nil
	// refuses them.
	Mirror *Listener
	Logger *slog.Logger
}

// Handler serves the app under Options.Prefix and nothing anywhere else.
type Handler struct {
	opt    Options
	assets map[string]asset
	bundle Bundle
}

// NewSecret returns a fresh random path prefix, "/<22 base64url chars>/".
func NewSecret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "/" + base64.RawURLEncoding.EncodeToString(b) + "/"
}

// ValidPrefix reports whether p is a usable secret prefix.
func ValidPrefix(p string) error {
	if len(p) < 18 || !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || strings.Count(p, "/") != 2 {
		return fmt.Errorf("web: the app's path %q must be /<secret of 16+ characters>/", p)
	}
	return nil
}

// NewHandler returns the app's handler.
func NewHandler(opt Options) (*Handler, error) {
	if err := ValidPrefix(opt.Prefix); err != nil {
		return nil, err
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	assets, err := loadAssets(files)
	if err != nil {
		return nil, fmt.Errorf("web: reading the embedded assets: %w", err)
	}
	return &Handler{opt: opt, assets: assets, bundle: Info()}, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	name, ok := strings.CutPrefix(r.URL.Path, h.opt.Prefix)
	if !ok {
		http.NotFound(w, r) // what any web server says of an unknown path
		return
	}
	if name == "ws" {
		h.serveWS(w, r, h.opt.Conns)
		return
	}
	if name == "mirror" {
		h.serveWS(w, r, h.opt.Mirror)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.bundle.Built {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		hd.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "app not built: run go generate ./web before building samizdat\n")
		return
	}
	if name == "" {
		name = "index.html"
	}
	if name == wasmName {
		h.serveWasm(w, r)
		return
	}
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Vary", "Accept-Encoding")
	body := a.body
	if accepts(r, "gzip") {
		hd.Set("Content-Encoding", "gzip")
		body = a.gzip
	}
	w.Write(body)
}

// serveWasm sends the precompressed module: brotli, else gzip, else
// inflated on the fly. Its ETag is the hash, so a reload revalidates cheaply.
func (h *Handler) serveWasm(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "application/wasm")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Vary", "Accept-Encoding")
	etag := `"` + h.bundle.SHA256 + `"`
	hd.Set("ETag", etag)
	hd.Set("X-Samizdat-Bundle-Sha256", h.bundle.SHA256)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if h.bundle.BrotliSize > 0 && accepts(r, "br") {
		if b, err := fs.ReadFile(files, wasmBrotli); err == nil {
			hd.Set("Content-Encoding", "br")
			w.Write(b)
			return
		}
	}
	gz, err := fs.ReadFile(files, wasmGzip)
	if err != nil {
		http.Error(w, "app not built", http.StatusServiceUnavailable)
		return
	}
	if accepts(r, "gzip") {
		hd.Set("Content-Encoding", "gzip")
		w.Write(gz)
		return
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		http.Error(w, "damaged bundle", http.StatusInternalServerError)
		return
	}
	io.Copy(w, zr)
}

// accepts reports whether the request's Accept-Encoding lists enc (q=0 aside).
func accepts(r *http.Request, enc string) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), enc) && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// serveWS accepts a browser's WebSocket and hands its byte stream to
// conns; it returns once the stream's acceptor has closed it.
func (h *Handler) serveWS(w http.ResponseWriter, r *http.Request, conns *Listener) {
	if conns == nil {
		http.NotFound(w, r)
		return
	}
	// Accept refuses a cross-origin handshake (Origin must match Host), so
	// another site open in the same browser cannot use the endpoint.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		h.opt.Logger.Debug("web: websocket handshake refused", "err", err)
		return
	}
	c.SetReadLimit(maxWSMessage)
	ctx, cancel := context.WithCancel(conns.ctx)
	defer cancel()
	rc := &remoteConn{Conn: bridge(websocket.NetConn(ctx, c, websocket.MessageBinary)), remote: tcpAddr(r.RemoteAddr), closed: make(chan struct{})}
	if !conns.hand(r.Context(), rc) {
		c.Close(websocket.StatusGoingAway, "shutting down")
		return
	}
	select {
	case <-rc.closed:
	case <-ctx.Done():
		rc.Close()
	}
}

// errNotBuilt is what Serve reports for a binary built without the bundle.
var errNotBuilt = errors.New("web: app not built: run go generate ./web, then build samizdat again")

// Check returns an error saying what to do when the bundle is missing.
func Check() error {
	if !Info().Built {
		return errNotBuilt
	}
	return nil
}
