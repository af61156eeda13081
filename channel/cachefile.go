package channel

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
)

// cacheMagic starts a cache file. The file is public data (descriptors and
// signed posts, exactly what any reader of the channels sees):
//
//	"samizdat channel cache v1\n"
//	struct {
//	    opaque descriptor<1..512>;
//	    uint32 count;
//	    opaque post<1..20480>[count];
//	} channels[];                 // until the end of the file
var cacheMagic = []byte("samizdat channel cache v1\n")

// MarshalBinary encodes every cached channel (descriptor and posts) for a
// file, channels in id order, posts in seq order.
func (c *Cache) MarshalBinary() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]ID, 0, len(c.chans))
	for id := range c.chans {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	w := newWriter(append([]byte(nil), cacheMagic...))
	for _, id := range ids {
		ch := c.chans[id]
		w.opaque(ch.descriptor)
		w.u32(uint32(len(ch.posts)))
		for _, p := range ch.posts {
			w.opaque(p.enc)
		}
	}
	return w.Bytes(), nil
}

// Load adds the channels and posts of a file written by MarshalBinary,
// verifying every descriptor and post exactly as AddChannel and Insert do,
// so a damaged or tampered file yields only genuine posts. keep, if not
// nil, says which channels to load (the others are skipped). It returns
// how many entries were refused (a descriptor or post that did not verify)
// with the first reason; a file that cannot be parsed at all is an error
// and loads nothing past the damage.
func (c *Cache) Load(b []byte, keep func(ID) bool) (refused int, firstRefusal, err error) {
	if !bytes.HasPrefix(b, cacheMagic) {
		return 0, nil, errors.New("channel: loading cache: not a channel cache file")
	}
	r := newReader(b[len(cacheMagic):])
	refuse := func(e error) {
		refused++
		if firstRefusal == nil {
			firstRefusal = e
		}
	}
	for r.Err() == nil && r.Len() > 0 {
		desc := r.opaque("descriptor", MaxDescriptor)
		n := r.u32("post count")
		if r.Err() != nil {
			break
		}
		use := true
		if d, derr := DecodeDescriptor(desc); derr != nil {
			refuse(fmt.Errorf("channel: loading cache: descriptor: %w", derr))
			use = false
		} else if keep != nil && !keep(d.ID()) {
			use = false
		} else if _, aerr := c.AddChannel(desc); aerr != nil {
			refuse(aerr)
			use = false
		}
		for i := uint32(0); i < n && r.Err() == nil; i++ {
			p := r.opaque("post", MaxPost)
			if r.Err() != nil || !use {
				continue
			}
			if ierr := c.Insert(p); ierr != nil {
				refuse(ierr)
			}
		}
	}
	if r.Err() != nil {
		return refused, firstRefusal, fmt.Errorf("channel: loading cache: %w", r.Err())
	}
	return refused, firstRefusal, nil
}
