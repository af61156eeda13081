package relay

import (
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samizdat-project/samizdat/internal/testenv"
	"github.com/samizdat-project/samizdat/transport/direct"
	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// Deployment 1 with Caddy instead of nginx: the Caddyfile of
// docs/operator-guide.md is testdata/Caddyfile, which the guide shows
// verbatim (TestOperatorGuideShowsSiteFiles).
const caddySiteFile = "testdata/Caddyfile"

// startCaddy runs Debian's Caddy with two sites on loopback, built from
// caddySiteFile like startNginx's: plain serves only the site, fronted
// also proxies the secret path to backend. For a test each site gets an
// address, the test certificate (instead of automatic HTTPS) and
// HTTP/1.1 and HTTP/2 only (no UDP listener for HTTP/3); no admin API, no
// redirect server on port 80.
func startCaddy(t testing.TB, siteDir string, cert tls.Certificate, secretPath, backend string) nginxSite {
	bin := testenv.LookPath(t, "caddy", "apt-get install caddy")
	dir := t.TempDir()
	certFile, keyFile := writeCertFiles(t, dir, cert)
	site := nginxSite{plain: freeAddr(t), fronted: freeAddr(t), certFile: certFile}
	siteConfig := func(addr, secretPath, backend string) string {
		_, port, _ := strings.Cut(addr, ":")
		return siteTemplate(t, caddySiteFile, [][2]string{
			{"www.example.org {", fmt.Sprintf("https://cover.test:%s {\n\tbind 127.0.0.1\n\ttls %s %s", port, certFile, keyFile)},
			{"root * /var/www/site", "root * " + siteDir},
		}, secretPath, backend)
	}
	conf := fmt.Sprintf(`{
	admin off
	auto_https disable_redirects
	storage file_system %s
	servers {
		protocols h1 h2
	}
}
%s
%s`, filepath.Join(dir, "data"), siteConfig(site.plain, "", ""), siteConfig(site.fronted, secretPath, backend))
	confFile := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", confFile, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	runWebServer(t, cmd, filepath.Join(dir, "no log file"), site.plain, site.fronted)
	return site
}

// TestAdversaryProbeDifferentialCaddy: deployment 1 behind Caddy, with the
// guide's Caddyfile, beside a plain Caddy serving the same site: a real
// client gets its tunnel through Caddy, and every probe is answered as the
// plain Caddy answers it.
func TestAdversaryProbeDifferentialCaddy(t *testing.T) {
	dir, cert, secret := probeSetup(t)
	behind, err := tlsws.ListenBehind(tlsws.BehindConfig{Addr: "127.0.0.1:0", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	startRelay(t, Config{Upstream: direct.NewDialer(echoServer(t))}, "tlsws", behind)
	site := startCaddy(t, dir, cert, tlsws.SecretPath(secret), behind.Addr().String())
	replay, _ := recordClient(t, site.fronted, tlsws.DialConfig{Host: "cover.test", Secret: secret, Pin: tlsws.PinOf(cert.Leaf), WebSocketALPN: true})
	if n := probeDifferential(t, diffProbes(replay), site.fronted, site.plain); n > 0 {
		t.Errorf("%d probes tell the relay behind Caddy from a plain Caddy", n)
	}
}
