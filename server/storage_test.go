package server_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samizdat-project/samizdat/internal/testenv"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store"
	"github.com/samizdat-project/samizdat/store/sqlite"
	"github.com/samizdat-project/samizdat/wire"
)

// mountTmpfs mounts a tmpfs of size (mount's syntax, "24m") and returns
// its path. It needs root: outside CI the test is skipped without it; under
// CI=true it fails, naming what is missing.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Require(t, errors.New("not running as root"), "root (to mount a small tmpfs)", "run the tests as root, as .ci/run does")
	}
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -t tmpfs (install util-linux's mount): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestStorageFullTmpfs: on a small file system, Sends are refused with
// CodeStorageFull before (guard on) or when (guard off: the store's own
// error) the disk fills; every acknowledged message survives a restart;
// Sends are accepted again once space returns.
func TestStorageFullTmpfs(t *testing.T) {
	for _, guard := range []bool{true, false} {
		name := map[bool]string{true: "reserve", false: "store-full"}[guard]
		t.Run(name, func(t *testing.T) { storageFull(t, guard) })
	}
}

func storageFull(t *testing.T, guard bool) {
	dir := mountTmpfs(t, "24m")
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 6<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "db.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	quotas := server.Quotas{DataDir: dir, ReserveBytes: 4 << 20, MailboxBytes: -1, AccountBytes: -1}
	if !guard {
		quotas.ReserveBytes = -1
	}
	ts := startServerWith(t, st, st, func(c *server.Config) { c.Quotas = quotas })
	alice, bob := newIdentity(newAccount()), newIdentity(newAccount())
	ca := connect(t, ts, alice)
	connect(t, ts, bob)

	payload := strings.Repeat("x", 200<<10)
	var acked []wire.MsgID
	refused := 0
	send := func() (*wire.Error, bool) {
		m := app(payload, bob.deviceID())
		switch r := ca.call(m).(type) {
		case *wire.Ack:
			acked = append(acked, m.MsgID)
			return nil, true
		case *wire.Error:
			return r, false
		default:
			t.Fatalf("Send answered %v", r.Type())
		}
		return nil, false
	}
	for range 400 {
		if e, ok := send(); !ok {
			if e.Code != wire.CodeStorageFull {
				t.Fatalf("after %d acknowledged Sends, a Send was refused with %v (%q), want StorageFull", len(acked), e.Code, e.Message)
			}
			refused++
			if refused == 3 {
				break
			}
		}
	}
	if refused == 0 {
		t.Fatalf("%d Sends of %d bytes filled a 24 MB file system without a refusal", len(acked), len(payload))
	}
	t.Logf("%d Sends acknowledged, then %d refused with StorageFull", len(acked), refused)

	// Space returns: the operator frees some.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if e, ok := send(); !ok {
		t.Fatalf("after space returned, a Send was refused: %v %q", e.Code, e.Message)
	}

	// Every acknowledged message is there after a restart.
	ts.stop(t)
	st.Close()
	st2, err := sqlite.Open(context.Background(), filepath.Join(dir, "db.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	entries, err := st2.Pending(context.Background(), store.DeviceID(bob.deviceID()), 0, store.MaxPendingLimit)
	if err != nil {
		t.Fatal(err)
	}
	have := map[wire.MsgID]bool{}
	for _, e := range entries {
		if !bytes.Equal(e.Payload, []byte(payload)) {
			t.Fatalf("entry %d has a damaged payload", e.Seq)
		}
		have[wire.MsgID(e.MsgID)] = true
	}
	for i, id := range acked {
		if !have[id] {
			t.Fatalf("acknowledged message %d of %d is missing after the disk filled", i, len(acked))
		}
	}
}
