package lab

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/samizdat-project/samizdat/censor"
	"github.com/samizdat-project/samizdat/censor/netns"
)

// nginxBinary is Debian's nginx: the lab's cover website, the site the
// relays splice probes to, and the prober's reference web server. A real
// web server, not one written for the lab, so a relay passes the probe
// differential only if it answers as nginx does (docs/lab.md).
const nginxBinary = "/usr/sbin/nginx"

// Available reports what this machine lacks to run a scenario (root,
// ip, nft, nginx), saying what to install, or nil.
func Available() error {
	if err := netns.Available(); err != nil {
		return err
	}
	return nginxMissing()
}

// nginxMissing says what a new user should install when nginx is absent.
func nginxMissing() error {
	if _, err := exec.LookPath(nginxBinary); err != nil {
		return fmt.Errorf("lab: the cover site and the prober's reference is Debian's nginx, not found at %s (apt-get install nginx)", nginxBinary)
	}
	return nil
}

// nginxConf is the whole configuration: one process in the foreground,
// every path under the run's directory, the cover page over TLS 1.3 and
// 1.2 (the default since nginx 1.23.4; Debian 12's 1.22 would offer only
// up to 1.2, which no current site does and which set the cover's flows
// apart from every relay's by version alone).
const nginxConf = `daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 512; }
http {
	access_log off;
	default_type text/html;
	client_body_temp_path %[1]s/tmp/body;
	proxy_temp_path %[1]s/tmp/proxy;
	fastcgi_temp_path %[1]s/tmp/fastcgi;
	uwsgi_temp_path %[1]s/tmp/uwsgi;
	scgi_temp_path %[1]s/tmp/scgi;
	server {
		listen %[2]s ssl;
		server_name cdn.lab.example;
		ssl_certificate %[1]s/cert.pem;
		ssl_certificate_key %[1]s/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		root %[1]s/www;
		index index.html;
	}
}
`

// startNginxCover writes the cover site (page, self-signed certificate,
// configuration) under dir/nginx and runs nginx on addr in the cover's
// namespace, returning once it accepts connections.
func startNginxCover(ctx, pctx context.Context, topo *netns.Topology, dir string, addr netip.AddrPort) (*proc, error) {
	if err := nginxMissing(); err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "nginx")
	if err := writeNginxSite(root, addr); err != nil {
		return nil, fmt.Errorf("lab: writing the nginx cover site: %w", err)
	}
	p, err := startProc(pctx, topo, dir, "cover", "cover", nginxBinary, "-e", "stderr", "-p", root, "-c", filepath.Join(root, "nginx.conf"))
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := topo.DialContext(ctx, "", "tcp4", addr.String())
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return p, fmt.Errorf("lab: nginx exited before serving the cover site (see %s)", p.log)
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return p, fmt.Errorf("lab: nginx is not accepting on %v after 30 s (see %s)", addr, p.log)
		}
	}
}

// writeNginxSite writes root/{nginx.conf,cert.pem,key.pem,www/index.html}.
func writeNginxSite(root string, addr netip.AddrPort) error {
	for _, d := range []string{"www", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	cert, err := selfSigned("cdn.lab.example")
	if err != nil {
		return err
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"cert.pem":       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		"key.pem":        pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}),
		"www/index.html": []byte(coverPage),
		"nginx.conf":     []byte(fmt.Sprintf(nginxConf, root, addr)),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// logProbes says how many probes the prober compared with the nginx
// reference and how many of them answered alike.
func logProbes(logf func(string, ...any), scenario string, rules []censor.Rule) {
	for _, r := range rules {
		p, ok := r.(*censor.Prober)
		if !ok {
			continue
		}
		res := p.Results()
		alike := 0
		for _, pr := range res {
			if pr.Differs == "" {
				alike++
			}
		}
		logf("%s: the prober compared %d probes with the nginx reference: %d answered alike", scenario, len(res), alike)
	}
}
