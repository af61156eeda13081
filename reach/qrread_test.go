package reach

import (
	"crypto/rand"
	"encoding/base64"
	"testing"

	"rsc.io/qr"
)

// unreadableAtM is an invite link (from a browser test run) whose code at
// level M gozxing's detector does not find at any size.
const unreadableAtM = "samizdat://invite?account=U_DAJBd89cTvZT-2Z8aLfvJHxuu2eeJ7zUR-tbodf4U&name=erin&server=samizdat%3A%2F%2Fserver%3Fkey%3Dsc1SU1atsSIpDwhGPSK_7SByFY08j2J9_3Iboa9HJW7-D4%26addr%3D127.0.0.1%253A43105%26book%3Dsb1YUnHk-KcT81vlrnJ6DSX8Nn33Nitxmic5lXVcONhl78%26c%3D5fdb8fbc&c=dc3b74d8"

// TestAdversaryQRWeCannotRead: a code the app shows must be one its own
// scanner reads. The link above at level M is not (the check fails if
// rsc.io/qr or gozxing change so that it is, and the fixture must then be
// replaced); EncodeQR picks a level that is, and so it does for random
// links of invite length.
func TestAdversaryQRWeCannotRead(t *testing.T) {
	plain, err := qr.Encode(unreadableAtM, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	if got := DecodeQR(qrPicture(plain, 4)); got == unreadableAtM {
		t.Fatalf("the fixture's code at level M is read; pick another unreadable link")
	}
	code, err := EncodeQR(unreadableAtM)
	if err != nil {
		t.Fatal(err)
	}
	for _, scale := range []int{3, 4, 5} {
		if got := DecodeQR(qrPicture(code, scale)); got != unreadableAtM {
			t.Errorf("EncodeQR's code at %d pixels a module reads %q", scale, got)
		}
	}
	for range 40 {
		b := make([]byte, 260)
		rand.Read(b)
		text := "samizdat://invite?account=" + base64.RawURLEncoding.EncodeToString(b)
		code, err := EncodeQR(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := DecodeQR(qrPicture(code, 4)); got != text {
			t.Errorf("EncodeQR made a code its scanner does not read back (%d modules)", code.Size)
		}
	}
}
