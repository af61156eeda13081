package server_test

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/samizdat-project/samizdat/internal/e2etest"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/wire"
)

// TestAdversaryDiskFillQuotas: open registration lets anyone make accounts
// and send to their own devices; a Send is copied per recipient. The
// per-Send budget refuses with TooLarge (it can never pass unchanged), the
// mailbox and account quotas with QuotaExceeded, and the mailbox takes
// messages again once read.
func TestAdversaryDiskFillQuotas(t *testing.T) {
	var free atomic.Int64
	free.Store(1 << 40)
	var logs e2etest.Buffer
	ts := startServer(t, func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) // the default level
		c.Quotas = server.Quotas{SendBytes: 100_000, MailboxBytes: 50_000, AccountBytes: 80_000, ReserveBytes: 1 << 20,
			FreeBytes: func() (uint64, error) { return uint64(free.Load()), nil }}
	})
	acc := newAccount()
	d1, d2 := newIdentity(acc), newIdentity(acc)
	c1 := connect(t, ts, d1)
	connect(t, ts, d2)
	attacker := connect(t, ts, newIdentity(newAccount()))
	chunk := strings.Repeat("z", 10_000)

	// Budget: 11 recipients x 10,000 bytes > 100,000.
	many := []wire.DeviceID{d1.deviceID(), d2.deviceID()}
	for range 9 {
		id := newIdentity(newAccount())
		connect(t, ts, id)
		many = append(many, id.deviceID())
	}
	e := attacker.wantError(app(chunk, many...), wire.CodeTooLarge)
	if !strings.Contains(e.Message, "recipients") {
		t.Errorf("budget refusal %q does not say what to do", e.Message)
	}

	// Mailbox: five 10,000-byte messages fit in 50,000; the sixth does not.
	for range 5 {
		attacker.must(app(chunk, d1.deviceID()), wire.TypeAck)
	}
	attacker.wantError(app(chunk, d1.deviceID()), wire.CodeQuotaExceeded)
	// Account: d2 has room, but the account holds 50,000 + 30,000 = 80,000.
	for range 3 {
		attacker.must(app(chunk, d2.deviceID()), wire.TypeAck)
	}
	attacker.wantError(app(chunk, d2.deviceID()), wire.CodeQuotaExceeded)

	// d1 reads its mailbox: room again, for d1 and the account.
	c1.must(&wire.Subscribe{}, wire.TypeOK)
	var last uint64
	for range 5 {
		last = c1.next().Seq
	}
	c1.must(&wire.AckDelivery{UpToSeq: last}, wire.TypeOK)
	attacker.must(app(chunk, d1.deviceID()), wire.TypeAck)

	// The disk reserve: short of it, StorageFull, whoever the recipient.
	free.Store(1<<20 + 5_000)
	attacker.wantError(app(chunk, d1.deviceID()), wire.CodeStorageFull)
	free.Store(1 << 40)
	attacker.must(app(chunk, d1.deviceID()), wire.TypeAck)
	if ts.metrics.Refused.Load() < 4 {
		t.Errorf("refused counter %d, want at least 4", ts.metrics.Refused.Load())
	}
	out := logs.String()
	for _, reason := range []string{"send budget", "mailbox quota", "account quota", "disk reserve"} {
		if !strings.Contains(out, "msg=refused reason=\""+reason+"\"") {
			t.Errorf("the log has no refusal for %q:\n%s", reason, out)
		}
	}
	if strings.Contains(out, chunk[:100]) {
		t.Error("the log holds message contents")
	}
}
