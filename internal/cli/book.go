package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/samizdat-project/samizdat/internal/atomicfile"
	"github.com/samizdat-project/samizdat/reach"
	"github.com/samizdat-project/samizdat/securechan"
	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/transport"
	"github.com/samizdat-project/samizdat/transport/direct"
)

// Files in the server's data directory for the endpoint book (mode 0600).
const (
	bookKeyFile     = "book.key"     // the Ed25519 seed that signs the endpoint book
	sliceSecretFile = "slice.secret" // keys each client's slice of the relays
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// serverBook is what 'samizdat server' publishes through package reach.
type serverBook struct {
	cfg      *server.ReachConfig
	relayIDs []string // in the order of --relay
}

// loadServerBook reads (or creates) the book key and the slice secret in
// data, and turns the public addresses and the --relay links into the
// entries the server signs.
func loadServerBook(data string, chanKey securechan.ServerPublic, public []string, relays []string) (*serverBook, error) {
	seed, err := loadOrCreateBookSecret(filepath.Join(data, bookKeyFile), ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	secret, err := loadOrCreateBookSecret(filepath.Join(data, sliceSecretFile), 32)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	signer, err := reach.NewSigner(priv, chanKey)
	if err != nil {
		return nil, err
	}
	sb := &serverBook{cfg: &server.ReachConfig{Signer: signer, SliceSecret: secret}}
	for _, a := range public {
		spec := direct.Spec(a)
		sb.cfg.Entries = append(sb.cfg.Entries, reach.Entry{ID: entryID("d-", spec), Kind: reach.KindDirect, Spec: spec})
	}
	for _, text := range relays {
		es, err := relayEntries(text)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			sb.cfg.Entries = append(sb.cfg.Entries, e)
			sb.relayIDs = append(sb.relayIDs, e.ID)
		}
	}
	return sb, nil
}

// entryID names a server-signed entry by its spec: prefix and 12 hex
// digits, like reach.UnsignedID, so a relay keeps its ID across restarts.
func entryID(prefix string, s transport.Spec) string {
	return prefix + strings.TrimPrefix(reach.UnsignedID(s), "u-")
}

// relayEntries reads one --relay value: a relay link (what 'samizdat relay'
// prints) or a transport spec (tlsws://host:port?...).
func relayEntries(text string) ([]reach.Entry, error) {
	text = strings.TrimSpace(text)
	if !strings.HasPrefix(text, "samizdat://") && !strings.HasPrefix(text, "https://") {
		spec, err := transport.ParseSpec(text)
		if err != nil {
			return nil, fmt.Errorf("--relay %q is neither a relay link nor a transport spec", text)
		}
		return []reach.Entry{{ID: entryID("r-", spec), Kind: reach.KindRelay, Spec: spec}}, nil
	}
	l, err := reach.ParseLink(text)
	if err != nil {
		return nil, fmt.Errorf("--relay: %w", err)
	}
	var out []reach.Entry
	add := func(e reach.Entry) {
		out = append(out, reach.Entry{ID: entryID("r-", e.Spec), Kind: reach.KindRelay, Label: e.Label, Spec: e.Spec})
	}
	for _, e := range l.Unsigned {
		add(e)
	}
	for _, se := range l.Entries {
		add(se.Entry)
	}
	if len(out) == 0 {
		return nil, errors.New("--relay: the link has no relay in it")
	}
	return out, nil
}

// link is the server link: key, addresses, book key and the signed
// entries of the first n relays, so that a client that cannot reach the
// addresses still gets in (and then fetches its own slice of the book).
func (sb *serverBook) link(srv *server.Server, public []string, n int) reach.Link {
	l := reach.Link{Chan: srv.Public(), Book: sb.cfg.Signer.ServerID().Book, Addrs: public}
	ids := sb.relayIDs[:min(max(n, 0), len(sb.relayIDs))]
	l.Entries = srv.BookEntries(ids...)
	return l
}

// loadOrCreateBookSecret reads n secret bytes from path, or creates the file
// (mode 0600) with fresh random bytes. It refuses a file others can read.
func loadOrCreateBookSecret(path string, n int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b = make([]byte, n)
		rand.Read(b)
		if err := atomicfile.WriteNew(path, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
			return nil, err
		}
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Base(path), err)
	}
	defer clear(b)
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s can be read by others (mode %v); run chmod 600 on it", path, info.Mode().Perm())
	}
	out, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(out) != n {
		return nil, fmt.Errorf("%s is damaged: want %d bytes in hex", path, n)
	}
	return out, nil
}
