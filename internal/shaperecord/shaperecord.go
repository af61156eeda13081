// Package shaperecord records what a passive censor sees of a browser's
// TLS connections to a website: each record's direction, size and time,
// without decrypting anything. Headless Chromium loads the site through a
// local HTTP CONNECT proxy that parses the TLS records of every connection
// it carries. A relay's operator records the opening profile of the cover
// site the relay fronts with it (`samizdat relay record-shape`,
// docs/spec/transports.md, "The profile of the relay's own cover site").
package shaperecord

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Record is one TLS record seen on the wire.
type Record struct {
	Up   bool          // client to server
	Type byte          // TLS content type (23: application data)
	Size int           // its length, the 5-byte header excluded
	At   time.Duration // since the TCP connection opened
}

// Options say what to load and how.
type Options struct {
	Sites    []string // page URLs, loaded in turn
	Loads    int      // page loads in all (default: one per site)
	Connect  string   // host:port every connection goes to (default: the host the browser asks for, port 443)
	Insecure bool     // accept any certificate (a test site's self-signed one)
	Chromium string   // the browser binary (default: /usr/bin/chromium)
	Logf     func(format string, args ...any)
}

// ChromiumFlags are the flags each load starts Chromium with besides its
// profile directory and the proxy: headless, no background traffic of its
// own, no QUIC (so every connection goes through the proxy), and the page
// and its scripts given 5 s of virtual time, as the censorship lab's
// browsing does (censor/lab, browse).
var ChromiumFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--virtual-time-budget=5000",
}

// Connection is what the proxy saw of one TLS connection.
type Connection struct {
	// Verify is how long the client took, after the server's last record
	// before the client's Finished (the end of its handshake flight), to
	// send its Finished: Chromium's check of the certificate.
	Verify time.Duration
	// Records are the application-data records after the client's
	// Finished.
	Records []Record
}

// Connections loads the sites in fresh headless Chromium processes (one
// per load, so no session is resumed) and returns every TLS connection
// the browser opened to them that carried records after its handshake.
func Connections(ctx context.Context, o Options) ([]Connection, error) {
	if len(o.Sites) == 0 {
		return nil, errors.New("shaperecord: no site to load")
	}
	if o.Loads <= 0 {
		o.Loads = len(o.Sites)
	}
	if o.Chromium == "" {
		o.Chromium = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(o.Chromium); err != nil {
		return nil, fmt.Errorf("shaperecord: no Chromium at %s (apt-get install chromium): %w", o.Chromium, err)
	}
	domains, err := siteDomains(o.Sites)
	if err != nil {
		return nil, err
	}
	p, err := startProxy(o.Connect, domains)
	if err != nil {
		return nil, err
	}
	defer p.close()
	for i := range o.Loads {
		site := o.Sites[i%len(o.Sites)]
		if err := load(ctx, o, p.ln.Addr().String(), site); err != nil {
			return nil, err
		}
		if o.Logf != nil {
			o.Logf("load %d of %d (%s): %d connections so far", i+1, o.Loads, site, p.count())
		}
	}
	p.close()
	return p.appRecords(), nil
}

// load runs one headless Chromium on site through the proxy.
func load(ctx context.Context, o Options, proxy, site string) error {
	dir, err := os.MkdirTemp("", "samizdat-shaperecord-")
	if err != nil {
		return fmt.Errorf("shaperecord: %w", err)
	}
	// Chromium's helpers may write the profile for a moment after it exits.
	defer func() {
		for range 20 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	args := append(append([]string{}, ChromiumFlags...), "--user-data-dir="+dir,
		"--proxy-server=http://"+proxy, "--proxy-bypass-list=<-loopback>")
	if o.Insecure {
		args = append(args, "--ignore-certificate-errors")
	}
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(lctx, o.Chromium, append(args, "--dump-dom", site)...).CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("shaperecord: chromium on %s: %w: %s", site, err, strings.Join(lines[max(0, len(lines)-3):], "\n"))
	}
	return nil
}

// proxy is an HTTP CONNECT proxy that records the TLS records of every
// connection it carries.
type proxy struct {
	ln      net.Listener
	connect string
	domains []string // the hosts it carries connections to, and their subdomains (siteDomains)
	mu      sync.Mutex
	conns   []*tap
	wg      sync.WaitGroup
	once    sync.Once
}

// tap is one proxied connection's records.
type tap struct {
	mu   sync.Mutex
	recs []Record
}

func startProxy(connect string, domains []string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("shaperecord: listening: %w", err)
	}
	p := &proxy{ln: ln, connect: connect, domains: domains}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	return p, nil
}

// close stops the proxy and waits for its connections to end.
func (p *proxy) close() {
	p.once.Do(func() { p.ln.Close() })
	p.wg.Wait()
}

func (p *proxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// serve answers one CONNECT and copies both ways, recording records.
func (p *proxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if !p.ofSite(req.Host) {
		// The browser's own traffic (accounts, updates), not the site's.
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return
	}
	target := p.connect
	if target == "" {
		target = req.Host
		if _, _, err := net.SplitHostPort(target); err != nil {
			target = net.JoinHostPort(target, "443")
		}
	}
	up, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		return
	}
	t := &tap{}
	p.mu.Lock()
	p.conns = append(p.conns, t)
	p.mu.Unlock()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.copy(up, br, true, start)
		closeWrite(up)
	}()
	t.copy(c, up, false, start)
	c.Close()
	<-done
}

// siteDomains returns the domains whose hosts belong to the sites: each
// site's host without its first label when it has three or more
// (www.example.co.uk: example.co.uk), else the host itself.
func siteDomains(sites []string) ([]string, error) {
	var out []string
	for _, s := range sites {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" {
			return nil, fmt.Errorf("shaperecord: %q is not an https URL", s)
		}
		host := u.Hostname()
		if labels := strings.Split(host, "."); len(labels) >= 3 && net.ParseIP(host) == nil {
			host = strings.Join(labels[1:], ".")
		}
		out = append(out, host)
	}
	return out, nil
}

// ofSite reports whether a CONNECT's host:port names one of the sites'
// hosts.
func (p *proxy) ofSite(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	for _, d := range p.domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// copy forwards src to dst, noting each TLS record before forwarding the
// bytes that complete it, so that an answer is never noted before what it
// answers.
func (t *tap) copy(dst io.Writer, src io.Reader, up bool, start time.Time) {
	var pending []byte
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			pending = WholeRecords(append(pending, buf[:n]...), func(typ byte, size int) {
				t.mu.Lock()
				t.recs = append(t.recs, Record{Up: up, Type: typ, Size: size, At: time.Since(start)})
				t.mu.Unlock()
			})
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// WholeRecords calls note with the content type and length of each whole
// TLS record at the start of buf, in order, and returns what is left (the
// start of a record still arriving).
func WholeRecords(buf []byte, note func(typ byte, size int)) []byte {
	for len(buf) >= 5 {
		size := int(buf[3])<<8 | int(buf[4])
		if len(buf) < 5+size {
			break
		}
		note(buf[0], size)
		buf = buf[5+size:]
	}
	return buf
}

// appRecords returns each connection's application-data records after
// the client's Finished (its first application-data record) and its
// verification time, leaving out connections with no such record.
func (p *proxy) appRecords() []Connection {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Connection
	for _, t := range p.conns {
		t.mu.Lock()
		if recs := AfterClientFinished(t.recs); len(recs) > 0 {
			out = append(out, Connection{Verify: verifyTime(t.recs), Records: recs})
		}
		t.mu.Unlock()
	}
	return out
}

// verifyTime returns how long after the server's last record before it
// the client's Finished went (0 without one).
func verifyTime(recs []Record) time.Duration {
	var server time.Duration
	for _, r := range recs {
		switch {
		case !r.Up:
			server = r.At
		case r.Type == 23:
			return max(r.At-server, 0)
		}
	}
	return 0
}

// AfterClientFinished returns the application-data records after the
// client's Finished: in TLS 1.3 the client's first encrypted record, whose
// size TLS fixes for every client.
func AfterClientFinished(recs []Record) []Record {
	var out []Record
	finished := false
	for _, r := range recs {
		switch {
		case r.Type != 23:
		case r.Up && !finished:
			finished = true
		case finished:
			out = append(out, r)
		}
	}
	return out
}

// ProfileLine writes a connection's first most records as a line of the
// opening profile's text form (transport/tlsws, chrome_shape_profile.txt):
// V and the verification time in milliseconds, then per record C or S,
// its size, @ and its time in milliseconds after the first record.
func ProfileLine(c Connection, most int) string {
	var b strings.Builder
	recs := c.Records
	fmt.Fprintf(&b, "V%d", c.Verify/time.Millisecond)
	for _, r := range recs[:min(len(recs), most)] {
		b.WriteByte(' ')
		dir := 'S'
		if r.Up {
			dir = 'C'
		}
		fmt.Fprintf(&b, "%c%d@%d", dir, r.Size, (r.At-recs[0].At)/time.Millisecond)
	}
	return b.String()
}
