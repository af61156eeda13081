// Package e2e tests the browser app in a real Chromium driven through the
// DevTools protocol: real samizdat server and relay processes, the real
// WebAssembly client, real WebSockets. The package has only tests.
package e2e
