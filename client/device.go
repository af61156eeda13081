package client

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/wire"
)

// revokeContext starts the message an account key signs to revoke a device
// (docs/spec/wire.md, "Accounts and devices").
const revokeContext = "samizdat revoke v1"

// SignRevoke returns the account's revocation of a device key.
func SignRevoke(account ed25519.PrivateKey, device DeviceKey) wire.Signature {
	var sig wire.Signature
	copy(sig[:], ed25519.Sign(account, append([]byte(revokeContext), device[:]...)))
	return sig
}

// DeviceInfo is one device of this account, as the server lists it (each
// certificate verified by this client).
type DeviceInfo struct {
	Key  DeviceKey
	ID   DeviceID
	This bool // the device this client runs on
}

// ShortID is the first 16 hex digits of the device id: what the CLI shows
// and what RevokeDevice accepts (any unique prefix of 4 digits or more).
func (d DeviceInfo) ShortID() string { return hex.EncodeToString(d.ID[:8]) }

// Devices lists this account's devices whose certificates verify. The
// client must be online.
func (c *Client) Devices(ctx context.Context) ([]DeviceInfo, error) {
	s, err := c.online(ctx)
	if err != nil {
		return nil, err
	}
	list, err := c.verifiedDevices(ctx, s, c.AccountKey())
	if err != nil {
		return nil, err
	}
	me := c.DeviceKey()
	out := make([]DeviceInfo, 0, len(list))
	for _, d := range list {
		out = append(out, DeviceInfo{Key: d.DeviceKey, ID: DeviceIDOf(d.DeviceKey), This: d.DeviceKey == me})
	}
	return out, nil
}

// RevokeDevice revokes the device of this account whose id starts with
// prefix (hex, at least 4 digits, unique). This device cannot revoke
// itself. The revoked device can no longer use the server with its key;
// it still knows the account key (see docs/spec/device-linking.md).
func (c *Client) RevokeDevice(ctx context.Context, prefix string) (DeviceInfo, error) {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	if len(prefix) < 4 {
		return DeviceInfo{}, errors.New("client: give at least 4 digits of the device id (see 'samizdat devices')")
	}
	all, err := c.Devices(ctx)
	if err != nil {
		return DeviceInfo{}, err
	}
	var match []DeviceInfo
	for _, d := range all {
		if strings.HasPrefix(hex.EncodeToString(d.ID[:]), prefix) {
			match = append(match, d)
		}
	}
	switch {
	case len(match) == 0:
		return DeviceInfo{}, errors.New("client: no device of this account has that id; run 'samizdat devices'")
	case len(match) > 1:
		return DeviceInfo{}, errors.New("client: several devices start with that id; give more digits")
	case match[0].This:
		return DeviceInfo{}, errors.New("client: this is the device you are using; revoke it from another device of your account")
	}
	s, err := c.online(ctx)
	if err != nil {
		return DeviceInfo{}, err
	}
	// First off the signed list, so that no member accepts the device
	// again (docs/spec/authentication.md §3).
	if err := c.removeFromOwnList(ctx, s, match[0].Key); err != nil {
		return DeviceInfo{}, err
	}
	c.flushNotices(ctx)
	acct := c.keys.account()
	req := &wire.RevokeDevice{AccountKey: c.AccountKey(), DeviceKey: match[0].Key, Signature: SignRevoke(acct, match[0].Key)}
	clear(acct)
	if _, err := s.call(ctx, req); err != nil {
		if wireCode(err) == wire.CodeInternal {
			return DeviceInfo{}, fmt.Errorf("client: the server could not revoke the device (its store may not support revocation yet; tell its operator): %w", userError("revoking", err))
		}
		return DeviceInfo{}, userError("revoking the device", err)
	}
	if err := c.removeRevokedDevice(ctx, match[0].Key); err != nil {
		return match[0], err
	}
	return match[0], nil
}

// removeRevokedDevice records a device this account revoked and removes
// its leaf from every chat, so that it cannot read what is sent from now
// on. The record stays: every later group change (syncOwnDevices runs on
// each connection) removes the device from a chat it is still in, so a
// removal that failed (offline, lost race) is done later.
func (c *Client) removeRevokedDevice(ctx context.Context, d DeviceKey) error {
	c.mu.Lock()
	t, err := c.store.begin(ctx)
	if err == nil {
		t.put("revokeddev", d[:], revokedRecord{When: time.Now().Unix()})
		err = t.commit()
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("client: the device is revoked, but recording it failed; run 'samizdat device revoke' again: %w", err)
	}
	var failed int
	for _, ch := range c.activeChats(ctx) {
		if err := c.commitChange(ctx, ch, nil, nil, false); err != nil {
			var revoked *RevokedError
			if errors.As(err, &revoked) {
				return err
			}
			c.logf("client: removing the revoked device from a chat: %v", err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("client: the device is revoked, but it is still in %d chat(s): it is removed from them on the next connection (or run 'samizdat device revoke' again)", failed)
	}
	return nil
}

// revokedDevicesLocked is the set of this account's devices that this
// device revoked.
func (c *Client) revokedDevicesLocked(ctx context.Context) (map[DeviceKey]bool, error) {
	t, err := c.store.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer t.rollback()
	out := map[DeviceKey]bool{}
	t.each("revokeddev", func(k, v []byte) {
		var d DeviceKey
		if len(k) == len(d) {
			copy(d[:], k)
			out[d] = true
		}
	})
	return out, t.err
}
