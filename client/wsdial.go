package client

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/coder/websocket"
)

// WebSocketDialer reaches the server through one WebSocket URL (ws:// or
// wss://), whatever address the caller asks for: the browser's only way
// out (issue #15, the browser app). Binary messages
// carry a byte stream; securechan and the wire protocol run over it as
// over TCP. Under js/wasm coder/websocket uses the browser's WebSocket,
// so TLS is the browser's.
func WebSocketDialer(wsURL string) (Dialer, error) {
	u, err := url.Parse(wsURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, fmt.Errorf("client: %q is not a ws:// or wss:// URL; give the address of the app's /ws endpoint", wsURL)
	}
	return func(ctx context.Context, _ string) (net.Conn, error) {
		if err := wsAvailable(); err != nil {
			return nil, err
		}
		c, _, err := websocket.Dial(ctx, wsURL, nil)
		if err != nil {
			return nil, fmt.Errorf("client: opening the WebSocket to %s: %w", u.Host, err)
		}
		c.SetReadLimit(wsReadLimit)
		// The stream outlives the dial's context: it ends when the
		// session closes the returned conn.
		return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
	}, nil
}

// wsReadLimit bounds one WebSocket message; securechan frames are far
// smaller, the bridge never sends more than one frame-sized chunk.
const wsReadLimit = 1 << 20
