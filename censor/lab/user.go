package lab

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/wire"
)

// UserEvent is a line a lab user process writes on stdout.
type UserEvent struct {
	T    int64  `json:"t"`  // Unix milliseconds
	Ev   string `json:"ev"` // invite, ready, paths, path, book, sent, acked, recv, log, error
	N    int    `json:"n,omitempty"`
	From string `json:"from,omitempty"`
	Text string `json:"text,omitempty"`
}

// UserCommand is a line the runner writes to a lab user's stdin.
type UserCommand struct {
	Cmd    string `json:"cmd"` // peer, hello, start, stop
	Name   string `json:"name,omitempty"`
	Invite string `json:"invite,omitempty"`
}

// labText is the text of numbered message n from user from.
func labText(from string, n int) string { return fmt.Sprintf("lab %s %d", from, n) }

func parseLabText(s string) (from string, n int, ok bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "lab" {
		return "", 0, false
	}
	n, err := strconv.Atoi(f[2])
	return f[1], n, err == nil
}

// labUser is one `samizdat lab user` process: a real client (package
// client) that sends numbered messages and reports what it sent, what the
// server acknowledged and what it received.
type labUser struct {
	name       string
	every      time.Duration
	invitation string // base64url; empty: none

	outMu sync.Mutex
	out   *json.Encoder

	ackMu    sync.Mutex // guards appAcks, baseline, counting
	appAcks  int        // application messages the server acknowledged
	baseline int        // appAcks when numbering started
	counting bool
}

func (u *labUser) emit(ev UserEvent) {
	if ev.T == 0 {
		ev.T = time.Now().UnixMilli()
	}
	u.outMu.Lock()
	u.out.Encode(ev)
	u.outMu.Unlock()
}

// RunUser is `samizdat lab user`: it creates an account in --home on the
// server of --server, prints its invite, then follows the runner's commands
// on stdin (JSON lines) until stdin closes or ctx ends.
//
// paths builds the transports of the client's paths (the CLI's dialer
// factory: direct, tlsws, obfs4, pt); the client's racing dialer picks
// among the paths of its server link and endpoint book by itself.
func RunUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, paths reach.DialerFactory) int {
	fs := flag.NewFlagSet("samizdat lab user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home := fs.String("home", "", "directory for this user's store (must not exist or be empty)")
	name := fs.String("name", "", "user name (also in message texts)")
	server := fs.String("server", "", "server link")
	every := fs.Duration("every", 250*time.Millisecond, "interval between numbered messages")
	invitation := fs.String("invitation", "", "an invitation ('samizdat server invite') to redeem once online, so the server hands this user the relays of invited users")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *home == "" || *name == "" || *server == "" {
		fmt.Fprintln(stderr, "samizdat lab user: --home, --name and --server are required")
		return 2
	}
	u := &labUser{name: *name, every: *every, invitation: *invitation, out: json.NewEncoder(stdout)}
	if err := u.run(ctx, *home, *server, stdin, paths); err != nil {
		u.emit(UserEvent{Ev: "error", Text: err.Error()})
		fmt.Fprintf(stderr, "samizdat lab user: %v\n", err)
		return 1
	}
	return 0
}

func (u *labUser) run(ctx context.Context, home, server string, stdin io.Reader, paths reach.DialerFactory) error {
	link, err := client.ParseServerLink(server)
	if err != nil {
		return err
	}
	pass := make([]byte, 16)
	rand.Read(pass)
	opts := client.Options{
		Home: home, Passphrase: []byte(hex.EncodeToString(pass)), KDF: &client.LightKDF, KeyPackageBatch: 5,
		Paths:     paths,
		OnPath:    u.onPath,
		OnBook:    func(b client.BookChange) { u.emit(UserEvent{Ev: "book", Text: b.String()}) },
		OnSent:    u.onSent,
		OnMessage: u.onMessage,
		Logf:      func(format string, args ...any) { u.emit(UserEvent{Ev: "log", Text: fmt.Sprintf(format, args...)}) },
	}
	c, err := client.Init(client.InitOptions{Options: opts, Server: link, Name: u.name})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.Start(ctx)
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	err = c.WaitOnline(wctx)
	wcancel()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	if err := u.redeem(ctx, c); err != nil {
		return err
	}
	u.emit(UserEvent{Ev: "invite", Text: c.Invite().String()})

	var stopSend context.CancelFunc = func() {}
	defer func() { stopSend() }()
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		var cmd UserCommand
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			return fmt.Errorf("bad command %q: %w", sc.Text(), err)
		}
		switch cmd.Cmd {
		case "peer":
			in, err := client.ParseInvite(cmd.Invite)
			if err != nil {
				return err
			}
			actx, acancel := context.WithTimeout(ctx, 60*time.Second)
			_, err = c.AddContact(actx, in, cmd.Name)
			acancel()
			if err != nil {
				return fmt.Errorf("adding %s: %w", cmd.Name, err)
			}
		case "hello":
			hctx, hcancel := context.WithTimeout(ctx, 90*time.Second)
			err := c.Send(hctx, cmd.Name, labText(u.name, 0))
			if err == nil {
				err = c.Flush(hctx)
			}
			hcancel()
			if err != nil {
				return fmt.Errorf("first message to %s: %w", cmd.Name, err)
			}
			u.ackMu.Lock()
			u.baseline, u.counting = u.appAcks, true
			u.ackMu.Unlock()
			u.emit(UserEvent{Ev: "ready"})
			// What the client knows by now (server link and book), for the
			// runner's path model; the runner never tells it what to use.
			u.emit(UserEvent{Ev: "paths", Text: strings.Join(c.KnownPaths(), "\n")})
		case "start":
			stopSend()
			sctx, cancel := context.WithCancel(ctx)
			stopSend = cancel
			go u.sendLoop(sctx, c, cmd.Name)
		case "stop":
			stopSend()
		default:
			return fmt.Errorf("unknown command %q", cmd.Cmd)
		}
	}
	return nil
}

// redeem redeems the user's invitation, if it has one, as a user who
// joined before being invited: its first book comes from the probation
// bucket, the one fetched after the invitation adds relays of invited
// users.
func (u *labUser) redeem(ctx context.Context, c *client.Client) error {
	if u.invitation == "" {
		return nil
	}
	tok, err := base64.RawURLEncoding.DecodeString(u.invitation)
	if err != nil {
		return fmt.Errorf("--invitation: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := c.FetchBook(rctx); err != nil {
		return fmt.Errorf("the first book: %w", err)
	}
	if err := c.RedeemInvitation(rctx, tok); err != nil {
		return fmt.Errorf("redeeming the invitation: %w", err)
	}
	u.emit(UserEvent{Ev: "log", Text: "invitation redeemed"})
	return nil
}

// sendLoop sends "lab NAME n" to peer every u.every; each Send only stores
// the message in the outbox, so it works offline.
func (u *labUser) sendLoop(ctx context.Context, c *client.Client, peer string) {
	t := time.NewTicker(u.every)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.Send(ctx, peer, labText(u.name, n)); err != nil {
			if ctx.Err() != nil {
				return
			}
			u.emit(UserEvent{Ev: "error", Text: "send: " + err.Error()})
			n--
			continue
		}
		u.emit(UserEvent{Ev: "sent", N: n})
	}
}

// onSent counts the server's acknowledgements of application messages.
// The outbox sends one message at a time in order, so after the hello the
// k-th acknowledged application message is numbered message k.
func (u *labUser) onSent(s client.SentInfo) {
	if s.Kind != wire.KindApplication {
		return
	}
	u.ackMu.Lock()
	u.appAcks++
	n, counting := u.appAcks-u.baseline, u.counting
	u.ackMu.Unlock()
	if counting {
		u.emit(UserEvent{Ev: "acked", N: n})
	}
}

// onPath reports the path in use: "up PATH" or "down REASON".
func (u *labUser) onPath(p client.PathStatus) {
	if p.Connected {
		u.emit(UserEvent{Ev: "path", Text: "up " + p.Path, From: p.Transport})
	} else {
		u.emit(UserEvent{Ev: "path", Text: "down " + p.LastError})
	}
}

func (u *labUser) onMessage(m client.Message) {
	if m.Kind != client.MessageText || m.Out {
		return
	}
	if from, n, ok := parseLabText(m.Text); ok {
		u.emit(UserEvent{Ev: "recv", From: from, N: n})
	}
}
