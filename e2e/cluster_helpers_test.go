package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
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
	*e2etest.Proc
	client    string // nats://127.0.0.1:PORT
	clusterAt string
}

// startNATSCluster runs n nats-server processes routed to each other as one
// cluster and returns them; they are killed when the test ends.
func startNATSCluster(t testing.TB, n int) []*natsNode {
	t.Helper()
	bin := testenv.LookPath(t, "nats-server", "apt-get install nats-server")
	nodes := make([]*natsNode, n)
	for i := range nodes {
		nodes[i] = &natsNode{client: "nats://" + freePort(t), clusterAt: freePort(t)}
	}
	for i, nd := range nodes {
		var routes []string
		for j, o := range nodes {
			if j != i {
				routes = append(routes, "nats://"+o.clusterAt)
			}
		}
		host, port, _ := net.SplitHostPort(strings.TrimPrefix(nd.client, "nats://"))
		cmd := exec.Command(bin, "-a", host, "-p", port, "-n", fmt.Sprintf("nats-%d", i),
			"--cluster_name", "samizdat-e2e", "--cluster", "nats://"+nd.clusterAt, "--routes", strings.Join(routes, ","))
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		p, err := e2etest.StartCmd(cmd)
		if err != nil {
			t.Fatal(err)
		}
		nd.Proc = p
		t.Cleanup(nd.Kill)
	}
	// Ready when every server has a route to every other.
	if !e2etest.WaitFor(20*time.Second, func() bool {
		for _, nd := range nodes {
			if strings.Count(nd.Stdout.String()+nd.Stderr.String(), "Route connection created") < n-1 {
				return false
			}
		}
		return true
	}) {
		for i, nd := range nodes {
			t.Logf("nats-%d:\n%s%s", i, nd.Stdout.String(), nd.Stderr.String())
		}
		t.Fatal("the NATS cluster did not form within 20s")
	}
	return nodes
}

// startCluster runs the service of the cluster tests: one PostgreSQL, a
// NATS cluster of three, and n 'samizdat server' nodes (data in dir/nodeI)
// that share the database, the key files and the bus. With peered, each
// node names the others with --peer.
func startCluster(t testing.TB, dir string, n int, peered bool) (nodes []*server, nats []*natsNode) {
	t.Helper()
	dsn := startPostgres(t)
	nats = startNATSCluster(t, 3)
	var urls []string
	for _, nd := range nats {
		urls = append(urls, nd.client)
	}
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freePort(t)
	}
	nodes = make([]*server, n)
	for i := range nodes {
		data := filepath.Join(dir, fmt.Sprintf("node%d", i))
		if i > 0 {
			copyKeys(t, filepath.Join(dir, "node0"), data)
		}
		var peers []string
		if peered {
			peers = append(append(peers, addrs[i+1:]...), addrs[:i]...)
		}
		nodes[i] = startNode(t, data, addrs[i], dsn, strings.Join(urls, ","), peers)
	}
	return nodes, nats
}

// startNode runs 'samizdat server' as one node of the service.
func startNode(t testing.TB, data, listen, dsn, natsURLs string, peers []string) *server {
	t.Helper()
	args := []string{"server", "--data", data, "--listen", listen, "--admin=", "--store", dsn, "--nats", natsURLs}
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	p := start(t, nil, args...)
	link := p.WaitLines(t, 30*time.Second, "server link: ")[0]
	return &server{proc: p, data: data, addr: listen, link: link}
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
