package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/samizdat-project/samizdat/mls"
	"github.com/samizdat-project/samizdat/wire"
)

// topup publishes one-time KeyPackages when the server holds fewer than a
// fifth of a batch, and a last-resort one when it has none. The private
// parts are stored durably before anything is published.
func (c *Client) topup(ctx context.Context, s *session) error {
	var count *wire.KeyPackageCount
	resp, err := s.call(ctx, &wire.CountKeyPackages{})
	switch {
	case err == nil:
		count = resp.(*wire.KeyPackageCount)
	case wireCode(err) == wire.CodeInternal:
		// A server whose store cannot count: estimate from the packages
		// this device still holds the private parts of.
		count = c.localKeyPackageCount(ctx)
	default:
		return userError("counting key packages", err)
	}
	batch := c.opts.KeyPackageBatch
	if int(count.OneTime) >= batch/5 && count.LastResort {
		return nil
	}
	pub := &wire.PublishKeyPackages{}
	var bundles []*mls.KeyPackageBundle
	if int(count.OneTime) < batch/5 {
		for range batch - int(count.OneTime) {
			kp, err := c.mlsID.NewKeyPackage(c.cfg, mls.KeyPackageOptions{})
			if err != nil {
				return fmt.Errorf("client: making key packages: %w", err)
			}
			bundles = append(bundles, kp)
			pub.KeyPackages = append(pub.KeyPackages, kp.Message)
		}
	}
	if !count.LastResort {
		kp, err := c.mlsID.NewKeyPackage(c.cfg, mls.KeyPackageOptions{LastResort: true})
		if err != nil {
			return fmt.Errorf("client: making key packages: %w", err)
		}
		bundles = append(bundles, kp)
		pub.LastResort = kp.Message
	}
	t, err := c.store.begin(ctx)
	if err != nil {
		return err
	}
	for _, b := range bundles {
		t.put("kp", b.Ref, b)
		clear(b.InitPrivateKey)
		clear(b.EncryptionPrivateKey)
	}
	if err := t.commit(); err != nil {
		return err
	}
	if _, err := s.call(ctx, pub); err != nil {
		return userError("publishing key packages", err)
	}
	c.logf("client: published %d key packages", len(bundles))
	return nil
}

// topupLoop tops up whenever poked (after a Welcome used a package).
func (c *Client) topupLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.topupCh:
		}
		c.sessMu.Lock()
		s := c.sess
		c.sessMu.Unlock()
		if s == nil {
			continue
		}
		if err := c.topup(ctx, s); err != nil && !errors.Is(err, context.Canceled) {
			c.logf("client: %v", err)
		}
	}
}

// verifiedDevices returns the devices on an account's current signed
// device list (devicelist.go); the server can withhold the list but
// cannot add a device to it.
func (c *Client) verifiedDevices(ctx context.Context, s *session, acct AccountKey) ([]wire.DeviceEntry, error) {
	l, err := c.fetchDeviceList(ctx, s, acct)
	if err != nil {
		if errors.Is(err, errDeviceListUnavailable) {
			return nil, userError("looking up the contact's devices", err)
		}
		return nil, fmt.Errorf("client: WARNING: the server's device list of this contact is not valid (%w); nothing was changed", err)
	}
	out := make([]wire.DeviceEntry, 0, len(l.Devices))
	for _, d := range l.Devices {
		out = append(out, wire.DeviceEntry{DeviceKey: d.Key})
	}
	return out, nil
}

// claimKeyPackages claims one KeyPackage for each listed device of acct and
// keeps those that are valid MLS KeyPackages of exactly that device.
func (c *Client) claimKeyPackages(ctx context.Context, s *session, acct AccountKey, devices []wire.DeviceEntry) ([][]byte, []wire.DeviceID, error) {
	if len(devices) == 0 {
		return nil, nil, nil
	}
	byID := map[wire.DeviceID]DeviceKey{}
	req := &wire.ClaimKeyPackages{AccountKey: acct}
	for _, d := range devices {
		id := DeviceIDOf(d.DeviceKey)
		byID[id] = d.DeviceKey
		req.Devices = append(req.Devices, id)
	}
	resp, err := s.call(ctx, req)
	if wireCode(err) == wire.CodeNotFound {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, userError("claiming the contact's keys", err)
	}
	var kps [][]byte
	var ids []wire.DeviceID
	var forged error
	for _, k := range resp.(*wire.KeyPackages).KeyPackages {
		dev, ok := byID[k.DeviceID]
		if !ok {
			continue
		}
		// ValidateKeyPackage runs the leaf validator (auth.go): device
		// certificate, signature key, signed device list.
		info, err := mls.ValidateKeyPackage(c.cfg, k.KeyPackage)
		var ae *AuthError
		if errors.As(err, &ae) {
			forged = ae
			continue
		}
		if err != nil {
			c.logf("client: a claimed key package is invalid: %v", err)
			continue
		}
		// The credential must name exactly the device it was claimed for.
		if a, d, err := parseCredential(info.Identity); err != nil || a != acct || d != dev {
			forged = &AuthError{Account: acct, Device: d, Err: fmt.Errorf("%w: the server handed another device's key package", ErrForgedDevice)}
			continue
		}
		kps = append(kps, k.KeyPackage)
		ids = append(ids, k.DeviceID)
	}
	if forged != nil {
		// Someone (the directory) tried to slip in a device: add nobody.
		return nil, nil, forged
	}
	return kps, ids, nil
}

// localKeyPackageCount counts the unused KeyPackages whose private parts
// this device keeps: an upper bound of what the server still holds.
func (c *Client) localKeyPackageCount(ctx context.Context) *wire.KeyPackageCount {
	out := &wire.KeyPackageCount{}
	t, err := c.store.begin(ctx)
	if err != nil {
		return out
	}
	defer t.rollback()
	t.each("kp", func(k, v []byte) {
		var b struct{ LastResort bool }
		if json.Unmarshal(v, &b) == nil {
			if b.LastResort {
				out.LastResort = true
			} else {
				out.OneTime++
			}
		}
	})
	return out
}
