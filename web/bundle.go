package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"mime"
	"path"
	"sync"
)

//go:embed static dist
var files embed.FS

// Names of the generated files in web/dist (web/gen writes them).
const (
	wasmName   = "samizdat.wasm"
	wasmGzip   = "dist/" + wasmName + ".gz"
	wasmBrotli = "dist/" + wasmName + ".br"
	wasmExec   = "static/wasm_exec.js"
)

// Bundle describes the WebAssembly client this binary serves.
type Bundle struct {
	Built      bool   // false: `go generate ./web` has not run before the build
	SHA256     string // hex SHA-256 of the uncompressed .wasm, what the browser runs
	Size       int    // uncompressed bytes
	GzipSize   int    // bytes sent to a browser taking gzip
	BrotliSize int    // bytes sent to a browser taking br; 0 when not generated
}

var (
	bundleOnce sync.Once
	bundle     Bundle
)

// Info returns the bundle's hash and sizes. The hash is computed over the
// uncompressed module, so two relays serving the same build print the same
// hash whatever compression they were built with.
func Info() Bundle {
	bundleOnce.Do(func() { bundle = readBundle(files) })
	return bundle
}

func readBundle(fsys fs.FS) Bundle {
	gz, err := fs.ReadFile(fsys, wasmGzip)
	if err != nil {
		return Bundle{}
	}
	if _, err := fs.Stat(fsys, wasmExec); err != nil {
		return Bundle{}
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return Bundle{}
	}
	h := sha256.New()
	n, err := io.Copy(h, zr)
	if err != nil {
		return Bundle{}
	}
	b := Bundle{Built: true, SHA256: hex.EncodeToString(h.Sum(nil)), Size: int(n), GzipSize: len(gz)}
	if br, err := fs.ReadFile(fsys, wasmBrotli); err == nil {
		b.BrotliSize = len(br)
	}
	return b
}

// asset is one static file with its precompressed form.
type asset struct {
	body, gzip  []byte
	contentType string
}

// loadAssets reads web/static and gzips each file once.
func loadAssets(fsys fs.FS) (map[string]asset, error) {
	out := map[string]asset{}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		out[p[len("static/"):]] = asset{body: body, gzip: zb.Bytes(), contentType: ct}
		return nil
	})
	return out, err
}
