package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// A tagged union of the TLS presentation language (RFC 9420's select):
// a tag, then the body of the one case the tag names. The Go struct has
// one pointer field per case; exactly the one matching the tag is set.
// arm names one case: its tag and how to reach its field, so that
// finding the body to encode and reading one in are written once
// (bodyOf, readArm) for every union.
type arm[U any, T comparable] struct {
	tag  T
	body func(u *U) codec.Marshaler // nil when the field is not set
	read func(u *U, r *codec.Reader)
}

// armOf is the case tag of U, held in the field that field points to.
func armOf[U any, T comparable, B any, PB interface {
	*B
	codec.Marshaler
	codec.Unmarshaler
}](tag T, field func(u *U) *PB) arm[U, T] {
	return arm[U, T]{
		tag: tag,
		body: func(u *U) codec.Marshaler {
			if p := *field(u); p != nil {
				return p
			}
			return nil
		},
		read: func(u *U, r *codec.Reader) { *field(u) = readStruct[B, PB](r) },
	}
}

// bodyOf returns the set body of u's case tag, or nil if the tag is
// unknown or its field is not set.
func bodyOf[U any, T comparable](arms []arm[U, T], u *U, tag T) codec.Marshaler {
	for _, a := range arms {
		if a.tag == tag {
			return a.body(u)
		}
	}
	return nil
}

// readArm reads the body of u's case tag into its field; it reports
// false for a tag of no case.
func readArm[U any, T comparable](arms []arm[U, T], u *U, tag T, r *codec.Reader) bool {
	for _, a := range arms {
		if a.tag == tag {
			a.read(u, r)
			return true
		}
	}
	return false
}
