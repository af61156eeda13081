package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/internal/e2etest"
)

// helperEnv makes the test binary run a helper instead of the tests (a
// separate process that uses the client library where the CLI has no
// command).
const helperEnv = "SAMIZDAT_E2E_HELPER"

// helperMain runs the helper named h and returns the exit code.
func helperMain(h string) int {
	switch h {
	case "link-device":
		// The CLI has no command to add a device to an account: this does
		// what such a command would, through the client library: read the
		// account key from an existing device (with its passphrase) and
		// create a new device of that account in another home.
		if err := linkDevice(os.Getenv("E2E_FROM_HOME"), os.Getenv("E2E_TO_HOME")); err != nil {
			fmt.Fprintln(os.Stderr, "link-device:", err)
			return 1
		}
		fmt.Println("linked a new device")
		return 0
	case "files-floor-serve", "files-floor-upload", "files-floor-download": // files_floor_test.go
		run := map[string]func() error{"files-floor-serve": floorServe, "files-floor-upload": floorUpload, "files-floor-download": floorDownload}[h]
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, h+":", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", h)
	return 2
}

func linkDevice(from, to string) error {
	src, err := client.Open(client.Options{Home: from, Passphrase: []byte(passphrase)})
	if err != nil {
		return err
	}
	seed, link, name := src.AccountSeed(), src.Server(), src.Name()
	src.Close()
	defer clear(seed)
	dst, err := client.Init(client.InitOptions{
		Options: client.Options{Home: to, Passphrase: []byte(passphrase), KDF: &client.LightKDF},
		Server:  link, Name: name, AccountSeed: seed,
	})
	if err != nil {
		return err
	}
	return dst.Close()
}

// linkDevice runs the link-device helper in its own process: to becomes a
// second device of from's account.
func runLinkDevice(t *testing.T, from, to *user) {
	t.Helper()
	e2etest.MustRunSelf(t, 60*time.Second, helperEnv+"=link-device", "E2E_FROM_HOME="+from.home, "E2E_TO_HOME="+to.home)
}
