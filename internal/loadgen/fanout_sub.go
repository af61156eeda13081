package loadgen

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/wire"
)

// SubscriberConfig is the subscribers' side of a fanout run.
type SubscriberConfig struct {
	Target  string // "samizdat" or "centrifugo"
	Server  string // the server link (samizdat) or the WebSocket URL (centrifugo)
	Channel string // the channel id in hex (samizdat) or its name (centrifugo)
	N       int
	Log     io.Writer // gets the connection errors; nil discards
}

// ConnectSubscribers connects cfg.N subscribers (at most 64 connecting at
// a time, each tried five times) that record every delivery in the
// returned histogram until ctx ends.
func ConnectSubscribers(ctx context.Context, cfg SubscriberConfig) (*LatencyHist, error) {
	h := &LatencyHist{}
	var connect func() error
	switch cfg.Target {
	case "samizdat":
		link, err := client.ParseServerLink(cfg.Server)
		if err != nil {
			return nil, fmt.Errorf("loadgen: the server link: %w", err)
		}
		raw, err := hex.DecodeString(cfg.Channel)
		if err != nil || len(raw) != len(wire.ChannelID{}) {
			return nil, errors.New("loadgen: the channel id is not 32 bytes of hex")
		}
		connect = func() error { return samizdatSubscribe(ctx, link, wire.ChannelID(raw), h) }
	case "centrifugo":
		connect = func() error { return centrifugoSubscribe(ctx, cfg.Server, cfg.Channel, h) }
	default:
		return nil, fmt.Errorf("loadgen: unknown target %q (samizdat or centrifugo)", cfg.Target)
	}
	var failed atomic.Int64
	parallel(ctx, cfg.N, 64, func(i int) error {
		for try := 0; try < 5; try++ {
			err := connect()
			if err == nil {
				return nil
			}
			if try == 4 {
				progress(cfg.Log, "subscriber %d: %v\n", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		failed.Add(1)
		return nil
	})
	if n := failed.Load(); n > 0 {
		return nil, fmt.Errorf("loadgen: %d subscribers failed to connect", n)
	}
	return h, ctx.Err()
}

// samizdatSubscribe connects one reader to the channel and records every
// post pushed to it.
func samizdatSubscribe(ctx context.Context, link client.ServerLink, id wire.ChannelID, h *LatencyHist) error {
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

// centrifugoSubscribe opens one JSON-protocol WebSocket, connects,
// subscribes and records publications in a goroutine.
func centrifugoSubscribe(ctx context.Context, url, ch string, h *LatencyHist) error {
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

// FanoutCentrifugo runs Centrifugo with a minimal config, subscribes the
// child's connections over WebSocket (JSON) and publishes with its HTTP API.
func FanoutCentrifugo(cfg FanoutConfig, bin string) ([]FanoutPhase, error) {
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
	cmd.Stderr = cfg.Progress
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
			return nil, errors.New("loadgen: centrifugo did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	rss0, _ := ReadRSSKiB(cmd.Process.Pid)
	p, err := startSubscribers(cfg, "centrifugo", "--server", "ws://127.0.0.1:"+port+"/connection/websocket", "--channel", "bench")
	if err != nil {
		return nil, err
	}
	reportSubscriberMemory(cfg.Progress, "centrifugo", cmd.Process.Pid, rss0, cfg.Subscribers)
	hc := &http.Client{Timeout: 30 * time.Second}
	if cfg.CentrifugoOpenLoop {
		hc.Timeout = 5 * time.Minute // a backlog of publishes is what this mode measures
		// Reuse a connection per publish in flight instead of opening new ones.
		hc.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	}
	posts, err := publishPhases(cfg, cfg.CentrifugoOpenLoop, func(body []byte) error {
		req, _ := json.Marshal(map[string]any{"channel": "bench", "data": map[string]string{"b": string(body)}})
		r, err := hc.Post(api, "application/json", bytes.NewReader(req))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			return fmt.Errorf("loadgen: centrifugo publish: HTTP %d", r.StatusCode)
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
