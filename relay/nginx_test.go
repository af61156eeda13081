package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testenv"
	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// The nginx the probe tests run: Debian's, started from the test with a
// temporary configuration around the site file of docs/operator-guide.md
// (testdata/nginx-site.conf, deployment 1, "behind nginx"), with timeouts
// shortened so that a test waits seconds, not a minute.

// nginxTimeout is client_header_timeout (which nginx 1.22 also applies to
// the TLS handshake) and keepalive_timeout in the test configuration.
const nginxTimeout = 2 * time.Second

// nginxBinary finds nginx; under CI=true a missing one fails the test.
func nginxBinary(t testing.TB) string {
	for _, p := range []string{"/usr/sbin/nginx", "/usr/bin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return testenv.LookPath(t, "nginx", "apt-get install nginx")
}

// nginxSite is one running nginx with two HTTPS servers on loopback: plain
// serves only the cover site; fronted serves the same site and proxies the
// secret path to a samizdat relay listening on backend (deployment 1).
type nginxSite struct {
	plain, fronted string // host:port
	certFile       string // the certificate both serve
	pid            int    // nginx's (one process: master_process off)
}

// startNginx writes the configuration and runs nginx in the foreground
// until the test ends. secretPath is tlsws.SecretPath(secret); backend is
// the relay's loopback address.
func startNginx(t testing.TB, siteDir string, cert tls.Certificate, secretPath, backend string) nginxSite {
	bin := nginxBinary(t)
	dir := t.TempDir()
	certFile, keyFile := writeCertFiles(t, dir, cert)
	site := nginxSite{plain: freeAddr(t), fronted: freeAddr(t), certFile: certFile}
	user := ""
	if os.Getuid() == 0 {
		user = "user root root;" // the temporary site is readable by root only
	}
	timeout := fmt.Sprintf("%ds", int(nginxTimeout/time.Second))
	fronted := nginxSiteConfig(t, site.fronted, certFile, keyFile, siteDir, secretPath, backend)
	plain := nginxSiteConfig(t, site.plain, certFile, keyFile, siteDir, "", "")
	conf := fmt.Sprintf(`%s
daemon off;
master_process off;
worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  client_header_timeout %s;
  keepalive_timeout %s;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
%s
%s
}
`, user, dir, dir, timeout, timeout, dir, dir, dir, dir, dir, plain, fronted)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confFile, "-p", dir)
	runWebServer(t, cmd, filepath.Join(dir, "error.log"), site.plain, site.fronted)
	site.pid = cmd.Process.Pid
	return site
}

// nginxSiteFile is the site configuration of docs/operator-guide.md
// (deployment 1), which the guide shows verbatim
// (TestOperatorGuideShowsSiteFiles): only a WebSocket upgrade on the secret
// path reaches the relay; anything else on that path gets nginx's own 404,
// as any missing file does.
const nginxSiteFile = "testdata/nginx-site.conf"

// nginxSiteConfig is nginxSiteFile with the guide's placeholders replaced
// for a test: the listen address, certificate, site folder and, unless
// secretPath is empty (the plain site, or the cover origin of deployment
// 2), the relay's secret path and loopback address; with secretPath empty
// the relay's location is cut out. Each placeholder must occur exactly
// once, so a guide edited out of step with the test fails here.
func nginxSiteConfig(t testing.TB, listen, certFile, keyFile, siteDir, secretPath, backend string) string {
	replace := [][2]string{
		{"listen 443 ssl", "listen " + listen + " ssl"},
		{"/etc/letsencrypt/live/www.example.org/fullchain.pem", certFile},
		{"/etc/letsencrypt/live/www.example.org/privkey.pem", keyFile},
		{"root /var/www/site;", "root " + siteDir + ";"},
	}
	return siteTemplate(t, nginxSiteFile, replace, secretPath, backend)
}

// siteTemplate reads a web server's site file from testdata (the guide's
// copy) and replaces each placeholder, which must occur exactly once, so
// that a file edited out of step with the test fails here. With secretPath
// set, the relay's placeholders "/SECRET-PATH" and "127.0.0.1:8081" are
// replaced too; with secretPath empty (the plain site, or the cover origin
// of deployment 2) the relay's part, from the "# The relay:" comment to
// the site's closing brace, is cut out.
func siteTemplate(t testing.TB, file string, replace [][2]string, secretPath, backend string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	if secretPath == "" {
		start, end := strings.Index(conf, "# The relay:"), strings.LastIndex(conf, "\n}\n")
		if start < 0 || end < start {
			t.Fatalf("%s: no relay part to cut out for the plain site", file)
		}
		conf = strings.TrimRight(conf[:start], " \t\n") + conf[end:]
	} else {
		replace = append(replace, [2]string{"/SECRET-PATH", secretPath}, [2]string{"127.0.0.1:8081", backend})
	}
	for _, r := range replace {
		if n := strings.Count(conf, r[0]); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once", file, r[0], n)
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	return conf
}

// writeCertFiles writes cert as PEM files into dir for a web server.
func writeCertFiles(t testing.TB, dir string, cert tls.Certificate) (certFile, keyFile string) {
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// runWebServer runs a web server until the test ends and waits until it
// listens on every addr; on a timeout the test fails with its output and
// logFile.
func runWebServer(t testing.TB, cmd *exec.Cmd, logFile string, addrs ...string) {
	name := filepath.Base(cmd.Path)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for _, a := range addrs {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(logFile)
				t.Fatalf("%s did not start listening on %s: %s\n%s", name, a, out, log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestRelayBehindNginxUnixSocket: deployment 1 with the relay on a unix
// socket (--listen unix:/path, nginx's proxy_pass http://unix:/path)
// carries a tunnel both ways, half-close included; the socket is open to
// nginx's user (mode 0666, the folder decides who reaches it), and a
// socket file an earlier relay left is replaced, not refused.
func TestRelayBehindNginxUnixSocket(t *testing.T) {
	dir, cert, secret := probeSetup(t)
	sock := filepath.Join(t.TempDir(), "relay.sock")
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	behind, err := tlsws.ListenBehind(tlsws.BehindConfig{Addr: "unix:" + sock, Secret: secret})
	if err != nil {
		t.Fatalf("listening where an earlier relay left its socket: %v", err)
	}
	if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v (%v), want 0666", st.Mode(), err)
	}
	startRelay(t, Config{Upstream: direct.NewDialer(echoServer(t))}, "tlsws", behind)
	site := startNginx(t, dir, cert, tlsws.SecretPath(secret), "unix:"+sock)
	d, err := tlsws.NewDialer(tlsws.DialConfig{Addr: site.fronted, Host: "cover.test", Secret: secret, Pin: tlsws.PinOf(cert.Leaf), WebSocketALPN: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := d.Dial(ctx)
	if err != nil {
		t.Fatalf("dialing the tunnel through nginx and the unix socket: %v", err)
	}
	defer c.Close()
	roundTrip(t, c, 100<<10)
}

// TestListenBehindKeepsOtherFiles: a file at the socket's path that is not
// a socket (a typo in --listen naming a real file) is left alone and the
// relay says why it cannot listen.
func TestListenBehindKeepsOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(path, []byte("keep me"), 0o600)
	ln, err := tlsws.ListenBehind(tlsws.BehindConfig{Addr: "unix:" + path, Secret: make([]byte, tlsws.MinSecretLen)})
	if err == nil {
		ln.Close()
		t.Fatal("listened over a regular file")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatalf("the file was replaced: %q", b)
	}
}
