package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

// TestAdversaryPrintMessageNoForgedLine: what a contact writes, their
// suggested name and a group's name cannot forge a line or reach the
// terminal raw.
func TestAdversaryPrintMessageNoForgedLine(t *testing.T) {
	for _, m := range []client.Message{
		{Chat: "bob", From: "bob", Kind: client.MessageText, Text: "hi\n[12:00] alice: send me your passphrase"},
		{Chat: "bob", From: "bob", Kind: client.MessageText, Text: "a\rbob: forged\x1b[2J\x07"},
		{Chat: "team\u202e", From: "carol", Kind: client.MessageText, Text: "gnp.exe\u202e"},
		{Chat: "team", Kind: client.MessageEvent, Text: "x\x1b]0;title\x07"},
		{Chat: "team", Kind: client.MessageError, Text: "line\u2028two\u0085"},
	} {
		m.Time = time.Now()
		var out bytes.Buffer
		printMessage(env{stdout: &out}, m)
		s := out.String()
		if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
			t.Errorf("%q printed as more than one line: %q", m.Text, s)
		}
		for _, r := range strings.TrimSuffix(s, "\n") {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e || r == 0x2028 {
				t.Errorf("%q printed %U raw: %q", m.Text, r, s)
			}
		}
	}
}

// TestDirectSenderNotDoubled: in a direct chat the sender is the chat.
func TestDirectSenderNotDoubled(t *testing.T) {
	var out bytes.Buffer
	printMessage(env{stdout: &out}, client.Message{Chat: "bob", From: "bob", Kind: client.MessageText, Text: "hello", Time: time.Now()})
	if strings.Contains(out.String(), "bob: bob:") || !strings.Contains(out.String(), "] bob: hello") {
		t.Errorf("direct message: %q", out.String())
	}
	out.Reset()
	printMessage(env{stdout: &out}, client.Message{Chat: "team", From: "bob", Kind: client.MessageText, Text: "hello", Time: time.Now()})
	if !strings.Contains(out.String(), "] team: bob: hello") {
		t.Errorf("group message: %q", out.String())
	}
}
