package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv("SAMIZDAT_SERVER_CHILD") == "1" {
		os.Exit(runChildServer())
	}
	if os.Getenv(envFloodTarget) != "" {
		os.Exit(runFlooder()) // flood_test.go
	}
	os.Exit(m.Run())
}

// runChildServer runs a server in this process for TestIdleConnectionMemory,
// so that the measured heap is the server's alone. It prints its addresses
// and key, and serves until SIGTERM.
func runChildServer() int {
	dir, err := os.MkdirTemp("", "samizdat-memtest")
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"), nil)
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	defer st.Close()
	key, _ := securechan.GenerateServerKey(nil)
	metrics := server.NewMetrics()
	srv, err := server.New(server.Config{Store: st, Key: key, Metrics: metrics})
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	go http.Serve(aln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		runtime.GC()
		metrics.WriteTo(w)
	}))
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer cancel()
	fmt.Printf("SERVER %s %s %s\n", ln.Addr(), aln.Addr(), key.Public())
	if err := srv.Serve(ctx, ln); err != nil {
		return 1
	}
	return 0
}

// TestIdleConnectionMemory opens N idle sessions (handshake and hello
// done; default 2,000, SAMIZDAT_MEMTEST_CONNS to change) to a server in a
// child process and reports the server's heap and stack bytes per session.
func TestIdleConnectionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("SAMIZDAT_MEMTEST_CONNS")); err == nil && v > 0 {
		n = v
	}
	child := e2etest.StartSelf(t, "SAMIZDAT_SERVER_CHILD=1")
	defer child.Stop(t, 30*time.Second)
	var addr, admin, keyText string
	if _, err := fmt.Sscanf(child.WaitLines(t, 30*time.Second, "SERVER ")[0], "%s %s %s", &addr, &admin, &keyText); err != nil {
		t.Fatalf("child said %q", child.Stdout.String())
	}
	pub, err := securechan.ParseServerPublic(keyText)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: addr, pub: pub}

	open := func(count int) []*securechan.Conn {
		conns := make([]*securechan.Conn, count)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		next := make(chan int)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					sc, err := idleSession(ts)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					conns[i] = sc
				}
			}()
		}
		for i := range count {
			next <- i
		}
		close(next)
		wg.Wait()
		if firstErr != nil {
			t.Fatalf("opening sessions: %v", firstErr)
		}
		return conns
	}
	warm := open(100)
	time.Sleep(500 * time.Millisecond)
	before := scrape(t, admin)
	start := time.Now()
	conns := open(n)
	t.Logf("opened %d sessions in %v", n, time.Since(start))
	time.Sleep(time.Second) // let the handshake stacks shrink at GC
	after := scrape(t, admin)
	heap := after["go_memstats_heap_inuse_bytes"] - before["go_memstats_heap_inuse_bytes"]
	stack := after["go_memstats_stack_inuse_bytes"] - before["go_memstats_stack_inuse_bytes"]
	gor := after["go_goroutines"] - before["go_goroutines"]
	perConn := (heap + stack) / float64(n)
	t.Logf("server, per idle session: %.0f bytes (heap %.0f + stack %.0f), %.2f goroutines; %v sessions open",
		perConn, heap/float64(n), stack/float64(n), gor/float64(n), after["samizdat_sessions_open"])
	if after["samizdat_sessions_open"] != float64(n+len(warm)) {
		t.Errorf("server has %v sessions open, want %d", after["samizdat_sessions_open"], n+len(warm))
	}
	if perConn > 8<<10 {
		t.Errorf("%.0f bytes per idle session, goal is at most 8 KiB", perConn)
	}
	for _, c := range append(conns, warm...) {
		c.Close()
	}
}

// idleSession connects and says hello, then stays silent.
func idleSession(ts *testServer) (*securechan.Conn, error) {
	sc, err := handshake(ts, newIdentity(newAccount()), 20*time.Second)
	if err != nil {
		return nil, err
	}
	b, _ := wire.Encode(wire.Frame{RequestID: 1, Msg: &wire.ClientHello{MinVersion: 1, MaxVersion: 1}})
	if err := sc.Send(b); err != nil {
		return nil, err
	}
	if _, err := sc.Recv(); err != nil {
		return nil, err
	}
	return sc, nil
}

// scrape reads the child's metrics (after a GC) as name -> value.
func scrape(t *testing.T, admin string) map[string]float64 {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out
}
