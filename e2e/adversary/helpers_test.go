package adversary

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/wire"
)

const pass = "adversary correct horse battery staple"

// newUser makes an honest client (a new account, or a device of the
// account with accountSeed) on the server and starts it.
func newUser(t *testing.T, link client.ServerLink, name string, accountSeed []byte) *client.Client {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	c, err := client.Init(client.InitOptions{Options: client.Options{Home: home, Passphrase: []byte(pass), KDF: &client.LightKDF, KeyPackageBatch: 5,
		Logf: func(f string, a ...any) { t.Logf(name+": "+f, a...) }}, Server: link, Name: name, AccountSeed: accountSeed})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(context.Background())
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitOnline(ctx); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// contacts makes an honest user on srv for each name (see newUser), each a
// contact of every other.
func contacts(t *testing.T, srv *Server, names ...string) []*client.Client {
	t.Helper()
	users := make([]*client.Client, len(names))
	for i, name := range names {
		users[i] = newUser(t, srv.Link, name, nil)
		for _, earlier := range users[:i] {
			befriend(t, earlier, users[i])
		}
	}
	return users
}

// aliceAndBob starts a server with the two honest users of most attacks
// on it, contacts of each other.
func aliceAndBob(t *testing.T) (srv *Server, alice, bob *client.Client) {
	t.Helper()
	srv = StartServer(t)
	u := contacts(t, srv, "alice", "bob")
	return srv, u[0], u[1]
}

// befriend makes a and b contacts of each other.
func befriend(t *testing.T, a, b *client.Client) {
	t.Helper()
	if _, err := a.AddContact(context.Background(), b.Invite(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddContact(context.Background(), a.Invite(), ""); err != nil {
		t.Fatal(err)
	}
}

func messages(t *testing.T, c *client.Client) []client.Message {
	t.Helper()
	ms, err := c.Messages(context.Background(), "", false)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// waitMessage waits until c shows a message that match accepts.
func waitMessage(t *testing.T, c *client.Client, what string, match func(client.Message) bool) client.Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, m := range messages(t, c) {
			if match(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %s; it shows:\n%s", c.Name(), what, dump(messages(t, c)))
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// noMessage fails if c shows, now or within d, a message match accepts.
func noMessage(t *testing.T, c *client.Client, d time.Duration, what string, match func(client.Message) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, m := range messages(t, c) {
			if match(m) {
				t.Fatalf("%s shows %s: %+v; all:\n%s", c.Name(), what, m, dump(messages(t, c)))
			}
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func warning(sub string) func(client.Message) bool {
	return func(m client.Message) bool {
		return m.Kind == client.MessageError && strings.Contains(m.Text, "WARNING") && strings.Contains(m.Text, sub)
	}
}

func text(from, body string) func(client.Message) bool {
	return func(m client.Message) bool {
		return m.Kind == client.MessageText && !m.Out && m.From == from && m.Text == body
	}
}

func dump(ms []client.Message) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString("  [" + m.Chat + "] " + m.Kind + " " + m.From + ": " + m.Text + "\n")
	}
	return b.String()
}

func sendText(t *testing.T, c *client.Client, to, body string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Send(ctx, to, body); err != nil {
		return err
	}
	return c.Flush(ctx)
}

func deviceID(c *client.Client) wire.DeviceID { return client.DeviceIDOf(c.DeviceKey()) }

// gotFrom reports whether m received any message of the chat group.
func gotGroup(m *Member, group wire.GroupHash) bool {
	for _, d := range m.Delivered() {
		if d.Group == group {
			return true
		}
	}
	return false
}
