package format

// A tagged union of the TLS presentation language (RFC 9420's select):
// a tag, then the body of the one case the tag names. The Go struct has
// one pointer field per case; exactly the one matching the tag is set.
// arm names one case: its tag and how to code the body in its field, so
// that coding a union's body is written once (codeArm) for every union.
type arm[U any, T comparable] struct {
	tag  T
	code func(u *U, c coder) bool // false: encoding, and the field is not set
}

// armOf is the case tag of U, held in the field that field points to.
func armOf[U any, T comparable, B any, PB structure[B]](tag T, field func(u *U) *PB) arm[U, T] {
	return arm[U, T]{
		tag:  tag,
		code: func(u *U, c coder) bool { return codePointer[B](c, field(u)) },
	}
}

// codeArm codes, after the tag, the body of u's case tag: decoding, into
// a new value in its field; encoding, the field's value. A tag of no case,
// or when encoding a case whose field is not set, makes u unparseable
// (tagName) or unencodable (what, why), as the union's select cannot be
// parsed without its case.
func codeArm[U any, T ~uint8 | ~uint16](c coder, arms []arm[U, T], u *U, tag T, what, why, tagName string) {
	if c.err() != nil {
		return
	}
	for _, a := range arms {
		if a.tag == tag && a.code(u, c) {
			return
		}
	}
	c.unknownTag(what, why, tagName, uint64(tag))
}
