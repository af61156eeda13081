package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/samizdat-project/samizdat/internal/termsafe"
)

// Contact is someone this user added from an invite link.
type Contact struct {
	Name    string     `json:"name"`
	Account AccountKey `json:"account"`
	Server  ServerLink `json:"server"`
	Added   time.Time  `json:"added"`
	// Verified: the user compared safety numbers and ran 'samizdat verify'
	// (verify.go); VerifiedNumber is the safety number they compared.
	Verified       bool   `json:"verified,omitempty"`
	VerifiedNumber string `json:"verified_number,omitempty"`
}

// ErrNoSuchContact: no contact or group has that name.
var ErrNoSuchContact = errors.New("client: no contact or group has that name; run 'samizdat contacts' to see the names")

// validName reports whether s is usable as a contact or group name.
// The rule is termsafe.ValidName, the same for every command.
func validName(s string) error {
	if err := termsafe.ValidName(s); err != nil {
		return fmt.Errorf("client: %q: %w", s, err)
	}
	return nil
}

// pendingPrefix starts the name of a person who wrote to this user and
// is not a contact: a pending contact, answerable under that name, named
// for good by adding their invite link.
const pendingPrefix = "unknown-"

// ValidName checks a name against the one rule for names.
func ValidName(s string) error { return validName(s) }

// AddContact stores a contact from an invite link under name (the invite's
// suggested name if empty). It works offline.
func (c *Client) AddContact(ctx context.Context, in Invite, name string) (*Contact, error) {
	if name == "" {
		name = in.Name
	}
	if name == "" {
		return nil, errors.New("client: the invite has no name; give one with --name NAME")
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	if in.Account == c.AccountKey() {
		return nil, errors.New("client: this is your own invite link; add someone else's")
	}
	if !sameServer(in.Server, c.keys.Server) {
		return nil, errors.New("client: this contact uses another server; this version can only reach contacts on your own server")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		return nil, err
	}
	var existing *Contact
	t.each("contact", func(k, v []byte) {
		var ct Contact
		if json.Unmarshal(v, &ct) == nil && (ct.Name == name || ct.Account == in.Account) {
			existing = &ct
		}
	})
	if existing != nil {
		t.rollback()
		if existing.Account == in.Account {
			return nil, fmt.Errorf("client: this contact is already saved as %q", existing.Name)
		}
		return nil, fmt.Errorf("client: the name %q is taken by another contact; choose another with --name", name)
	}
	ct := &Contact{Name: name, Account: in.Account, Server: in.Server, Added: time.Now().UTC()}
	t.put("contact", in.Account[:], ct)
	if err := t.commit(); err != nil {
		return nil, err
	}
	return ct, nil
}

// Contacts lists the contacts by name.
func (c *Client) Contacts(ctx context.Context) ([]Contact, error) {
	return readStore(c, ctx, c.contactsLocked)
}

// readStore runs read under c.mu in a store transaction that it rolls
// back (read only reads), and returns what read returns or the error the
// transaction met.
func readStore[T any](c *Client, ctx context.Context, read func(t *tx) T) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.store.begin(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	defer t.rollback()
	out := read(t)
	return out, t.err
}

func (c *Client) contactsLocked(t *tx) []Contact {
	var out []Contact
	t.each("contact", func(k, v []byte) {
		var ct Contact
		if json.Unmarshal(v, &ct) == nil {
			out = append(out, ct)
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Contact returns the contact named name.
func (c *Client) Contact(ctx context.Context, name string) (*Contact, error) {
	all, err := c.Contacts(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Name == name {
			return &all[i], nil
		}
	}
	return nil, ErrNoSuchContact
}

// nameOf returns how this user knows an account: a contact name, "me", or
// a short form of the key.
func (c *Client) nameOfLocked(t *tx, acct AccountKey) string {
	if acct == c.AccountKey() {
		return "me"
	}
	var ct Contact
	if t.get("contact", acct[:], &ct) {
		return ct.Name
	}
	return pendingPrefix + base64.RawURLEncoding.EncodeToString(acct[:6])
}
