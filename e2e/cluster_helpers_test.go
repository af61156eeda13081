package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/testenv"
	"github.com/samizdat-project/samizdat/store/postgres/pgtest"
)

// The cluster test's infrastructure: one throwaway PostgreSQL, a NATS
// cluster of nats-server processes, and samizdat server nodes that share
// the database, the key files and the NATS cluster.

// startPostgres runs a throwaway PostgreSQL (pgtest) until the test ends
// and returns the URL of its postgres database.
func startPostgres(t testing.TB) string {
	t.Helper()
	srv, err := pgtest.Start(300)
	if err != nil {
		testenv.Require(t, err, "PostgreSQL", pgtest.Install)
	}
	t.Cleanup(srv.Stop)
	return srv.URL("postgres")
}

// natsNode is one nats-server process of the test's cluster.
type natsNode struct {
	cmd       *exec.Cmd
	done      chan struct{}
	client    string // nats://127.0.0.1:PORT
	out       *lockedBuffer
	clusterAt string
}

// startNATSCluster runs n nats-server processes routed to each other as one
// cluster and returns them; they are killed when the test ends.
func startNATSCluster(t testing.TB, n int) []*natsNode {
	t.Helper()
	bin := testenv.LookPath(t, "nats-server", "apt-get install nats-server")
	nodes := make([]*natsNode, n)
	for i := range nodes {
		nodes[i] = &natsNode{client: "nats://" + freePort(t), clusterAt: freePort(t), out: &lockedBuffer{}, done: make(chan struct{})}
	}
	for i, nd := range nodes {
		var routes []string
		for j, o := range nodes {
			if j != i {
				routes = append(routes, "nats://"+o.clusterAt)
			}
		}
		host, port, _ := net.SplitHostPort(strings.TrimPrefix(nd.client, "nats://"))
		nd.cmd = exec.Command(bin, "-a", host, "-p", port, "-n", fmt.Sprintf("nats-%d", i),
			"--cluster_name", "samizdat-e2e", "--cluster", "nats://"+nd.clusterAt, "--routes", strings.Join(routes, ","))
		nd.cmd.Stdout, nd.cmd.Stderr = nd.out, nd.out
		nd.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := nd.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { nd.cmd.Wait(); close(nd.done) }()
		t.Cleanup(nd.kill)
	}
	// Ready when every server has a route to every other.
	if !waitFor(20*time.Second, func() bool {
		for _, nd := range nodes {
			if strings.Count(nd.out.String(), "Route connection created") < n-1 {
				return false
			}
		}
		return true
	}) {
		for i, nd := range nodes {
			t.Logf("nats-%d:\n%s", i, nd.out.String())
		}
		t.Fatal("the NATS cluster did not form within 20s")
	}
	return nodes
}

func (nd *natsNode) kill() {
	select {
	case <-nd.done:
		return
	default:
	}
	nd.cmd.Process.Signal(syscall.SIGKILL)
	<-nd.done
}

// startNode runs 'samizdat server' as one node of the service.
func startNode(t testing.TB, data, listen, dsn, natsURLs string, peers []string) *server {
	t.Helper()
	args := []string{"server", "--data", data, "--listen", listen, "--admin=", "--store", dsn, "--nats", natsURLs}
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	p := start(t, nil, args...)
	s := &server{proc: p, data: data}
	ok := waitFor(30*time.Second, func() bool {
		sc := bufio.NewScanner(strings.NewReader(p.stdout.String()))
		for sc.Scan() {
			if l, found := strings.CutPrefix(sc.Text(), "server link: "); found {
				s.link = strings.TrimSpace(l)
			}
		}
		return s.link != "" || !p.running()
	})
	if !ok || s.link == "" {
		p.kill()
		t.Fatalf("node did not print its link; stdout:\n%s\nstderr:\n%s", p.stdout.String(), p.stderr.String())
	}
	s.addr = listen
	return s
}

// copyKeys gives a node the service's keys: every node of one service
// answers with the same secure-channel key and signs the same book.
func copyKeys(t testing.TB, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"server.key", "book.key", "slice.secret"} {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
