package format

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"testing"

	"github.com/samizdat-project/samizdat/mls/internal/codec"
	"github.com/samizdat-project/samizdat/mls/internal/vectors"
)

func loadVectors(t testing.TB, name string, v any) { vectors.Load(t, name, v) }

// messageField says how each messages.json field decodes and what it must
// decode to.
type messageField struct {
	decoder func() codec.Unmarshaler
	check   func(v codec.Unmarshaler) error
}

func wantWire(wf WireFormat, ct ContentType) func(v codec.Unmarshaler) error {
	return func(v codec.Unmarshaler) error {
		m := v.(*MLSMessage)
		if m.Version != MLS10 {
			return fmt.Errorf("version %d, want mls10", m.Version)
		}
		// Encoding fails when the body of wf is not set.
		if _, err := codec.Marshal(m); m.WireFormat != wf || err != nil {
			return fmt.Errorf("wire format %d, want %d", m.WireFormat, wf)
		}
		if ct != 0 {
			var got ContentType
			switch {
			case m.PublicMessage != nil:
				got = m.PublicMessage.Content.ContentType
			case m.PrivateMessage != nil:
				got = m.PrivateMessage.ContentType
			}
			if got != ct {
				return fmt.Errorf("content type %d, want %d", got, ct)
			}
		}
		return nil
	}
}

func noCheck(codec.Unmarshaler) error { return nil }

var messageFields = map[string]messageField{
	"mls_welcome":                       {func() codec.Unmarshaler { return new(MLSMessage) }, wantWire(WireWelcome, 0)},
	"mls_group_info":                    {func() codec.Unmarshaler { return new(MLSMessage) }, wantWire(WireGroupInfo, 0)},
	"mls_key_package":                   {func() codec.Unmarshaler { return new(MLSMessage) }, wantWire(WireKeyPackage, 0)},
	"public_message_application":        {func() codec.Unmarshaler { return new(MLSMessage) }, wantWire(WirePublicMessage, ContentApplication)},
	"public_message_proposal":           {func() codec.Unmarshaler { return new(MLSMessage) }, wantWire(WirePublicMessage, ContentProposal)},
	"public_message_commit":             {func() codec.Unmarshaler { return new(MLSMessage) }, wantWire(WirePublicMessage, ContentCommit)},
	"private_message":                   {func() codec.Unmarshaler { return new(MLSMessage) }, wantWire(WirePrivateMessage, 0)},
	"ratchet_tree":                      {func() codec.Unmarshaler { return new(RatchetTree) }, checkTree},
	"group_secrets":                     {func() codec.Unmarshaler { return new(GroupSecrets) }, noCheck},
	"add_proposal":                      {func() codec.Unmarshaler { return new(AddProposal) }, noCheck},
	"update_proposal":                   {func() codec.Unmarshaler { return new(UpdateProposal) }, noCheck},
	"remove_proposal":                   {func() codec.Unmarshaler { return new(RemoveProposal) }, noCheck},
	"pre_shared_key_proposal":           {func() codec.Unmarshaler { return new(PreSharedKeyProposal) }, noCheck},
	"re_init_proposal":                  {func() codec.Unmarshaler { return new(ReInitProposal) }, noCheck},
	"external_init_proposal":            {func() codec.Unmarshaler { return new(ExternalInitProposal) }, noCheck},
	"group_context_extensions_proposal": {func() codec.Unmarshaler { return new(GroupContextExtensionsProposal) }, noCheck},
	"commit":                            {func() codec.Unmarshaler { return new(Commit) }, noCheck},
}

// checkTree asserts that a decoded ratchet tree has a leaf at every even
// index that is not blank and a parent at every odd one (RFC 9420 §4.1).
func checkTree(v codec.Unmarshaler) error {
	tree := *v.(*RatchetTree)
	if len(tree) == 0 {
		return fmt.Errorf("empty tree")
	}
	for i, n := range tree {
		if n == nil {
			continue
		}
		if (i%2 == 0) != (n.Leaf != nil) {
			return fmt.Errorf("node %d has type %d", i, n.Type())
		}
	}
	return nil
}

func TestMessagesVectors(t *testing.T) {
	var vectors []map[string]string
	loadVectors(t, "messages.json", &vectors)
	if len(vectors) == 0 {
		t.Fatal("no vectors")
	}
	count := 0
	for i, vec := range vectors {
		keys := make([]string, 0, len(vec))
		for k := range vec {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, field := range keys {
			t.Run(fmt.Sprintf("messages.json/%d/%s", i, field), func(t *testing.T) {
				f, ok := messageFields[field]
				if !ok {
					t.Fatalf("no decoder for field %q", field)
				}
				want, err := hex.DecodeString(vec[field])
				if err != nil {
					t.Fatal(err)
				}
				v := f.decoder()
				if err := codec.Unmarshal(want, v); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if err := f.check(v); err != nil {
					t.Fatal(err)
				}
				got, err := codec.Marshal(v.(codec.Marshaler))
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("re-encoding differs:\n got %x\nwant %x", got, want)
				}
			})
			count++
		}
	}
	t.Logf("messages.json: %d objects, %d fields", len(vectors), count)
}

func TestDeserializationVectors(t *testing.T) {
	type vector struct {
		Header string `json:"vlbytes_header"`
		Length uint64 `json:"length"`
	}
	vectors.Each(t, "deserialization.json", func(t *testing.T, vec vector) {
		header, err := hex.DecodeString(vec.Header)
		if err != nil {
			t.Fatal(err)
		}
		r := codec.NewReader(header)
		if got := r.Varint(); got != vec.Length {
			t.Fatalf("decoded length %d, want %d", got, vec.Length)
		}
		if err := r.Done(); err != nil {
			t.Fatalf("decode: %v", err)
		}
		var w codec.Writer
		w.Varint(vec.Length)
		enc, err := w.Result()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, header) {
			t.Fatalf("encoded header %x, want %x", enc, header)
		}
	})
}
