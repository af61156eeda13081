package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/wire"
)

func init() {
	register("demo", "watch two users exchange end-to-end encrypted messages (local, a few seconds)", runDemo)
}

// demo is one run of the demo: a server on loopback and two users.
type demo struct {
	e   env
	dir string

	mu      sync.Mutex // guards out, inbox and mailbox
	out     io.Writer
	inbox   map[string]chan client.Message
	mailbox map[client.DeviceID]string // device id -> whose mailbox
	started bool                       // the chat exists
}

func runDemo(e env) int {
	fs := newFlags(e, "demo")
	keep := fs.Bool("keep", false, "keep the temporary directory (to look at the encrypted stores)")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	dir, err := os.MkdirTemp("", "samizdat-demo-")
	if err != nil {
		return fail(e, "demo", err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	d := &demo{e: e, dir: dir, out: e.stdout, inbox: map[string]chan client.Message{}, mailbox: map[client.DeviceID]string{}}
	ctx, cancel := signalContext()
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	defer tcancel()
	if err := d.run(ctx); err != nil {
		return fail(e, "demo", err)
	}
	if *keep {
		d.say("The files are kept in %s.", dir)
	}
	return 0
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format+"\n", args...)
}

func (d *demo) step(n int, title string) { d.say("\n%d. %s", n, title) }

func short(b []byte) string { return base64.RawURLEncoding.EncodeToString(b[:6]) + "…" }

func (d *demo) run(ctx context.Context) error {
	d.say("samizdat demo: a server and two users, Alice and Bob, on this computer only (127.0.0.1).")
	d.say("Everything lives in %s and is deleted at the end.", d.dir)

	d.step(1, "Start a server")
	link, stop, err := d.startServer(ctx)
	if err != nil {
		return err
	}
	defer stop()
	d.say("   The server stores and forwards messages. Its link pins its public key, so no one in the middle can pretend to be it:")
	d.say("   %s", link)

	d.step(2, "Alice and Bob create accounts")
	alice, err := d.newUser(ctx, "alice", link)
	if err != nil {
		return err
	}
	defer alice.Close()
	bob, err := d.newUser(ctx, "bob", link)
	if err != nil {
		return err
	}
	defer bob.Close()
	for _, c := range []*client.Client{alice, bob} {
		acct := c.AccountKey()
		d.say("   %-5s account key %s (no phone number, no e-mail: the key is the account)", c.Name(), short(acct[:]))
	}
	d.say("   Each keeps its private keys in a local store encrypted with its passphrase (Argon2id + XChaCha20-Poly1305).")
	d.say("   Each device connected over an encrypted channel (Noise + ML-KEM-768), registered, and uploaded")
	d.say("   one-time MLS key packages so that others can start chats with it while it is offline.")

	d.step(3, "They exchange invite links (in real life: in person, by QR code, or any channel)")
	d.say("   Alice's link: %s", alice.Invite())
	if _, err := bob.AddContact(ctx, alice.Invite(), ""); err != nil {
		return err
	}
	if _, err := alice.AddContact(ctx, bob.Invite(), ""); err != nil {
		return err
	}
	sa, _ := alice.SafetyNumber(ctx, "bob")
	sb, _ := bob.SafetyNumber(ctx, "alice")
	d.say("   Safety number Alice sees: %s", sa.Digits)
	d.say("   Safety number Bob sees:   %s", sb.Digits)
	if sa != sb {
		return fmt.Errorf("the safety numbers differ; this is a bug")
	}
	d.say("   They match, so the server did not swap anyone's keys.")

	d.step(4, "Alice writes to Bob")
	if err := d.exchange(ctx, alice, "bob", bob, "Hello Bob! Nobody but you can read this."); err != nil {
		return err
	}
	d.step(5, "Bob replies")
	if err := d.exchange(ctx, bob, "alice", alice, "Hi Alice, received and decrypted on my side only."); err != nil {
		return err
	}

	d.step(6, "What the server knew")
	d.say("   Mailbox ids (hashes of device keys), group hashes, epochs, sizes, and from the channel who sent each one.")
	d.say("   Messages and invitations were encrypted; group changes carry only public keys and encrypted secrets.")
	d.say("   The MLS group id and epoch travel in clear inside every message (RFC 9420 framing), so it can link a group's traffic.")
	d.say("   It never saw a message text or a private key; Alice's and Bob's stores on disk are encrypted.")
	d.say("\nDone. Try it for real: samizdat server --data DIR, then samizdat init --server LINK on each side.")
	return nil
}

// exchange has from send text to to, and waits until to decrypted it.
func (d *demo) exchange(ctx context.Context, from *client.Client, toName string, to *client.Client, text string) error {
	d.say("   %s types: %q", from.Name(), text)
	d.say("   It is encrypted on %s's device with MLS (RFC 9420, post-quantum X-Wing suite). The server receives:", from.Name())
	if !d.started {
		d.started = true
		d.say("     (the first message creates the chat: a group change that registers the group, an invitation")
		d.say("      only Bob's device can open, a message saying what the chat is, then the text itself)")
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := from.Send(sctx, toName, text); err != nil {
		return err
	}
	if err := from.Flush(sctx); err != nil {
		return err
	}
	select {
	case m := <-d.inboxOf(to.Name()):
		d.say("   %s's device decrypts it: %q (from %s)", to.Name(), m.Text, m.From)
	case <-sctx.Done():
		return fmt.Errorf("%s did not receive the message in time", to.Name())
	}
	return nil
}

func (d *demo) inboxOf(name string) chan client.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inbox[name] == nil {
		d.inbox[name] = make(chan client.Message, 16)
	}
	return d.inbox[name]
}

// startServer runs a real server with a sqlite store on 127.0.0.1:0.
func (d *demo) startServer(ctx context.Context) (client.ServerLink, func(), error) {
	sctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(sctx, filepath.Join(d.dir, "server.db"), nil)
	if err != nil {
		cancel()
		return client.ServerLink{}, nil, err
	}
	key, err := securechan.GenerateServerKey(nil)
	if err != nil {
		cancel()
		st.Close()
		return client.ServerLink{}, nil, err
	}
	srv, err := server.New(server.Config{Store: st, Key: key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: time.Second})
	if err != nil {
		cancel()
		st.Close()
		return client.ServerLink{}, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		st.Close()
		return client.ServerLink{}, nil, err
	}
	done := make(chan struct{})
	go func() { srv.Serve(sctx, ln); close(done) }()
	stop := func() { cancel(); <-done; st.Close() }
	return client.ServerLink{Key: key.Public(), Addrs: []string{ln.Addr().String()}}, stop, nil
}

// newUser creates an account in its own home and connects it.
func (d *demo) newUser(ctx context.Context, name string, link client.ServerLink) (*client.Client, error) {
	pass := make([]byte, 16)
	rand.Read(pass)
	o := client.Options{
		Home: filepath.Join(d.dir, name), Passphrase: []byte(hex.EncodeToString(pass)),
		KDF: &client.LightKDF, KeyPackageBatch: 5,
		OnMessage: func(m client.Message) {
			if m.Kind == client.MessageText && !m.Out {
				d.inboxOf(name) <- m
			}
		},
		OnSent: func(s client.SentInfo) {
			var boxes []string
			d.mu.Lock()
			for _, r := range s.Recipients {
				boxes = append(boxes, short(r[:])+" ("+d.mailbox[r]+"'s device)")
			}
			d.mu.Unlock()
			what := map[wire.Kind]string{wire.KindCommit: "group change", wire.KindWelcome: "invitation", wire.KindApplication: "message"}[s.Kind]
			to := "to mailbox " + strings.Join(boxes, ", ")
			if len(boxes) == 0 {
				to = "to no mailbox (it only registers the group)"
			}
			d.say("     - %-12s %4d bytes, group %s, epoch %d, %s",
				what+":", s.PayloadSize, short(s.Group[:]), s.Epoch, to)
		},
	}
	c, err := client.Init(client.InitOptions{Options: o, Server: link, Name: name})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.mailbox[client.DeviceIDOf(c.DeviceKey())] = name
	d.mu.Unlock()
	c.Start(ctx)
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := c.WaitOnline(wctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
