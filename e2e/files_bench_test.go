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
	"regexp"
	"slices"
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
// the same file over HTTPS to nginx, in the same run, taking turns
// (samizdat first in odd rounds, curl first in even ones), and the peak
// memory of the samizdat processes. Both sides do the same job: curl
// downloads into a file beside samizdat's, on the same disk. Each transfer
// has two times: the whole process (the CLI, or curl) and the transfer's
// own, which leaves out the start of a process: for samizdat the time its
// CLI prints (from the file's first byte read to the last acknowledgement,
// without the unlock of the local store and the connection), for curl its
// time_total (connection and TLS handshake included). Besides wall times
// it reads the CPU time (user+system) of both ends of each transfer: the
// CLI or curl, and the server or nginx's worker; on a shared machine the
// CPU ratio moves less with the load than the wall-time ratio. One
// iteration is the whole measurement (filesRounds rounds, then medians and
// ranges).
//
// Both servers keep every file they are sent (nginx under a new name each
// round): on this machine, writing into the page cache costs ten times
// more when it needs pages the VM's host has taken back (the kernel hands
// freed memory back to the host within moments, free page reporting), so
// a side that freed its previous copy just before writing the next one
// (as nginx and curl did here before session 11, overwriting one name)
// writes at a fraction of the cost of a side whose store grows (samizdat's
// server, and so samizdat's download after it). docs/benchmarks.md "Files
// on a quiet machine, session 11" has the measurement; its "Files" says
// which figure the goal is judged on.
// Run: go test ./e2e -run '^$' -bench FilesThroughput -benchtime=1x -v
func BenchmarkFilesThroughput(b *testing.B) {
	for b.Loop() {
		filesThroughput(b)
	}
}

const filesRounds = 5

// costs are one transfer's wall time (of the whole process, and of the
// transfer alone) and the CPU time of its two ends.
type costs struct {
	wall, xfer, cpu time.Duration
	rss             int64 // peak RSS of the CLI, KiB (samizdat only)
}

func filesThroughput(t testing.TB) {
	nginx := testenv.LookPath(t, "nginx", "apt-get install nginx")
	testenv.LookPath(t, "curl", "apt-get install curl")
	dir := t.TempDir()
	const size = 100 << 20
	src := filepath.Join(dir, "big.bin")
	want := writeRandom(t, src, size)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}

	srv := startServer(t, filepath.Join(dir, "server"), "127.0.0.1:0")
	alice, bob := twoFriends(t, dir, srv.link)
	ng := startNginx(t, nginx, dir)
	defer ng.stop()

	var ratios [6][]float64 // wall up, wall down, transfer up, transfer down, CPU up, CPU down
	for round := 1; round <= filesRounds; round++ {
		var up, down, cUp, cDown costs
		samizdat := func() {
			up = runCosted(t, srv.Cmd.Process.Pid, alice, "send", "bob", "--file", src)
			ids := fileIDs(t, bob.run(t, "read", "alice"), "big.bin")
			to := filepath.Join(dir, fmt.Sprintf("down%d", round))
			down = runCosted(t, srv.Cmd.Process.Pid, bob, "download", ids[len(ids)-1], "--dir", to)
			if fileSum(t, filepath.Join(to, "big.bin")) != want {
				t.Fatal("the downloaded file differs")
			}
			os.RemoveAll(to)
		}
		curl := func() {
			cUp, cDown = ng.transfer(t, src, fmt.Sprintf("big%d.bin", round), filepath.Join(dir, "curl-down.bin"), want)
		}
		if round%2 == 1 {
			samizdat()
			curl()
		} else {
			curl()
			samizdat()
		}
		floor := durableWrite(t, filepath.Join(dir, "durable.bin"), data)
		r := [6]float64{cUp.wall.Seconds() / up.wall.Seconds(), cDown.wall.Seconds() / down.wall.Seconds(),
			cUp.xfer.Seconds() / up.xfer.Seconds(), cDown.xfer.Seconds() / down.xfer.Seconds(),
			cUp.cpu.Seconds() / up.cpu.Seconds(), cDown.cpu.Seconds() / down.cpu.Seconds()}
		for i := range r {
			ratios[i] = append(ratios[i], r[i])
		}
		load, _ := os.ReadFile("/proc/loadavg")
		t.Logf("round %d: samizdat upload %.2fs (transfer %.2fs, CPU %.2fs, peak RSS %d MiB), download %.2fs (transfer %.2fs, CPU %.2fs, peak RSS %d MiB); "+
			"curl+nginx upload %.2fs (transfer %.2fs, CPU %.2fs), download %.2fs (transfer %.2fs, CPU %.2fs); "+
			"ratio upload %.2f (transfer %.2f, CPU %.2f), download %.2f (transfer %.2f, CPU %.2f); the file written and synced %.2fs; load %s",
			round, up.wall.Seconds(), up.xfer.Seconds(), up.cpu.Seconds(), up.rss>>10, down.wall.Seconds(), down.xfer.Seconds(), down.cpu.Seconds(), down.rss>>10,
			cUp.wall.Seconds(), cUp.xfer.Seconds(), cUp.cpu.Seconds(), cDown.wall.Seconds(), cDown.xfer.Seconds(), cDown.cpu.Seconds(),
			r[0], r[2], r[4], r[1], r[3], r[5], floor.Seconds(), strings.Join(strings.Fields(string(load))[:3], " "))
	}
	for i, name := range []string{"wall-time ratio (whole process), upload", "wall-time ratio (whole process), download",
		"transfer-time ratio, upload", "transfer-time ratio, download", "CPU-time ratio, upload", "CPU-time ratio, download"} {
		v := slices.Sorted(slices.Values(ratios[i]))
		t.Logf("%s (curl+nginx / samizdat, %d rounds): median %.2f, range %.2f-%.2f", name, len(v), v[len(v)/2], v[0], v[len(v)-1])
	}
}

// durableWrite times writing data to a new file at path and syncing it:
// the least time any upload takes that is durable when acknowledged, as
// samizdat's server makes each chunk (nginx does not sync what it stores).
func durableWrite(t testing.TB, path string, data []byte) time.Duration {
	t.Helper()
	start := time.Now()
	f, err := os.Create(path)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	took := time.Since(start)
	if f != nil {
		f.Close()
	}
	if err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	os.Remove(path)
	return took
}

// printedTransfer is the transfer's own time that a send --file or a
// download printed ("upload 0.62 s, ..." or "download ...").
func printedTransfer(t testing.TB, out []byte) time.Duration {
	t.Helper()
	m := regexp.MustCompile(`(?:upload|download) (\d+\.\d+) s, `).FindSubmatch(out)
	if m == nil {
		t.Fatalf("the CLI printed no transfer time:\n%s", out)
	}
	secs, _ := strconv.ParseFloat(string(m[1]), 64)
	return time.Duration(secs * float64(time.Second))
}

// runCosted runs one CLI command as u under /usr/bin/time and returns its
// wall time, the transfer's own time that it printed ("upload 0.62 s" or
// "download ..."), the CPU time of it and of the server process pid
// meanwhile, and its peak RSS. (The Go child's own rusage would not do for the RSS:
// Linux keeps the peak of the forked test process across exec.)
func runCosted(t testing.TB, pid int, u *user, args ...string) costs {
	t.Helper()
	usage := filepath.Join(t.TempDir(), "usage")
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M %U %S", "-o", usage, bin, "--home", u.home}, args...)...)
	cmd.Env = append(os.Environ(), cliEnv...)
	srv0 := procCPU(t, pid)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	c := costs{wall: time.Since(start)}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", u.name, args, err, out)
	}
	c.cpu = procCPU(t, pid) - srv0
	c.xfer = printedTransfer(t, out)
	b, err := os.ReadFile(usage)
	if err != nil {
		t.Fatalf("/usr/bin/time wrote no usage (apt-get install time): %v", err)
	}
	var user, sys float64
	if _, err := fmt.Sscanf(string(b), "%d %f %f", &c.rss, &user, &sys); err != nil {
		t.Fatalf("/usr/bin/time wrote %q: %v", b, err)
	}
	c.cpu += time.Duration((user + sys) * float64(time.Second))
	return c
}

// procCPU returns the user and system CPU time process pid has used
// (/proc/PID/stat, in clock ticks of 10 ms).
func procCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("reading the CPU time of process %d: %v", pid, err)
	}
	_, rest, _ := strings.Cut(string(b), ") ") // the name may hold spaces
	f := strings.Fields(rest)                  // f[0] is field 3 (state)
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// nginxServer is nginx serving a directory over HTTPS with PUT enabled.
type nginxServer struct {
	cmd       *exec.Cmd
	url, www  string
	workerPID int
}

// startNginx serves dir/nginx/www over HTTPS with nginx (one worker).
func startNginx(t testing.TB, nginx, dir string) *nginxServer {
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
	if out, err := exec.Command(nginx, "-t", "-c", conf, "-p", nd).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	ng := &nginxServer{cmd: exec.Command(nginx, "-c", conf, "-p", nd), url: "https://" + addr + "/", www: www}
	if err := ng.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !e2etest.WaitFor(10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		ng.stop()
		t.Fatal("nginx did not listen")
	}
	pid := ng.cmd.Process.Pid
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if f := strings.Fields(string(children)); len(f) == 1 {
		ng.workerPID, _ = strconv.Atoi(f[0])
	}
	if ng.workerPID == 0 {
		ng.stop()
		t.Fatalf("nginx has worker processes %q, want one", children)
	}
	return ng
}

func (ng *nginxServer) stop() { ng.cmd.Process.Signal(syscall.SIGQUIT); ng.cmd.Wait() }

// transfer times curl uploading src to nginx as name and downloading it
// back into dst (as samizdat writes the file it downloads), with the CPU
// time of curl and of nginx's worker, and curl's own time_total as the
// transfer's time; want is src's digest. nginx keeps every file it is
// sent, as samizdat's server does (see filesThroughput).
func (ng *nginxServer) transfer(t testing.TB, src, name, dst string, want [32]byte) (up, down costs) {
	t.Helper()
	curl := func(args ...string) costs {
		cmd := exec.Command("curl", append([]string{"-sSfk", "--http1.1", "-w", "%{time_total}"}, args...)...)
		w0 := procCPU(t, ng.workerPID)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		c := costs{wall: time.Since(start)}
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		c.cpu = procCPU(t, ng.workerPID) - w0 + cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			t.Fatalf("curl printed %q, not its time_total", out)
		}
		c.xfer = time.Duration(secs * float64(time.Second))
		return c
	}
	up = curl("-T", src, ng.url+name)
	down = curl("-o", dst, ng.url+name)
	if fileSum(t, dst) != want {
		t.Fatal("curl downloaded another file")
	}
	os.Remove(dst)
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
