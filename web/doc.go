// Package web serves the browser app: the static page (web/static), the Go
// client compiled to WebAssembly (web/dist, made by `go generate ./web`),
// and a WebSocket endpoint whose streams reach the same connection handler
// as any transport. Everything lives under one secret path prefix and is
// sent with a strict Content-Security-Policy (docs/spec/web-app.md).
package web

//go:generate go run ./gen
