package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/atomicfile"
	"github.com/samizdat-project/samizdat/internal/loadgen"
)

// The bench subcommands: flags and printing here, the load generators in
// internal/loadgen.

func init() {
	register("bench", "load generators: bench send (durable sends/s, latency, idle memory), bench recv, bench server", runBench)
}

const benchUsage = `usage:
  samizdat bench send   --server LINK [--senders N] [--messages K] [--size B] [--duration D]
                        [--recipients R | --to FILE] [--window W] [--rate R] [--json FILE] [--acked-log FILE]
  samizdat bench send   --server LINK --idle N --server-pid PID [--json FILE]
  samizdat bench recv   --server LINK --recipients R --ids FILE --log FILE
  samizdat bench server --data DIR --listen ADDR [--store postgres://…]
                        (the server with rate limits off, for benchmarks)
  samizdat bench fanout [--subscribers 15000] [--rates 5,20,50,100,200] [--phase 10s]
                        [--target samizdat|centrifugo|both] [--centrifugo /tmp/cfbin/centrifugo]

The traffic is opaque random payloads: the server only ever sees opaque
bytes (MLS ciphertext in real use), so the load generator needs no MLS.`

func runBench(e env) int {
	return runSubcommand(e, "bench", benchUsage, map[string]func(env) int{
		"send":   runBenchSend,
		"recv":   runBenchRecv,
		"server": runBenchServer,
		"fanout": runBenchFanout, // bench_fanout.go
	})
}

// runSubcommand runs the subcommand of cmd that e.args[0] names, from
// subs, with the arguments after it. No subcommand, or one that subs does
// not have, prints usage and exits 2.
func runSubcommand(e env, cmd, usage string, subs map[string]func(env) int) int {
	if len(e.args) > 0 {
		if run, ok := subs[e.args[0]]; ok {
			e.args = e.args[1:]
			return run(e)
		}
	}
	if len(e.args) == 0 {
		fmt.Fprintf(e.stderr, "samizdat %s: %s\n", cmd, usage)
	} else {
		fmt.Fprintf(e.stderr, "samizdat %s: unknown subcommand %q; %s\n", cmd, e.args[0], usage)
	}
	return 2
}

// sendFlags are the flags of 'bench send'.
type sendFlags struct {
	link                                        string
	senders, messages, size, recipients, window int
	duration                                    time.Duration
	to, jsonOut, ackedLog, cpuProfile           string
	rate                                        float64
	idle, serverPID                             int
}

func parseSendFlags(e env) (sendFlags, error) {
	var f sendFlags
	fs := newFlags(e, "bench send")
	fs.StringVar(&f.link, "server", "", "the server link")
	fs.IntVar(&f.senders, "senders", 1, "concurrent senders, each its own device and connection")
	fs.IntVar(&f.messages, "messages", 1000, "messages per sender (0 with --duration: until it ends)")
	fs.IntVar(&f.size, "size", 256, "payload bytes per message")
	fs.DurationVar(&f.duration, "duration", 0, "stop sending after this long (0: after --messages)")
	fs.IntVar(&f.recipients, "recipients", 100, "recipient devices to register (each message goes to one, round robin)")
	fs.StringVar(&f.to, "to", "", "file of recipient device ids (hex, one a line; from 'bench recv --ids') instead of registering new ones")
	fs.IntVar(&f.window, "window", 1, "Sends each sender keeps in flight (pipelined on its connection)")
	fs.Float64Var(&f.rate, "rate", 0, "at most this many messages per second per sender (0: no pacing)")
	fs.StringVar(&f.jsonOut, "json", "", "also write the result as JSON to this file ('-': stdout)")
	fs.StringVar(&f.ackedLog, "acked-log", "", "append the hex MsgID of every acknowledged Send to this file")
	fs.IntVar(&f.idle, "idle", 0, "instead of sending: open this many idle sessions and report the server's memory per session")
	fs.IntVar(&f.serverPID, "server-pid", 0, "with --idle: the server's process id (its RSS is read from /proc/PID/status)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the load generator to this file")
	_, err := parseAll(fs, e.args)
	return f, err
}

func runBenchSend(e env) int {
	f, err := parseSendFlags(e)
	if err != nil {
		return flagExit(err)
	}
	stopProfile, err := loadgen.StartCPUProfile(f.cpuProfile)
	if err != nil {
		return fail(e, "bench send", err)
	}
	defer stopProfile()
	link, err := client.ParseServerLink(f.link)
	if err != nil {
		return fail(e, "bench send", fmt.Errorf("--server: %w", err))
	}
	ctx, cancel := signalContext()
	defer cancel()
	if f.idle > 0 {
		return runBenchIdle(ctx, e, link, f)
	}
	cfg := loadgen.SendConfig{Link: link, Senders: f.senders, Messages: f.messages, Size: f.size, Duration: f.duration,
		Window: f.window, Rate: f.rate, Progress: e.stderr}
	if cfg.Check() != nil {
		return fail(e, "bench send", errors.New("need --senders >= 1, 1 <= --size <= 983040, --window >= 1, and --messages >= 1 or a --duration"))
	}
	setupStart := time.Now()
	if f.to != "" {
		cfg.Recipients, err = loadgen.ReadDeviceIDs(f.to)
	} else {
		cfg.Recipients, err = loadgen.RegisterRecipients(ctx, link, f.recipients)
	}
	if err != nil {
		return fail(e, "bench send", err)
	}
	if f.ackedLog != "" {
		fh, err := os.OpenFile(f.ackedLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fail(e, "bench send", err)
		}
		defer fh.Close()
		w := bufio.NewWriter(fh)
		defer w.Flush()
		cfg.AckedLog = w
	}
	res, err := loadgen.Send(ctx, cfg, setupStart)
	if err != nil {
		return fail(e, "bench send", err)
	}
	fmt.Fprintf(e.stdout, "%-8s %-6s %-6s %-9s %-7s %-8s %-10s %-9s %-9s %-9s\n", "senders", "window", "size", "acked", "errors", "seconds", "sends/s", "p50_ms", "p99_ms", "max_ms")
	fmt.Fprintf(e.stdout, "%-8d %-6d %-6d %-9d %-7d %-8.2f %-10.0f %-9.2f %-9.2f %-9.2f\n", res.Senders, res.Window, res.Size, res.Acked, res.Errors, res.Seconds, res.SendsPerSec, res.P50Ms, res.P99Ms, res.MaxMs)
	if err := writeJSON(f.jsonOut, e.stdout, res); err != nil {
		return fail(e, "bench send", err)
	}
	if res.Errors > 0 {
		return 1
	}
	return 0
}

// runBenchIdle is 'bench send --idle N --server-pid PID'.
func runBenchIdle(ctx context.Context, e env, link client.ServerLink, f sendFlags) int {
	if f.serverPID <= 0 {
		return fail(e, "bench send", errors.New("--idle needs --server-pid PID (the server's RSS is read from /proc/PID/status)"))
	}
	res, err := loadgen.Idle(ctx, link, f.idle, f.serverPID)
	if err != nil {
		return fail(e, "bench send", err)
	}
	fmt.Fprintf(e.stdout, "%-9s %-14s %-14s %-14s %-15s %-15s\n", "sessions", "rss_before_KiB", "rss_base_KiB", "rss_after_KiB", "KiB/session", "marginal_KiB")
	fmt.Fprintf(e.stdout, "%-9d %-14d %-14d %-14d %-15.2f %-15.2f\n", res.Sessions, res.RSSBeforeKiB, res.RSSAtBaseKiB, res.RSSAfterKiB, res.KiBPerSession, res.MarginalKiB)
	if err := writeJSON(f.jsonOut, e.stdout, res); err != nil {
		return fail(e, "bench send", err)
	}
	return 0
}

func writeJSON(path string, stdout io.Writer, v any) error {
	if path == "" {
		return nil
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	b = append(b, '\n')
	if path == "-" {
		_, err := stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// runBenchRecv is the receiving side of the load generator (and of the
// crash test): it registers recipient devices, writes their ids, stays
// subscribed (reconnecting when the server goes away) and logs every
// Deliver as "device seq msgid" before acknowledging it, until SIGTERM.
func runBenchRecv(e env) int {
	fs := newFlags(e, "bench recv")
	linkS := fs.String("server", "", "the server link")
	n := fs.Int("recipients", 1, "recipient devices to register and subscribe")
	idsPath := fs.String("ids", "", "write the recipients' device ids here (hex, one a line) once they are subscribed")
	logPath := fs.String("log", "", "append one line per Deliver: device-index seq msgid-hex")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	link, err := client.ParseServerLink(*linkS)
	if err != nil {
		return fail(e, "bench recv", fmt.Errorf("--server: %w", err))
	}
	if *n < 1 || *idsPath == "" || *logPath == "" {
		return fail(e, "bench recv", errors.New("need --recipients >= 1, --ids FILE and --log FILE"))
	}
	logf, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fail(e, "bench recv", err)
	}
	defer logf.Close()
	ctx, cancel := signalContext()
	defer cancel()
	var logMu sync.Mutex
	rs := loadgen.StartReceivers(ctx, link, *n, func(line string) {
		logMu.Lock()
		defer logMu.Unlock()
		logf.WriteString(line)
	})
	defer func() { cancel(); rs.Wait() }() // on a failure below, stop the receivers
	if err := rs.Ready(ctx); err != nil {
		return fail(e, "bench recv", err)
	}
	// The sender polls for this file: it must never see half of it.
	if err := atomicfile.Write(*idsPath, []byte(rs.IDs()), 0o644); err != nil {
		return fail(e, "bench recv", err)
	}
	fmt.Fprintf(e.stderr, "bench recv: %d recipients subscribed\n", *n)
	rs.Wait() // until SIGTERM
	return 0
}
