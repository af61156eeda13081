package wire

import (
	"errors"
	"testing"
)

// bookSamples are the endpoint book messages' samples (and golden files).
func bookSamples() []sample {
	return []sample{
		{"FetchBook", 30, &FetchBook{Have: 1_790_000_000}},
		{"FetchBook-none", 30, &FetchBook{}},
		{"Book", 30, &Book{Data: fill(0x5a, 9)}},
	}
}

func TestBookMessages(t *testing.T) {
	if got := ResponseType(TypeFetchBook); got != TypeBook {
		t.Fatalf("ResponseType(FetchBook) = %v, want Book", got)
	}
	if TypeFetchBook.Class() != ClassRequest || TypeBook.Class() != ClassResponse {
		t.Fatal("book message classes are wrong")
	}
	// An empty book and one over MaxBook are refused both ways.
	for _, n := range []int{0, MaxBook + 1} {
		if _, err := Encode(Frame{RequestID: 1, Msg: &Book{Data: make([]byte, n)}}); err == nil {
			t.Errorf("Encode accepted a %d-byte book", n)
		}
		raw := []byte{0, 1, 0x01, 0x40, 0, 0, 0, 1, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		raw = append(raw, make([]byte, n)...)
		if _, err := Decode(raw); err == nil {
			t.Errorf("Decode accepted a %d-byte book", n)
		}
	}
	// A truncated FetchBook is an error, not a panic.
	if _, err := Decode([]byte{0, 1, 0, 0x40, 0, 0, 0, 1, 0, 0}); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated FetchBook: %v, want ErrTruncated", err)
	}
}
