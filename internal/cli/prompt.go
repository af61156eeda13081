package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/term"
)

// promptPassphrase asks for the store passphrase on the terminal, without
// echo (golang.org/x/term), when neither SAMIZDAT_PASSPHRASE nor
// --passphrase-file gives it and stdin is a terminal. With confirm (init),
// it asks twice and refuses two different answers.
func promptPassphrase(e env, confirm bool) ([]byte, error) {
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errNoPassphrase
	}
	fd := int(f.Fd())
	fmt.Fprint(e.stderr, "Passphrase of the local store: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("the passphrase is empty; type one (it encrypts the local store)")
	}
	if confirm {
		fmt.Fprint(e.stderr, "The same passphrase again: ")
		q, err := term.ReadPassword(fd)
		fmt.Fprintln(e.stderr)
		if err != nil {
			clear(p)
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		same := bytes.Equal(p, q)
		clear(q)
		if !same {
			clear(p)
			return nil, errors.New("the two passphrases differ; nothing was created, run it again")
		}
	}
	return p, nil
}

var errNoPassphrase = errors.New("no passphrase for the local store: set SAMIZDAT_PASSPHRASE, pass --passphrase-file FILE, or run it on a terminal to be asked")
