//go:build !js

package client

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestWebSocketDialerCarriesAByteStream: what the dialer writes arrives
// as binary messages and comes back as one stream, over real TCP.
func TestWebSocketDialerCarriesAByteStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
		io.Copy(nc, nc) // echo
		nc.Close()
	}))
	defer srv.Close()
	dial, err := WebSocketDialer("ws" + strings.TrimPrefix(srv.URL, "http") + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	conn, err := dial(ctx, "ignored:1")
	cancel() // the stream must outlive the dial's context
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := bytes.Repeat([]byte("securechan"), 5000)
	go func() { conn.Write(want[:7]); conn.Write(want[7:]) }()
	got := make([]byte, len(want))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the stream came back changed")
	}
}

func TestWebSocketDialerRefusesOtherURLs(t *testing.T) {
	for _, u := range []string{"http://x/ws", "ws:///nohost", "tcp://1.2.3.4:5", "::"} {
		if _, err := WebSocketDialer(u); err == nil || !strings.Contains(err.Error(), "ws://") {
			t.Errorf("%q: %v", u, err)
		}
	}
}
