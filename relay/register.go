package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/wire"
)

// Registration registers a relay with the server so that the server
// publishes it in its endpoint book (wire.RegisterRelay). The relay opens
// an ordinary secure channel to the server with a throwaway device key and
// proves with the operator's token that the operator trusts it.
type Registration struct {
	Server securechan.ServerPublic // the server key, from the server link
	Dialer transport.Dialer        // reaches the server (the relay's upstream)
	Token  []byte                  // the operator's registration token; secret
	Spec   transport.Spec          // what clients dial to reach this relay
	Label  string                  // the relay's name, for people
	// Every is how often Run registers again (default 6 h); the server
	// drops relays that stop registering.
	Every   time.Duration
	Timeout time.Duration // bounds one registration (default 30 s)
	Logger  *slog.Logger  // Run's log (slog.Default if nil)
}

// Register registers the relay once. A wrong token is a *wire.Error with
// CodeUnauthorized.
func (reg *Registration) Register(ctx context.Context) error {
	timeout := reg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := reg.Dialer.Dial(ctx)
	if err != nil {
		return fmt.Errorf("relay: registering: reaching the server: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	_, device, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("relay: registering: %w", err)
	}
	sc, err := securechan.Client(ctx, conn, securechan.ClientConfig{ServerPublic: reg.Server, DeviceKey: device})
	if err != nil {
		return fmt.Errorf("relay: registering: %w", err)
	}
	defer sc.Close()
	if dl, ok := ctx.Deadline(); ok {
		sc.SetDeadline(dl)
	}
	if _, err := call(sc, 1, &wire.ClientHello{MinVersion: wire.Version, MaxVersion: wire.Version}, wire.TypeServerHello); err != nil {
		return fmt.Errorf("relay: registering: hello: %w", err)
	}
	req := &wire.RegisterRelay{Token: reg.Token, Spec: reg.Spec.String(), Label: reg.Label}
	if _, err := call(sc, 2, req, wire.TypeOK); err != nil {
		return fmt.Errorf("relay: registering: %w", err)
	}
	return nil
}

// call sends one request and reads frames until its answer, which must be
// of type want or an Error (returned as the error).
func call(sc *securechan.Conn, id uint32, m wire.Message, want wire.Type) (wire.Message, error) {
	b, err := wire.Encode(wire.Frame{RequestID: id, Msg: m})
	if err != nil {
		return nil, err
	}
	if err := sc.Send(b); err != nil {
		return nil, err
	}
	for {
		msg, err := sc.Recv()
		if err != nil {
			return nil, err
		}
		f, err := wire.Decode(msg)
		if err != nil {
			return nil, err
		}
		if e, ok := f.Msg.(*wire.Error); ok && (f.RequestID == id || f.RequestID == 0) {
			return nil, e
		}
		if f.RequestID != id {
			continue // a push; none is expected
		}
		if f.Msg.Type() != want {
			return nil, fmt.Errorf("answer %v, want %v", f.Msg.Type(), want)
		}
		return f.Msg, nil
	}
}

// Run registers now and then every reg.Every until ctx ends. A failure is
// logged (never the token) and retried after a minute, doubling up to
// Every; a wrong token is retried at Every only, since the operator must
// act.
func (reg *Registration) Run(ctx context.Context) {
	every := reg.Every
	if every <= 0 {
		every = 6 * time.Hour
	}
	log := reg.Logger
	if log == nil {
		log = slog.Default()
	}
	retry := time.Minute
	for {
		wait := every
		err := reg.Register(ctx)
		var we *wire.Error
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			log.Info("registered with the server", "next", every)
			retry = time.Minute
		case errors.As(err, &we) && we.Code == wire.CodeUnauthorized:
			log.Error("the server refused the relay registration token; ask its operator for the current one", "err", err)
		default:
			log.Warn("registering with the server failed; will retry", "err", err, "retry", retry)
			wait = min(retry, every)
			retry = min(2*retry, every)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
