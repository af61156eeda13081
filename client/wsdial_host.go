//go:build !js

package client

// wsAvailable: a host always has WebSocket (coder/websocket over net/http).
func wsAvailable() error { return nil }
