package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os/exec"
	"testing"

	"github.com/coder/websocket"

	"github.com/samizdat-project/samizdat/internal/testnet"
	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// nginxFloors are BenchmarkForwarders' rows that measure what the web
// server in front costs without our relay (docs/benchmarks.md, "Relay
// round trips behind nginx, session 8"): the same nginx configuration
// (testdata/nginx-site.conf) proxying the secret path to a WebSocket
// server that is the benchmark's upstream itself (coder/websocket around
// serveBench: the client's path has nginx and no relay), and the same
// with socat, a C forwarder, in the relay's place between nginx and that
// server, so the path has as many processes as the relay's deployment
// behind nginx. The client is tlsws's, as for the relay's rows.
func nginxFloors(t testing.TB, cover string, cert tls.Certificate, secret []byte) []forwarder {
	echo := serveWebSocketBench(t, testnet.Listen(t))
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	via := func(name, backend string, pids func() []int) forwarder {
		site := startNginx(t, cover, cert, tlsws.SecretPath(secret), backend)
		d, err := tlsws.NewDialer(tlsws.DialConfig{Addr: site.fronted, Host: "cover.test", Secret: secret, WebSocketALPN: true, Pin: tlsws.PinOf(leaf)})
		if err != nil {
			t.Fatal(err)
		}
		return forwarder{name, d, func() []int { return append(pids(), site.pid) }}
	}
	mid := freeAddr(t)
	_, port, _ := net.SplitHostPort(mid)
	socat := exec.Command("socat", "TCP-LISTEN:"+port+",bind=127.0.0.1,fork,reuseaddr,backlog=4096", "TCP:"+echo)
	if err := socat.Start(); err != nil {
		t.Fatalf("socat: %v", err)
	}
	t.Cleanup(func() { socat.Process.Kill(); socat.Wait() })
	return []forwarder{
		via("floor: nginx, no relay (a WebSocket upstream)", echo, func() []int { return nil }),
		via("floor: nginx, socat in the relay's place", mid, func() []int { return processTree(socat.Process.Pid) }),
	}
}

// serveWebSocketBench serves serveBench over WebSockets (binary messages)
// on ln until the test ends.
func serveWebSocketBench(t testing.TB, ln net.Listener) string {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		c.SetReadLimit(-1)
		serveBench(websocket.NetConn(context.Background(), c, websocket.MessageBinary))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}
