package wire

// Endpoint book messages (docs/spec/wire.md, "Endpoint book"): a registered
// device asks for the server's signed endpoint book (package reach) and gets
// its own edition: the server's direct addresses and fronts plus the
// device's slice of the volunteer relays, all signed with the server's
// Ed25519 book key. The wire protocol carries the book as opaque bytes; the
// client verifies them against the book key pinned from the server link.
const (
	TypeFetchBook Type = 0x0040
	TypeBook      Type = 0x0140
)

// MaxBook bounds the encoded book in a Book answer.
const MaxBook = 256 << 10

// FetchBook asks for the endpoint book. Have is the highest book version the
// client holds (0 = none); the server may use it to skip work but always
// answers with a Book. Answer: Book, or NotFound when the server publishes
// no book.
type FetchBook struct {
	Have uint64
}

// Book answers FetchBook: one signed edition of the endpoint book, opaque
// here (reach.VerifyBook reads it).
type Book struct {
	Data []byte // 1..MaxBook bytes
}

func (*FetchBook) Type() Type { return TypeFetchBook }
func (*Book) Type() Type      { return TypeBook }

func (m *FetchBook) code(c coder)  { c.u64("have", &m.Have) }
func (*FetchBook) validate() error { return nil }

func (m *Book) code(c coder)  { c.bytes("data", &m.Data, 1, MaxBook) }
func (*Book) validate() error { return nil }

// bookMessages lists the relay book messages, each request with the type
// that answers it.
var bookMessages = []kind{
	msg[FetchBook](TypeBook),
	msg[Book](0),
}
