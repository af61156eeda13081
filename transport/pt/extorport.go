package pt

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
)

// The server (tor) side of the Extended ORPort (ext-orport-spec.txt), which
// the PT server connects to: it authenticates the PT with a shared cookie
// (safe-cookie auth, §3.1) and tells us each client's address (USERADDR,
// §3.2). goptlib implements the PT side.

const (
	cookieHeader = "! Extended ORPort Auth Cookie !\x0a" // 32 bytes, §2.1.2
	cookieLen    = 32
	nonceLen     = 32

	authTypeSafeCookie = 1

	extCmdDone      = 0x0000
	extCmdUserAddr  = 0x0001
	extCmdTransport = 0x0002
	extCmdOkay      = 0x1000

	maxExtCommands = 64 // a PT sends two or three; more is a confused peer
)

// writeCookieFile creates a fresh cookie and stores it in a new 0700
// directory, returning the cookie, the file and the directory.
func writeCookieFile() (cookie []byte, path, dir string, err error) {
	cookie = make([]byte, cookieLen)
	if _, err := rand.Read(cookie); err != nil {
		return nil, "", "", err
	}
	dir, err = os.MkdirTemp("", "samizdat-extor-")
	if err != nil {
		return nil, "", "", err
	}
	path = filepath.Join(dir, "extended_orport_auth_cookie")
	if err := os.WriteFile(path, append([]byte(cookieHeader), cookie...), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, "", "", err
	}
	return cookie, path, dir, nil
}

func extHash(cookie []byte, label string, clientNonce, serverNonce []byte) []byte {
	m := hmac.New(sha256.New, cookie)
	m.Write([]byte(label))
	m.Write(clientNonce)
	m.Write(serverNonce)
	return m.Sum(nil)
}

// extORServerHandshake authenticates the PT on c and reads its commands up
// to DONE. It returns the client address from USERADDR ("" if none came).
func extORServerHandshake(c io.ReadWriter, cookie []byte) (string, error) {
	// §3.1: offer safe-cookie only; the list ends with 0.
	if _, err := c.Write([]byte{authTypeSafeCookie, 0}); err != nil {
		return "", err
	}
	var choice [1]byte
	if _, err := io.ReadFull(c, choice[:]); err != nil {
		return "", err
	}
	if choice[0] != authTypeSafeCookie {
		return "", fmt.Errorf("PT chose auth type %d", choice[0])
	}
	clientNonce := make([]byte, nonceLen)
	if _, err := io.ReadFull(c, clientNonce); err != nil {
		return "", err
	}
	serverNonce := make([]byte, nonceLen)
	if _, err := rand.Read(serverNonce); err != nil {
		return "", err
	}
	serverHash := extHash(cookie, "ExtORPort authentication server-to-client hash", clientNonce, serverNonce)
	if _, err := c.Write(append(serverHash, serverNonce...)); err != nil {
		return "", err
	}
	clientHash := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, clientHash); err != nil {
		return "", err
	}
	want := extHash(cookie, "ExtORPort authentication client-to-server hash", clientNonce, serverNonce)
	// §3.1: the server checks ClientHash; constant time.
	if !hmac.Equal(clientHash, want) {
		c.Write([]byte{0})
		return "", errors.New("PT failed the cookie authentication")
	}
	if _, err := c.Write([]byte{1}); err != nil {
		return "", err
	}
	// §3.2: commands until DONE, answered with OKAY.
	var userAddr string
	for i := 0; ; i++ {
		if i == maxExtCommands {
			return "", errors.New("too many Extended ORPort commands")
		}
		var head [4]byte
		if _, err := io.ReadFull(c, head[:]); err != nil {
			return "", err
		}
		cmd, n := binary.BigEndian.Uint16(head[:2]), binary.BigEndian.Uint16(head[2:])
		body := make([]byte, n)
		if _, err := io.ReadFull(c, body); err != nil {
			return "", err
		}
		switch cmd {
		case extCmdUserAddr:
			userAddr = string(body)
		case extCmdTransport:
			// Known from our own configuration.
		case extCmdDone:
			if _, err := c.Write([]byte{extCmdOkay >> 8, extCmdOkay & 0xff, 0, 0}); err != nil {
				return "", err
			}
			return userAddr, nil
		default:
			// §3.2: unknown commands are ignored.
		}
	}
}

// clientAddr parses a USERADDR body ("1.2.3.4:5678", "[::1]:5678"); a body
// that is not an address gives nil.
func clientAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(string(bytes.TrimSpace([]byte(s))))
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}
