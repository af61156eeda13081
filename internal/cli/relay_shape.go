package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/samizdat-project/samizdat/internal/atomicfile"
	"github.com/samizdat-project/samizdat/internal/shaperecord"
	"github.com/samizdat-project/samizdat/transport/tlsws"
)

// shapeProfileRecords is how many records of each connection a recorded
// profile keeps (the text form's lines, as chrome_shape_profile.txt).
const shapeProfileRecords = 20

// runRecordShape is `samizdat relay record-shape`: headless Chromium loads
// the operator's cover site and the TLS records of its connections become
// the relay's opening profile (docs/spec/transports.md, "The profile of
// the relay's own cover site"), for `samizdat relay --shape-profile`.
func runRecordShape(e env) int {
	fs := newFlags(e, "relay record-shape")
	fs.Usage = usageFunc(fs, "relay record-shape --site URL [--site URL...] --out FILE [flags]",
		"Records Chromium's connections to your cover site as the relay's opening profile;\nserve it with: samizdat relay --shape-profile FILE ...")
	var sites repeated
	fs.Var(&sites, "site", "a page of your cover site to load, such as https://example.org/ (repeat for more pages)")
	out := fs.String("out", "", "write the profile to this file (required)")
	loads := fs.Int("loads", 20, "page loads in all, each in a fresh Chromium (the pages in turn)")
	connect := fs.String("connect", "", "host:port to send every connection to instead of the site's address (a site not in DNS yet, or its origin behind a CDN)")
	insecure := fs.Bool("insecure", false, "accept the site's certificate whatever it is (a self-signed test site)")
	chromium := fs.String("chromium", "/usr/bin/chromium", "the Chromium binary")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	if len(sites) == 0 || *out == "" || *loads < 1 {
		fmt.Fprintln(e.stderr, "samizdat relay record-shape: give --site URL (your cover site's page), --out FILE and --loads of at least 1")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conns, err := shaperecord.Connections(ctx, shaperecord.Options{
		Sites: sites, Loads: *loads, Connect: *connect, Insecure: *insecure, Chromium: *chromium,
		Logf: func(f string, a ...any) { fmt.Fprintf(e.stderr, f+"\n", a...) },
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "samizdat relay record-shape: %v\n", err)
		return 1
	}
	text, kept := shapeProfileText(sites, conns)
	p, err := tlsws.ParseShapeProfile([]byte(text))
	if err != nil {
		fmt.Fprintf(e.stderr, "samizdat relay record-shape: %d connections recorded, none usable as an opening (each must hold a request and an answer): %v\n", len(conns), err)
		return 1
	}
	if err := atomicfile.Write(*out, []byte(text), 0o644); err != nil {
		fmt.Fprintf(e.stderr, "samizdat relay record-shape: %v\n", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d of %d connections; the relay link carries %d of them (%d characters)\n",
		*out, kept, len(conns), p.ForLink().Traces(), len(p.ForLink().EncodeLink()))
	return 0
}

// shapeProfileText writes the connections that make openings (a client
// record and a server record) as the profile's text form.
func shapeProfileText(sites []string, conns []shaperecord.Connection) (string, int) {
	var b strings.Builder
	more := ""
	if len(sites) > 1 {
		more = fmt.Sprintf(" and %d more pages", len(sites)-1)
	}
	fmt.Fprintf(&b, "# Chromium's connections loading %s%s: the first application-data records\n", sites[0], more)
	b.WriteString("# after the client's Finished, C (client) or S, TLS record length, @ milliseconds after the first;\n")
	b.WriteString("# first V and the milliseconds Chromium took to check the certificate before its Finished.\n")
	b.WriteString("# Written by samizdat relay record-shape.\n")
	kept := 0
	for _, c := range conns {
		line := shaperecord.ProfileLine(c, shapeProfileRecords)
		if _, err := tlsws.ParseShapeProfile([]byte(line)); err != nil {
			continue
		}
		kept++
		b.WriteString(line + "\n")
	}
	return b.String(), kept
}

// loadShapeProfile reads --shape-profile: the part of it the relay link
// carries, which the relay replays too (nil without the flag).
func loadShapeProfile(path string) (*tlsws.ShapeProfile, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--shape-profile: %w", err)
	}
	p, err := tlsws.ParseShapeProfile(b)
	if err != nil {
		return nil, fmt.Errorf("--shape-profile %s: %w; record it again with samizdat relay record-shape", path, err)
	}
	return p.ForLink(), nil
}
