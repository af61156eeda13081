package relay

import (
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
)

// The nginx the probe tests run: Debian's, started from the test with a
// temporary configuration built from the templates in
// docs/operator-guide.md (deployment 1, "behind nginx"), with timeouts
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
}

// startNginx writes the configuration and runs nginx in the foreground
// until the test ends. secretPath is tlsws.SecretPath(secret); backend is
// the relay's loopback address.
func startNginx(t testing.TB, siteDir string, cert tls.Certificate, secretPath, backend string) nginxSite {
	bin := nginxBinary(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
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
	site := nginxSite{plain: freeAddr(t), fronted: freeAddr(t), certFile: certFile}
	user := ""
	if os.Getuid() == 0 {
		user = "user root root;" // the temporary site is readable by root only
	}
	timeout := fmt.Sprintf("%ds", int(nginxTimeout/time.Second))
	common := fmt.Sprintf(`
    ssl_certificate %s;
    ssl_certificate_key %s;
    root %s;
    index index.html;`, certFile, keyFile, siteDir)
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
  ssl_protocols TLSv1.2 TLSv1.3;
  client_header_timeout %s;
  keepalive_timeout %s;
  client_body_temp_path %s/body;
  proxy_temp_path %s/proxy;
  fastcgi_temp_path %s/fastcgi;
  uwsgi_temp_path %s/uwsgi;
  scgi_temp_path %s/scgi;
  server {
    listen %s ssl http2;%s
  }
  server {
    listen %s ssl http2;%s
%s
  }
}
`, user, dir, dir, timeout, timeout, dir, dir, dir, dir, dir,
		site.plain, common, site.fronted, common, nginxRelayLocation(secretPath, backend))
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confFile, "-p", dir)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for _, a := range []string{site.plain, site.fronted} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				t.Fatalf("nginx did not start listening on %s: %s\n%s", a, out, log)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return site
}

// nginxRelayLocation is the location block of docs/operator-guide.md
// (deployment 1): only a WebSocket upgrade on the secret path reaches the
// relay; anything else on that path gets nginx's own 404, as any missing
// file does.
func nginxRelayLocation(secretPath, backend string) string {
	return fmt.Sprintf(`    location = %s {
      if ($http_upgrade != "websocket") { return 404; }
      proxy_pass http://%s;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 1d;
      proxy_send_timeout 1d;
    }`, secretPath, backend)
}
