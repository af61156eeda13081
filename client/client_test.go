//go:build !js

package client

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/server/servertest"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/store/sqlite/sqlitetest"
)

// startServer runs a real server with a sqlite store on 127.0.0.1.
func startServer(t *testing.T) ServerLink {
	t.Helper()
	link, _ := startServerStore(t)
	return link
}

// startServerStore is startServer that also returns the server's store, so
// that a test can read a device's mailbox.
func startServerStore(t *testing.T) (ServerLink, *sqlite.Store) {
	t.Helper()
	st := sqlitetest.Open(t)
	key, addr := servertest.Serve(t, server.Config{Store: st}, func() { st.Close() })
	return ServerLink{Key: key, Addrs: []string{addr}}, st
}

const testPass = "correct horse battery staple"

// newUser makes an account (or a device of an existing one) in a fresh
// home directory and starts it.
func newUser(t testing.TB, link ServerLink, name string, accountSeed []byte) *Client {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	c, err := Init(InitOptions{Options: userOptions(t, home, name), Server: link, Name: name, AccountSeed: accountSeed})
	if err != nil {
		t.Fatal(err)
	}
	startUser(t, c)
	return c
}

func userOptions(t testing.TB, home, name string) Options {
	return Options{Home: home, Passphrase: []byte(testPass), KDF: &LightKDF, KeyPackageBatch: 10,
		Logf: func(f string, a ...any) { t.Logf(name+": "+f, a...) }}
}

func startUser(t testing.TB, c *Client) {
	t.Helper()
	c.Start(context.Background())
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitOnline(ctx); err != nil {
		t.Fatalf("%s: %v", c.Name(), err)
	}
}

// friends makes a user on the server at link for each name, each a
// contact of every other.
func friends(t testing.TB, link ServerLink, names ...string) []*Client {
	t.Helper()
	users := make([]*Client, len(names))
	for i, name := range names {
		users[i] = newUser(t, link, name, nil)
		for _, earlier := range users[:i] {
			befriend(t, earlier, users[i])
		}
	}
	return users
}

// threeFriends makes alice, bob and carol on the server at link, each a
// contact of the other two.
func threeFriends(t testing.TB, link ServerLink) (alice, bob, carol *Client) {
	t.Helper()
	u := friends(t, link, "alice", "bob", "carol")
	return u[0], u[1], u[2]
}

// newGroup makes owner's group called name and adds the contacts called
// members to it.
func newGroup(t testing.TB, ctx context.Context, owner *Client, name string, members ...string) {
	t.Helper()
	if err := owner.CreateGroup(ctx, name); err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if err := owner.AddToGroup(ctx, name, m); err != nil {
			t.Fatalf("adding %s to %s: %v", m, name, err)
		}
	}
}

// befriend makes a and b contacts of each other.
func befriend(t testing.TB, a, b *Client) {
	t.Helper()
	addContact(t, a, b)
	addContact(t, b, a)
}

// addContact adds other to c's contacts with other's invite link.
func addContact(t testing.TB, c, other *Client) {
	t.Helper()
	if _, err := c.AddContact(context.Background(), other.Invite(), ""); err != nil {
		t.Fatalf("%s adding %s: %v", c.Name(), other.Name(), err)
	}
}

// waitText waits until c has stored a text message from someone (not
// itself) with exactly text, in the chat called chat.
func waitText(t *testing.T, c *Client, chat, from, text string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ms, err := c.Messages(context.Background(), "", false)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Kind == MessageText && !m.Out && m.Text == text && m.From == from && m.Chat == chat {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ms, _ := c.Messages(context.Background(), "", false)
	t.Fatalf("%s never received %q from %s in %s; has %+v", c.Name(), text, from, chat, ms)
}

func send(t *testing.T, c *Client, to, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Send(ctx, to, text); err != nil {
		t.Fatalf("%s sending to %s: %v", c.Name(), to, err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDirectChatBothWays(t *testing.T) {
	_, alice, bob := twoFriends(t)
	send(t, alice, "bob", "hello bob")
	waitText(t, bob, "alice", "alice", "hello bob")
	send(t, bob, "alice", "hello alice")
	waitText(t, alice, "bob", "bob", "hello alice")
	send(t, alice, "bob", "second")
	waitText(t, bob, "alice", "alice", "second")

	// Both sides see one direct chat with both accounts, at the same epoch.
	ca, _ := alice.Chats(context.Background())
	cb, _ := bob.Chats(context.Background())
	if len(ca) != 1 || len(cb) != 1 || ca[0].Kind != KindDirect || cb[0].Kind != KindDirect || ca[0].Epoch != cb[0].Epoch {
		t.Fatalf("chats: alice %+v, bob %+v", ca, cb)
	}
	// Safety numbers agree.
	sa, _ := alice.SafetyNumber(context.Background(), "bob")
	sb, _ := bob.SafetyNumber(context.Background(), "alice")
	if sa != sb || len(strings.ReplaceAll(sa.Digits, " ", "")) != 60 {
		t.Fatalf("safety numbers differ: %q vs %q", sa.Digits, sb.Digits)
	}
}

func TestOfflineRecipientReceivesLater(t *testing.T) {
	_, alice, bob := twoFriends(t)
	bobHome := bob.opts.Home
	bob.Close() // registered and keys published; now offline
	send(t, alice, "bob", "while you were away")
	send(t, alice, "bob", "and another")

	bob2, err := Open(userOptions(t, bobHome, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	startUser(t, bob2)
	waitText(t, bob2, "alice", "alice", "while you were away")
	waitText(t, bob2, "alice", "alice", "and another")
	send(t, bob2, "alice", "back")
	waitText(t, alice, "bob", "bob", "back")
}

func TestSecondDeviceReceives(t *testing.T) {
	link := startServer(t)
	alice, bob := newUser(t, link, "alice", nil), newUser(t, link, "bob", nil)
	bobPhone := newUser(t, link, "bob", bob.AccountSeed())
	befriend(t, alice, bob)
	addContact(t, bobPhone, alice)
	send(t, alice, "bob", "to all your devices")
	waitText(t, bob, "alice", "alice", "to all your devices")
	waitText(t, bobPhone, "alice", "alice", "to all your devices")

	// Bob's own devices see each other's messages too.
	send(t, bobPhone, "alice", "from the phone")
	waitText(t, alice, "bob", "bob", "from the phone")
	waitText(t, bob, "alice", "me", "from the phone")

	// A device that appears later is added to existing chats by another
	// device of the same account.
	bobTablet := newUser(t, link, "bob", bob.AccountSeed())
	addContact(t, bobTablet, alice)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	bob.SyncDevices(ctx)
	send(t, alice, "bob", "tablet too")
	waitText(t, bobTablet, "alice", "alice", "tablet too")
}

func TestGroupOfThree(t *testing.T) {
	link := startServer(t)
	alice, bob, carol := threeFriends(t, link)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	newGroup(t, ctx, alice, "friends", "bob", "carol")
	send(t, alice, "friends", "hi both")
	waitText(t, bob, "friends", "alice", "hi both")
	waitText(t, carol, "friends", "alice", "hi both")
	send(t, carol, "friends", "hi from carol")
	waitText(t, alice, "friends", "carol", "hi from carol")
	waitText(t, bob, "friends", "carol", "hi from carol")

	if err := alice.RemoveFromGroup(ctx, "friends", "carol"); err != nil {
		t.Fatal(err)
	}
	send(t, alice, "friends", "carol is gone")
	waitText(t, bob, "friends", "alice", "carol is gone")
	members, err := alice.GroupMembers(ctx, "friends")
	if err != nil || strings.Join(members, ",") != "bob,me" {
		t.Fatalf("members after removal: %v %v", members, err)
	}
	time.Sleep(200 * time.Millisecond)
	ms, _ := carol.Messages(ctx, "friends", false)
	for _, m := range ms {
		if m.Text == "carol is gone" {
			t.Fatal("a removed member read a message sent after the removal")
		}
	}
}

// twoFriends starts a server and makes alice and bob on it, contacts of
// each other.
func twoFriends(t *testing.T) (link ServerLink, alice, bob *Client) {
	t.Helper()
	link = startServer(t)
	u := friends(t, link, "alice", "bob")
	return link, u[0], u[1]
}

// fourFriends makes alice, bob, carol and dave on the server at link, each
// a contact of the three others.
func fourFriends(t *testing.T, link ServerLink) (alice, bob, carol, dave *Client) {
	t.Helper()
	u := friends(t, link, "alice", "bob", "carol", "dave")
	return u[0], u[1], u[2], u[3]
}

func TestConcurrentCommitsRebase(t *testing.T) {
	link := startServer(t)
	alice, bob, carol, dave := fourFriends(t, link)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	groupOfTwo(t, ctx, alice, bob)

	// Both build a commit for the same epoch before either sends it.
	var barrier sync.WaitGroup
	barrier.Add(2)
	var once [2]sync.Once
	for i, c := range []*Client{alice, bob} {
		c.testHookCommitBuilt = func() { once[i].Do(func() { barrier.Done(); barrier.Wait() }) }
	}
	errs := make(chan error, 2)
	go func() { errs <- alice.AddToGroup(ctx, "team", "carol") }()
	go func() { errs <- bob.AddToGroup(ctx, "team", "dave") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := alice.rebases.Load() + bob.rebases.Load(); got != 1 {
		t.Fatalf("%d rebases, want exactly 1 (one of the two commits lost the epoch)", got)
	}
	send(t, alice, "team", "all four")
	for _, c := range []*Client{bob, carol, dave} {
		waitText(t, c, "team", "alice", "all four")
	}
	var epochs []uint64
	for _, c := range []*Client{alice, bob, carol, dave} {
		chats, _ := c.Chats(ctx)
		for _, ch := range chats {
			if ch.Name == "team" {
				epochs = append(epochs, ch.Epoch)
				if len(ch.Members) != 4 {
					t.Errorf("%s sees members %v", c.Name(), ch.Members)
				}
			}
		}
	}
	if len(epochs) != 4 || epochs[0] != epochs[1] || epochs[1] != epochs[2] || epochs[2] != epochs[3] {
		t.Fatalf("epochs differ: %v", epochs)
	}
}

func TestWrongPassphrase(t *testing.T) {
	home := t.TempDir()
	link := ServerLink{Key: securechan.ServerPublic{1}, Addrs: []string{"127.0.0.1:1"}}
	c, err := Init(InitOptions{Options: Options{Home: home, Passphrase: []byte("right"), KDF: &LightKDF}, Server: link, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := Open(Options{Home: home, Passphrase: []byte("wrong")}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: got %v", err)
	}
	if _, err := Open(Options{Home: t.TempDir(), Passphrase: []byte("right")}); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("empty home: got %v", err)
	}
	c, err = Open(Options{Home: home, Passphrase: []byte("right")})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestStoreHoldsNoSecretsInClear scans every file of both homes for the
// plaintexts and private keys.
func TestStoreHoldsNoSecretsInClear(t *testing.T) {
	_, alice, bob := twoFriends(t)
	secretText := "the meeting is at the old mill at nine"
	send(t, alice, "bob", secretText)
	waitText(t, bob, "alice", "alice", secretText)
	var needles [][]byte
	for _, c := range []*Client{alice, bob} {
		needles = append(needles, append([]byte(nil), c.keys.AccountSeed...), append([]byte(nil), c.keys.DeviceSeed...))
	}
	needles = append(needles, []byte(secretText), []byte("old mill"))
	homes := []string{alice.opts.Home, bob.opts.Home}
	alice.Close()
	bob.Close()
	for _, home := range homes {
		noneInClear(t, home, needles)
	}
}

// noneInClear fails t unless dir holds files and none of them contains one
// of needles.
func noneInClear(t *testing.T, dir string, needles [][]byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatalf("no files in %s to check", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds %q in clear", f, n)
			}
		}
	}
}
