package shaperecord

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestProxyRecordsTLS: a TLS 1.3 connection through the proxy is recorded
// record by record, and what follows the client's Finished is the
// request and the answer; a CONNECT to a host outside the sites is
// refused and not recorded.
func TestProxyRecordsTLS(t *testing.T) {
	site := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 3000))
	}))
	site.TLS = &tls.Config{MinVersion: tls.VersionTLS13}
	site.StartTLS()
	defer site.Close()
	domains, err := siteDomains([]string{"https://www.cover.test/"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := startProxy(site.Listener.Addr().String(), domains)
	if err != nil {
		t.Fatal(err)
	}
	if code := connect(t, p, "accounts.example.com:443"); code != http.StatusForbidden {
		t.Fatalf("a CONNECT to another site got %d, want 403", code)
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(mustURL(t, "http://"+p.ln.Addr().String())),
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}}
	resp, err := client.Get("https://h1.cover.test/page")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	client.CloseIdleConnections()
	p.close()
	conns := p.appRecords()
	if len(conns) != 1 {
		t.Fatalf("%d connections recorded, want 1", len(conns))
	}
	recs := conns[0].Records
	up, down := 0, 0
	for _, r := range recs {
		if r.Up {
			up += r.Size
		} else {
			down += r.Size
		}
	}
	line := ProfileLine(conns[0], 20)
	t.Logf("after the client's Finished: %s", line)
	if up < 50 || down < 3000 || !strings.HasPrefix(line, "V") {
		t.Fatalf("recorded %d bytes up and %d down after the Finished (%s): want the request and the 3,000-byte answer", up, down, line)
	}
}

func connect(t *testing.T, p *proxy, host string) int {
	c, err := net.DialTimeout("tcp", p.ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", host, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

func TestAfterClientFinished(t *testing.T) {
	recs := []Record{
		{Up: true, Type: 22, Size: 512}, {Type: 22, Size: 90}, {Type: 23, Size: 2000},
		{Up: true, Type: 23, Size: 53, At: 10 * time.Millisecond},
		{Type: 23, Size: 282, At: 11 * time.Millisecond}, {Up: true, Type: 23, Size: 588, At: 12 * time.Millisecond},
		{Type: 21, Size: 19, At: 13 * time.Millisecond}, {Type: 23, Size: 414, At: 15 * time.Millisecond},
	}
	c := Connection{Verify: verifyTime(recs), Records: AfterClientFinished(recs)}
	got := ProfileLine(c, 20)
	if want := "V10 S282@0 C588@1 S414@4"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := ProfileLine(c, 2); got != "V10 S282@0 C588@1" {
		t.Fatalf("cut to 2 records: %q", got)
	}
}

func TestSiteDomains(t *testing.T) {
	d, err := siteDomains([]string{"https://www.cdn.lab.example/page1.html", "https://example.org/"})
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{domains: d}
	for host, want := range map[string]bool{
		"h3.cdn.lab.example:443": true, "cdn.lab.example:443": true, "example.org:443": true, "www.example.org:443": true,
		"accounts.google.com:443": false, "evilexample.org:443": false, "lab.example:443": false,
	} {
		if p.ofSite(host) != want {
			t.Errorf("ofSite(%s) = %v", host, !want)
		}
	}
	if _, err := siteDomains([]string{"http://example.org/"}); err == nil {
		t.Error("an http URL was taken")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
