package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/wire"
)

// TestClusterThreeNodes is issue 18's proof, all real processes: one
// PostgreSQL, a three-server NATS cluster and three 'samizdat server'
// nodes sharing the database, the keys and the bus. Each node's link names
// itself first and the other two after, so a client that starts on one
// node moves to the next when it dies.
//
//  1. Three CLI users, each on another node, chat one-to-one and in a
//     group.
//  2. A channel's nine subscribers, three on each node, get every post made
//     through the first node.
//  3. Under a stream of Sends from node 0 to receivers on all three nodes
//     (every Send crosses the bus to wake its recipient's session), node 0
//     is killed with SIGKILL, then one NATS server. The senders and node 0's
//     receivers continue on the other nodes. At the end every acknowledged
//     message was delivered exactly once; the counts are logged.
func TestClusterThreeNodes(t *testing.T) {
	dir := t.TempDir()
	nodes, nats := startCluster(t, dir, 3, true)

	t.Run("chat", func(t *testing.T) { clusterChat(t, dir, nodes) })
	t.Run("channel", func(t *testing.T) { clusterChannel(t, nodes) })
	t.Run("failover", func(t *testing.T) { clusterFailover(t, dir, nodes, nats) })
}

// clusterChat: alice, bob and carol, on nodes 0, 1 and 2, chat one-to-one
// and in a group, through the CLI.
func clusterChat(t *testing.T, dir string, nodes []*server) {
	users := []*user{newUser(t, dir, "alice"), newUser(t, dir, "bob"), newUser(t, dir, "carol")}
	for i, u := range users {
		mustContain(t, u.name+" init", u.run(t, "init", "--server", nodes[i].link, "--name", u.name), "Created your account")
		mustContain(t, u.name+" first read", u.run(t, "read"), "No new messages.")
	}
	alice, bob, carol := users[0], users[1], users[2]
	befriend(t, alice, bob)
	befriend(t, alice, carol)
	befriend(t, bob, carol)
	mustContain(t, "alice send", alice.run(t, "send", "bob", "hello bob on node 1"), "Sent to bob")
	mustContain(t, "bob read", bob.run(t, "read"), "] alice: hello bob on node 1")
	mustContain(t, "bob send", bob.run(t, "send", "alice", "hello alice on node 0"), "Sent to alice")
	mustContain(t, "alice read", alice.run(t, "read"), "] bob: hello alice on node 0")
	mustContain(t, "group create", alice.run(t, "group", "create", "nodes"), "Created group nodes.")
	mustContain(t, "group add bob", alice.run(t, "group", "add", "nodes", "bob"), "Added bob")
	mustContain(t, "group add carol", alice.run(t, "group", "add", "nodes", "carol"), "Added carol")
	mustContain(t, "group send", alice.run(t, "group", "send", "nodes", "hello all three nodes"), "Sent to nodes")
	for _, u := range []*user{bob, carol} {
		mustContain(t, u.name+" read", u.run(t, "read"), "nodes: alice: hello all three nodes")
	}
	mustContain(t, "carol group send", carol.run(t, "group", "send", "nodes", "carol on node 2"), "Sent to nodes")
	for _, u := range []*user{alice, bob} {
		mustContain(t, u.name+" read", u.run(t, "read"), "nodes: carol: carol on node 2")
	}
}

func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// clusterChannel: nine subscribers, three per node, get every post made
// through node 0, each once.
func clusterChannel(t *testing.T, nodes []*server) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	links := make([]client.ServerLink, len(nodes))
	for i, n := range nodes {
		l, err := client.ParseServerLink(n.link)
		if err != nil {
			t.Fatal(err)
		}
		links[i] = l
	}
	_, owner, _ := ed25519.GenerateKey(rand.Reader)
	desc, err := channel.NewDescriptor(owner, "cluster news", uint64(time.Now().Unix()))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := client.DialChannels(ctx, dialTCP, links[0], client.NewReaderKey(), func(*wire.ChannelPush) {})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.CreateChannel(ctx, desc.Encode()); err != nil {
		t.Fatal(err)
	}
	const posts, perNode = 20, 3
	var mu sync.Mutex
	got := make([]map[uint64]int, len(nodes)*perNode)
	for i := range got {
		got[i] = map[uint64]int{}
		c, err := client.DialChannels(ctx, dialTCP, links[i%len(nodes)], client.NewReaderKey(), func(p *wire.ChannelPush) {
			mu.Lock()
			defer mu.Unlock()
			for _, b := range p.Posts {
				if _, seq, ok := channel.PeekSeq(b); ok {
					got[i][seq]++
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Subscribe(ctx, wire.ChannelID(desc.ID())); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= posts; seq++ {
		p := &channel.Post{Channel: desc.ID(), Seq: seq, Time: uint64(time.Now().UnixMilli()), Kind: channel.KindText, Body: []byte(fmt.Sprintf("post %d", seq))}
		if err := p.Sign(owner, nil); err != nil {
			t.Fatal(err)
		}
		if err := pub.Post(ctx, p.Encode()); err != nil {
			t.Fatalf("post %d: %v", seq, err)
		}
	}
	complete := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, g := range got {
			if len(g) < posts {
				return false
			}
		}
		return true
	}
	if !e2etest.WaitFor(30*time.Second, complete) {
		mu.Lock()
		defer mu.Unlock()
		for i, g := range got {
			t.Errorf("subscriber %d (node %d) got %d of %d posts", i, i%len(nodes), len(g), posts)
		}
		t.FailNow()
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for i, g := range got {
		for seq, n := range g {
			if n != 1 || seq < 1 || seq > posts {
				t.Errorf("subscriber %d got post %d %d times", i, seq, n)
			}
		}
	}
	t.Logf("%d posts reached %d subscribers on %d nodes, each once", posts, len(got), len(nodes))
}

// clusterFailover streams Sends from node 0 to receivers on every node,
// kills node 0 and then a NATS server mid-stream, and checks that every
// acknowledged message was delivered exactly once.
func clusterFailover(t *testing.T, dir string, nodes []*server, nats []*natsNode) {
	senders, perSender, rate := 4, 250, 40.0
	if *long {
		perSender = 600
	}
	var recvs []*loadRecv
	var recvLogs []string
	var ids []string
	for i, n := range nodes {
		r := startLoadRecv(t, n.link, dir, fmt.Sprint(i), 2, 30*time.Second)
		recvs, recvLogs = append(recvs, r), append(recvLogs, r.log)
		ids = append(ids, readLines(t, r.idsPath)...)
	}
	allIDs := filepath.Join(dir, "ids-all")
	if err := os.WriteFile(allIDs, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	send := startLoadSend(t, nodes[0].link, allIDs, dir, senders, perSender, rate, 30*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if !send.Running() {
		t.Fatal("the stream of sends ended before the kill; raise the message count")
	}
	nodes[0].Kill()
	time.Sleep(1500 * time.Millisecond)
	if !send.Running() {
		t.Fatal("the stream of sends ended before the NATS kill; raise the message count")
	}
	nats[1].Kill()
	total := senders * perSender
	res, acked := send.finish(t, 180*time.Second, total)
	if res.Reconnects < int64(senders) {
		t.Fatalf("%d reconnects for %d senders: killing node 0 did not move them", res.Reconnects, senders)
	}
	if !e2etest.WaitFor(90*time.Second, func() bool { return undelivered(t, recvLogs, acked) == 0 }) {
		t.Fatalf("%d of %d acknowledged messages never delivered (lost)", undelivered(t, recvLogs, acked), total)
	}
	time.Sleep(time.Second)
	for _, r := range recvs {
		if r.Running() {
			r.Stop(t, 15*time.Second)
		}
	}
	where := checkExactlyOnce(t, recvLogs, acked)
	perNode := make([]int, len(recvLogs))
	for _, es := range where {
		for e := range es {
			perNode[e.log]++
		}
	}
	t.Logf("cluster failover: %d acknowledged, %d delivered exactly once (receivers that started on nodes 0/1/2: %v), %d reconnects, %d Sends retried; node 0 and NATS server 1 killed with SIGKILL",
		total, len(where), perNode, res.Reconnects, res.Retries)
}
