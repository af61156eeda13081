package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/wire"
)

func init() {
	register("bench-fanout-internal", "internal: the subscriber side of bench fanout", func(e env) int { return runFanoutSubscribers(e) })
}

// runFanoutSubscribers connects n subscribers, prints READY, records
// every delivery until stdin closes, then prints the per-phase results.
func runFanoutSubscribers(e env) int {
	fs := newFlags(e, "bench fanout-subscribers")
	target := fs.String("target", "samizdat", "samizdat or centrifugo")
	srvLink := fs.String("server", "", "server link (samizdat) or ws URL (centrifugo)")
	chanHex := fs.String("channel", "", "channel id (hex) or name")
	n := fs.Int("n", 1000, "subscribers")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process, from READY on, to this file")
	gcPercent := fs.Int("gc-percent", 400, "the Go GC target of this process (the load generator's, the same for both targets)")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	// The subscribers' process holds 15,000 connections and goroutines,
	// whose stacks every GC cycle scans; a collection every 100% of heap
	// growth took a third of its CPU. Both targets get the same setting.
	debug.SetGCPercent(*gcPercent)
	h := &latHist{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var connect func(i int) error
	switch *target {
	case "samizdat":
		link, err := client.ParseServerLink(*srvLink)
		if err != nil {
			return fail(e, "bench fanout", err)
		}
		raw, err := hex.DecodeString(*chanHex)
		if err != nil || len(raw) != 32 {
			return fail(e, "bench fanout", fmt.Errorf("bad channel id"))
		}
		id := wire.ChannelID(raw)
		connect = func(int) error {
			c, err := client.DialChannels(ctx, nil, link, client.NewReaderKey(), func(p *wire.ChannelPush) {
				now := time.Now().UnixNano()
				pushPhase := -1
				for _, b := range p.Posts {
					// The bench measures fanout; it does not verify the
					// signature (a real reader verifies each post once).
					if post, err := channel.DecodePost(b); err == nil {
						if t, ok := parseBody(post.Body); ok {
							h.add(t, now)
							if pushPhase < 0 {
								pushPhase = t.phase
							}
						}
					}
				}
				h.addPush(pushPhase)
			})
			if err != nil {
				return err
			}
			return c.Subscribe(ctx, id)
		}
	case "centrifugo":
		url, name := *srvLink, *chanHex
		connect = func(i int) error { return centrifugoSubscribe(ctx, url, name, h) }
	default:
		return fail(e, "bench fanout", fmt.Errorf("unknown target %q", *target))
	}
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 64)
	for i := 0; i < *n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for try := 0; try < 5; try++ {
				if err := connect(i); err == nil {
					return
				} else if try == 4 {
					fmt.Fprintf(e.stderr, "subscriber %d: %v\n", i, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			failed.Add(1)
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return fail(e, "bench fanout", fmt.Errorf("%d subscribers failed to connect", failed.Load()))
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return fail(e, "bench fanout", err)
	}
	fmt.Fprintf(e.stdout, "READY %d %s subscribers connected in %v\n", *n, *target, time.Since(start).Round(time.Millisecond))
	io.Copy(io.Discard, e.stdin)
	stopProfile()
	json.NewEncoder(e.stdout).Encode(h.results())
	return 0
}

// centrifugoSubscribe opens one JSON-protocol WebSocket, connects,
// subscribes and records publications in a goroutine.
func centrifugoSubscribe(ctx context.Context, url, ch string, h *latHist) error {
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	c.SetReadLimit(1 << 20)
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"id":1,"connect":{}}`+"\n"+`{"id":2,"subscribe":{"channel":"`+ch+`"}}`)); err != nil {
		c.CloseNow()
		return err
	}
	got := 0
	for got < 2 { // the two replies
		_, b, err := c.Read(ctx)
		if err != nil {
			c.CloseNow()
			return err
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if bytes.Contains(line, []byte(`"error"`)) {
				c.CloseNow()
				return fmt.Errorf("centrifugo: %s", line)
			}
			if bytes.Contains(line, []byte(`"id":`)) {
				got++
			}
		}
	}
	go func() {
		defer c.CloseNow()
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			pushPhase := -1
			for _, line := range bytes.Split(b, []byte("\n")) {
				if len(line) == 0 {
					continue
				}
				if bytes.Equal(line, []byte("{}")) { // ping: answer pong
					c.Write(ctx, websocket.MessageText, []byte("{}"))
					continue
				}
				var m struct {
					Push struct {
						Pub struct {
							Data struct {
								B string `json:"b"`
							} `json:"data"`
						} `json:"pub"`
					} `json:"push"`
				}
				if json.Unmarshal(line, &m) == nil {
					if t, ok := parseBody([]byte(m.Push.Pub.Data.B)); ok {
						h.add(t, now)
						if pushPhase < 0 {
							pushPhase = t.phase
						}
					}
				}
			}
			h.addPush(pushPhase)
		}
	}()
	return nil
}

// fanoutCentrifugo runs Centrifugo with a minimal config, subscribes the
// child's connections over WebSocket (JSON) and publishes with its HTTP API.
func fanoutCentrifugo(e env, cfg fanoutConfig, bin string) ([]fanoutPhase, error) {
	dir, err := os.MkdirTemp("", "centrifugo-fanout-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	port := "18765"
	conf := `{"port":"` + port + `","address":"127.0.0.1","client_insecure":true,"api_insecure":true,"log_level":"error","allowed_origins":["*"]}`
	confPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", confPath)
	cmd.Dir = dir
	cmd.Stderr = e.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	api := "http://127.0.0.1:" + port + "/api/publish"
	for i := 0; ; i++ {
		if r, err := http.Get("http://127.0.0.1:" + port + "/health"); err == nil {
			r.Body.Close()
			break
		}
		if i > 100 {
			return nil, fmt.Errorf("centrifugo did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	rss0, _ := readRSSKiB(cmd.Process.Pid)
	p, err := startSubscribers(e, cfg, "centrifugo", "--server", "ws://127.0.0.1:"+port+"/connection/websocket", "--channel", "bench")
	if err != nil {
		return nil, err
	}
	reportSubscriberMemory(e, "centrifugo", cmd.Process.Pid, rss0, cfg.subscribers)
	hc := &http.Client{Timeout: 30 * time.Second}
	if cfg.centrifugoOpenLoop {
		hc.Timeout = 5 * time.Minute // a backlog of publishes is what this mode measures
		// Reuse a connection per publish in flight instead of opening new ones.
		hc.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	}
	posts, err := publishPhases(cfg, cfg.centrifugoOpenLoop, func(body []byte) error {
		req, _ := json.Marshal(map[string]any{"channel": "bench", "data": map[string]string{"b": string(body)}})
		r, err := hc.Post(api, "application/json", bytes.NewReader(req))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			return fmt.Errorf("publish: HTTP %d", r.StatusCode)
		}
		return nil
	})
	if err != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		return nil, err
	}
	return p.finish(cfg, posts)
}
