//go:build js && wasm

package client

import (
	"errors"
	"syscall/js"
)

// wsAvailable: coder/websocket panics where the JS global WebSocket is
// missing (Node before 22); refuse with an error instead.
func wsAvailable() error {
	if js.Global().Get("WebSocket").Type() != js.TypeFunction {
		return errors.New("client: this JavaScript runtime has no WebSocket; use a current browser")
	}
	return nil
}
