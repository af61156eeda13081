// Command gen builds the browser app's WebAssembly bundle (run by
// `go generate ./web` in the web directory): it copies Go's wasm_exec.js
// into static/, builds ./wasm for js/wasm, and writes the module gzipped
// and brotli-compressed into dist/, printing its SHA-256 and sizes.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/andybalholm/brotli"
)

func main() {
	quality := flag.Int("brotli", 11, "brotli quality 0-11; negative: write no .br")
	flag.Parse()
	if err := run(*quality); err != nil {
		fmt.Fprintf(os.Stderr, "web/gen: %v\n", err)
		os.Exit(1)
	}
}

func run(quality int) error {
	gorootOut, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("asking go env GOROOT (is the go command on PATH?): %w", err)
	}
	goroot := strings.TrimSpace(string(gorootOut))
	js, err := os.ReadFile(filepath.Join(goroot, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return fmt.Errorf("reading Go's wasm_exec.js: %w", err)
	}
	if err := os.WriteFile(filepath.Join("static", "wasm_exec.js"), js, 0o644); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "samizdat-wasm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "samizdat.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", out, "./wasm")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building ./wasm for js/wasm: %w", err)
	}
	mod, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(mod)
	zw.Close()
	if err := os.WriteFile(filepath.Join("dist", "samizdat.wasm.gz"), gz.Bytes(), 0o644); err != nil {
		return err
	}
	brPath := filepath.Join("dist", "samizdat.wasm.br")
	brSize := 0
	if quality >= 0 {
		var br bytes.Buffer
		bw := brotli.NewWriterLevel(&br, min(quality, brotli.BestCompression))
		bw.Write(mod)
		bw.Close()
		brSize = br.Len()
		if err := os.WriteFile(brPath, br.Bytes(), 0o644); err != nil {
			return err
		}
	} else {
		os.Remove(brPath)
	}
	fmt.Printf("web bundle sha256 %x: %d bytes, gzip %d, brotli %d\n", sha256.Sum256(mod), len(mod), gz.Len(), brSize)
	return nil
}
