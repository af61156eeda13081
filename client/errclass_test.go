//go:build !js

package client

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/wire"
)

// TestDamagedStoreIsNotNoAccount: a damaged value in the local store says
// the store is damaged and how to restore it, not "no account".
func TestDamagedStoreIsNotNoAccount(t *testing.T) {
	link := startServer(t)
	home := filepath.Join(t.TempDir(), "ann")
	c, err := Init(InitOptions{Options: userOptions(t, home, "ann"), Server: link, Name: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	db, err := sql.Open("sqlite", filepath.Join(home, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE kv SET v = zeroblob(length(v)) WHERE ns = 'self'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(userOptions(t, home, "ann"))
	var d *DamagedStoreError
	if !errors.As(err, &d) || errors.Is(err, ErrNoAccount) {
		t.Fatalf("Open of a damaged store: %v", err)
	}
}

// TestAdversaryInterceptionIsNotUnreachable: a server that answers at the
// link's address without the link's key (an interceptor, or a key that
// changed) is reported as such, apart from an address nobody answers.
func TestAdversaryInterceptionIsNotUnreachable(t *testing.T) {
	real := startServer(t)
	other, err := securechan.GenerateServerKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The interceptor: the real server's address, another key in the link.
	forged := ServerLink{Key: other.Public(), Addrs: real.Addrs}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		link ServerLink
		want any
	}{
		{forged, new(*IdentityError)},
		{ServerLink{Key: real.Key, Addrs: []string{dead}}, new(*UnreachableError)},
	} {
		c, err := Init(InitOptions{Options: userOptions(t, filepath.Join(t.TempDir(), "u"), "u"), Server: tc.link, Name: "u"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c.Start(ctx)
		if c.WaitOnline(ctx) == nil {
			t.Fatal("online through a forged link")
		}
		cancel()
		last := c.LastConnectError()
		if !errors.As(last, tc.want) {
			t.Errorf("link %v: last error %T %v", tc.link.Addrs, last, last)
		}
		c.Close()
	}
}

// TestServerFullWaitReason: a Send the server refuses because its disk is
// full (or a quota is used up) stays queued, and the client says why.
func TestServerFullWaitReason(t *testing.T) {
	c := &Client{}
	if r := c.OutboxWaitReason(); r != "" {
		t.Fatalf("no refusal yet: %q", r)
	}
	c.noteSendRetry(&wire.Error{Code: wire.CodeStorageFull})
	if r := c.OutboxWaitReason(); !strings.Contains(r, "the server is out of space; your message waits") {
		t.Errorf("StorageFull: %q", r)
	}
	c.noteSendRetry(&wire.Error{Code: wire.CodeQuotaExceeded})
	if r := c.OutboxWaitReason(); !strings.Contains(r, "quota") {
		t.Errorf("QuotaExceeded: %q", r)
	}
	if !wire.CodeStorageFull.Retryable() || permanent(&wire.Error{Code: wire.CodeStorageFull}) {
		t.Error("a full server must not fail the message for good")
	}
}
