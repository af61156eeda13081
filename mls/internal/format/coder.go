package format

import "github.com/samizdat-project/samizdat/mls/internal/codec"

// coder encodes or decodes one structure, so that each structure lists its
// fields once, in order, in its code method (RFC 9420 §2.1: a struct is its
// fields in order). With w set it writes each field; with r set it reads
// each field into the structure. MarshalMLS and UnmarshalMLS are code with
// a writer or a reader. A coder is two pointers and travels by value.
type coder struct {
	w *codec.Writer // when encoding
	r *codec.Reader // when decoding
}

// reading reports whether c decodes.
func (c coder) reading() bool { return c.r != nil }

// err returns the first error of the writer or reader.
func (c coder) err() error {
	if c.r != nil {
		return c.r.Err()
	}
	return c.w.Err()
}

// scalar codes a fixed-width value with read or write.
func scalar[T any](c coder, v *T, read func(r *codec.Reader) T, write func(w *codec.Writer, v T)) {
	if c.r != nil {
		*v = read(c.r)
	} else {
		write(c.w, *v)
	}
}

func (c coder) u8(v *uint8)   { scalar(c, v, (*codec.Reader).Uint8, (*codec.Writer).Uint8) }
func (c coder) u16(v *uint16) { scalar(c, v, (*codec.Reader).Uint16, (*codec.Writer).Uint16) }
func (c coder) u32(v *uint32) { scalar(c, v, (*codec.Reader).Uint32, (*codec.Writer).Uint32) }
func (c coder) u64(v *uint64) { scalar(c, v, (*codec.Reader).Uint64, (*codec.Writer).Uint64) }

// bytes codes opaque<V> (decoded: a copy, never nil on success).
func (c coder) bytes(b *[]byte) {
	if c.r != nil {
		*b = c.r.VarBytes()
	} else {
		c.w.VarBytes(*b)
	}
}

// fixed codes a fixed-size array (b is the array's slice), no prefix.
func (c coder) fixed(b []byte) {
	if c.r != nil {
		copy(b, c.r.Raw(len(b)))
	} else {
		c.w.Raw(b)
	}
}

// optional codes the presence marker of optional<T> (RFC 9420 §2.1.1):
// encoding, it writes present and returns it; decoding, it returns the
// marker read.
func (c coder) optional(present bool) bool {
	if c.r != nil {
		return c.r.Optional()
	}
	c.w.Bool(present)
	return present
}

// structure is a pointer to a structure with a code method.
type structure[T any] interface {
	*T
	code(c coder)
}

// codeStruct codes a structure.
func codeStruct[T any, P structure[T]](c coder, x *T) { P(x).code(c) }

// codeList codes a vector T xs<V> (RFC 9420 §2.1.2), each element coded by
// each. A decoded vector is empty and non-nil when it has no element, so
// that a decoded value re-encodes and compares like the one it was encoded
// from.
func codeList[T any](c coder, xs *[]T, each func(c coder, x *T)) {
	if c.r == nil {
		c.w.Vector(func(w *codec.Writer) {
			for i := range *xs {
				each(coder{w: w}, &(*xs)[i])
			}
		})
		return
	}
	got := []T{}
	var zero T
	c.r.ReadVector(func(r *codec.Reader) {
		got = append(got, zero) // decoded in place: no element escapes
		each(coder{r: r}, &got[len(got)-1])
	})
	*xs = got
}

// codeStructs codes a vector of structures.
func codeStructs[T any, P structure[T]](c coder, xs *[]T) {
	codeList(c, xs, codeStruct[T, P])
}

// codeUint16s codes a vector of uint16 enumeration values.
func codeUint16s[T ~uint16](c coder, vs *[]T) {
	codeList(c, vs, func(c coder, v *T) {
		x := uint16(*v)
		c.u16(&x)
		*v = T(x)
	})
}

// codeOptional codes optional<T> of a structure: nil when absent.
func codeOptional[T any, P structure[T]](c coder, x *P) {
	if !c.optional(*x != nil) {
		if c.reading() {
			*x = nil
		}
		return
	}
	codePointer(c, x)
}

// reset zeroes *x before it is decoded, as a structure with a select is:
// only the selected case's fields are read, the others stay zero.
func reset[T any](c coder, x *T) {
	if c.reading() {
		var zero T
		*x = zero
	}
}

// unknownTag records a select tag of no case, which makes the structure
// unencodable (what, why) or unparseable (tag, v).
func (c coder) unknownTag(what, why, tag string, v uint64) {
	if c.reading() {
		errEnum(c.r, tag, v)
	} else {
		errEncode(c.w, what, why)
	}
}

// codePointer codes a structure held by pointer, the body of a select
// case: decoding, it reads a new one; encoding, it reports false if there
// is none to write.
func codePointer[T any, P structure[T]](c coder, x *P) bool {
	if c.reading() {
		*x = new(T)
	} else if *x == nil {
		return false
	}
	(*x).code(c)
	return true
}

// refuse records, when encoding, that the structure cannot be encoded
// because of why, if bad.
func (c coder) refuse(bad bool, what, why string) {
	if bad && !c.reading() {
		errEncode(c.w, what, why)
	}
}
