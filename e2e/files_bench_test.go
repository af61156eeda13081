package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/internal/testenv"
)

// BenchmarkFilesThroughput measures a 100 MiB upload and download through the
// samizdat binary on loopback against curl uploading (PUT) and downloading
// the same file over HTTPS to nginx, in the same run, and the peak memory
// of the samizdat processes. One iteration is the whole measurement (two
// rounds). Run: go test ./e2e -run '^$' -bench FilesThroughput -benchtime=1x -v
func BenchmarkFilesThroughput(b *testing.B) {
	for b.Loop() {
		filesThroughput(b)
	}
}

func filesThroughput(t testing.TB) {
	nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
	dir := t.TempDir()
	const size = 100 << 20
	src := filepath.Join(dir, "big.bin")
	want := writeRandom(t, src, size)

	srv := startServer(t, filepath.Join(dir, "server"), "127.0.0.1:0")
	alice, bob := twoFriends(t, dir, srv.link)

	for round := 1; round <= 2; round++ {
		up, upRSS := timed(t, alice, "send", "bob", "--file", src)
		ids := fileIDs(t, bob.run(t, "read", "alice"), "big.bin")
		to := filepath.Join(dir, fmt.Sprintf("down%d", round))
		down, downRSS := timed(t, bob, "download", ids[len(ids)-1], "--dir", to)
		if fileSum(t, filepath.Join(to, "big.bin")) != want {
			t.Fatal("the downloaded file differs")
		}
		cUp, cDown := curlNginx(t, nginx, dir, src)
		mb := float64(size) / (1 << 20)
		t.Logf("round %d: samizdat upload %.2fs (%.1f MiB/s, peak RSS %d MiB), download %.2fs (%.1f MiB/s, peak RSS %d MiB); "+
			"curl+nginx HTTPS upload %.2fs (%.1f MiB/s), download %.2fs (%.1f MiB/s); ratio upload %.2f, download %.2f",
			round, up.Seconds(), mb/up.Seconds(), upRSS>>10, down.Seconds(), mb/down.Seconds(), downRSS>>10,
			cUp.Seconds(), mb/cUp.Seconds(), cDown.Seconds(), mb/cDown.Seconds(), cUp.Seconds()/up.Seconds(), cDown.Seconds()/down.Seconds())
	}
}

// timed runs one CLI command as u under /usr/bin/time and returns its
// wall time and peak RSS in KiB.
func timed(t testing.TB, u *user, args ...string) (time.Duration, int64) {
	t.Helper()
	rss := filepath.Join(t.TempDir(), "rss")
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", rss, bin, "--home", u.home}, args...)...)
	cmd.Env = append(os.Environ(), cliEnv...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", u.name, args, err, out)
	}
	b, err := os.ReadFile(rss)
	if err != nil {
		t.Fatalf("/usr/bin/time wrote no peak RSS (apt-get install time): %v", err)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("/usr/bin/time wrote %q", b)
	}
	return d, kib
}

// curlNginx serves dir over HTTPS with nginx (PUT enabled) and times curl
// uploading src and downloading it back.
func curlNginx(t testing.TB, nginx, dir, src string) (up, down time.Duration) {
	t.Helper()
	nd := filepath.Join(dir, "nginx")
	www := filepath.Join(nd, "www")
	os.MkdirAll(www, 0o755)
	os.MkdirAll(filepath.Join(nd, "tmp"), 0o755)
	cert, key := selfSigned(t, nd)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(nd, "nginx.conf")
	tmp := filepath.Join(nd, "tmp")
	os.WriteFile(conf, []byte(fmt.Sprintf(`worker_processes 1; daemon off; user root; pid %s/nginx.pid; error_log %s/error.log;
events {}
http { access_log off; client_max_body_size 200m; client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s; uwsgi_temp_path %s; scgi_temp_path %s;
  server { listen %s ssl; ssl_certificate %s; ssl_certificate_key %s; ssl_protocols TLSv1.3;
    root %s; location / { dav_methods PUT; create_full_put_path on; } } }
`, nd, nd, tmp, tmp, tmp, tmp, tmp, addr, cert, key, www)), 0o600)
	ng := exec.Command(nginx, "-c", conf, "-p", nd)
	if out, err := exec.Command(nginx, "-t", "-c", conf, "-p", nd).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ng.Process.Signal(syscall.SIGQUIT); ng.Wait() }()
	if !e2etest.WaitFor(10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatal("nginx did not listen")
	}
	url := "https://" + addr + "/big.bin"
	curl := func(args ...string) time.Duration {
		start := time.Now()
		out, err := exec.Command("curl", append([]string{"-sSfk", "--http1.1"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	os.Remove(filepath.Join(www, "big.bin"))
	up = curl("-T", src, url)
	down = curl("-o", os.DevNull, url)
	return up, down
}

func selfSigned(t testing.TB, dir string) (certPath, keyPath string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return certPath, keyPath
}
