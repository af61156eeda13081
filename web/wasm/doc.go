//go:build js && wasm

// Package main is the samizdat client compiled for the browser
// (GOOS=js GOARCH=wasm). It sets globalThis.samizdat, the JS API the web
// app calls (issue #15, the browser app): the client's store is IndexedDB, its transport one
// WebSocket to the app's /ws endpoint, and its receive loop runs in the
// page.
package main
