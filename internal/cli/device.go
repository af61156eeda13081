package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/client"
)

// Device linking and device management (docs/spec/device-linking.md).

func init() {
	register("device", "your devices: link (on a new device), approve CODE, list, revoke ID", runDevice)
	register("devices", "list your account's devices", func(e env) int { return runDeviceList(e, "devices") })
}

func runDevice(e env) int {
	return runSubcommand(e, "device", "say what to do: link | approve CODE | list | revoke ID", map[string]func(env) int{
		"link":    runDeviceLink,
		"approve": runDeviceApprove,
		"list":    func(e env) int { return runDeviceList(e, "device list") },
		"revoke":  runDeviceRevoke,
	})
}

// runDeviceLink runs on the new device: it shows the code and waits.
func runDeviceLink(e env) int {
	const cmd = "device link"
	fs := clientFlagSet(&e, cmd)
	link := fs.String("server", "", "the server link (samizdat://server?...) of your account's server")
	noQR := fs.Bool("no-qr", false, "print the code without a QR code")
	wait := fs.Duration("timeout", client.LinkTTL, "how long to wait for the approval")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	if *link == "" {
		return fail(e, cmd, errors.New("--server LINK is required: use the same server link as your other device ('samizdat status' there shows it)"))
	}
	sl, err := client.ParseServerLink(*link)
	if err != nil {
		return fail(e, cmd, err)
	}
	e.newStore = true // a new home: a prompt asks twice
	o, err := clientOptions(e)
	if err != nil {
		return fail(e, cmd, err)
	}
	lock, err := client.LockHome(o.Home) // one live session per home
	if err != nil {
		return fail(e, cmd, err)
	}
	defer lock.Unlock()
	in := client.InitOptions{Options: o, Server: sl}
	if os.Getenv("SAMIZDAT_INSECURE_TEST_KDF") == "1" {
		in.KDF = &client.LightKDF // tests only
	}
	ctx, stop := signalContext()
	defer stop()
	r, err := client.StartLink(ctx, in)
	clear(o.Passphrase)
	if err != nil {
		return fail(e, cmd, err)
	}
	defer r.Close()
	fmt.Fprintln(e.stdout, "To link this device to your account, run on a device that already has it:")
	fmt.Fprintf(e.stdout, "\n    samizdat device approve %s\n\n", r.Code)
	if !*noQR {
		fmt.Fprintln(e.stdout, "or scan this code with it:")
		if err := printQR(e.stdout, r.Link); err != nil {
			return fail(e, cmd, err)
		}
	}
	fmt.Fprintf(e.stdout, "Verification number: %s\n", r.Verification)
	fmt.Fprintln(e.stdout, "Approve only if your other device shows the same number. Waiting for the approval...")
	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	c, err := r.Wait(wctx)
	if err != nil {
		return fail(e, cmd, err)
	}
	defer c.Close()
	fmt.Fprintf(e.stdout, "Received the account %q; registering this device...\n", c.Name())
	if err := goOnline(ctx, c, 30*time.Second); err != nil {
		return fail(e, cmd, fmt.Errorf("the account is saved here but %v; it registers on the next connection", err))
	}
	fmt.Fprintf(e.stdout, "Linked: this device (%s) is now part of your account. Your other device adds it to your chats.\n", shortDevice(c.DeviceKey()))
	return 0
}

// runDeviceApprove runs on a device of the account: it checks the code,
// shows the verification number and sends the sealed account.
func runDeviceApprove(e env) int {
	const cmd = "device approve"
	fs := clientFlagSet(&e, cmd)
	verify := fs.String("verify", "", "the verification number the new device shows (else you are asked)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the new device to come online and join your chats")
	args, code, ok := parseArgs(e, fs, cmd, 1, 1, "give the code the new device shows: samizdat device approve CODE")
	if !ok {
		return code
	}
	if err := client.CheckLinkCode(args[0]); err != nil {
		return fail(e, cmd, err)
	}
	return withOnline(e, cmd, 15*time.Second, func(ctx context.Context, c *client.Client) error {
		a, err := c.LookupLink(ctx, args[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "A new device (%s) asks to join your account.\n", shortDevice(a.Device))
		fmt.Fprintf(e.stdout, "Verification number: %s\n", a.Verification)
		confirm := *verify
		if confirm == "" {
			fmt.Fprint(e.stdout, "Type the number the new device shows (or 'yes' if it is the same): ")
			line, _ := bufio.NewReader(e.stdin).ReadString('\n')
			line = strings.TrimSpace(line)
			if line == "" {
				// Nothing typed (an empty or closed stdin) is no answer, not
				// a wrong number: nothing suggests a takeover.
				return errors.New("no answer was given, so nothing was approved; run it again and type the number the new device shows, or pass --verify NUMBER")
			}
			switch strings.ToLower(line) {
			case "y", "yes":
				confirm = a.Verification
			default:
				confirm = line
			}
		}
		if err := c.ApproveLink(ctx, a, confirm); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "Approved: your account went to the new device, encrypted to its key. Waiting for it to join your chats...")
		wctx, cancel := context.WithTimeout(ctx, *wait)
		defer cancel()
		if err := c.AddLinkedDevice(wctx, a.Device); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "Done: the new device is in all your chats.")
		return nil
	})
}

func runDeviceList(e env, cmd string) int {
	fs := clientFlagSet(&e, cmd)
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	return withOnline(e, cmd, 15*time.Second, func(ctx context.Context, c *client.Client) error {
		devs, err := c.Devices(ctx)
		if err != nil {
			return err
		}
		for _, d := range devs {
			mark := ""
			if d.This {
				mark = "  (this device)"
			}
			fmt.Fprintf(e.stdout, "%s%s\n", d.ShortID(), mark)
		}
		return nil
	})
}

func runDeviceRevoke(e env) int {
	const cmd = "device revoke"
	fs := clientFlagSet(&e, cmd)
	args, code, ok := parseArgs(e, fs, cmd, 1, 1, "give the device id from 'samizdat devices': samizdat device revoke ID")
	if !ok {
		return code
	}
	id := args[0]
	return withOnline(e, cmd, 15*time.Second, func(ctx context.Context, c *client.Client) error {
		d, err := c.RevokeDevice(ctx, id)
		if err != nil && d.Key == (client.DeviceKey{}) {
			return err
		}
		fmt.Fprintf(e.stdout, "Revoked device %s: the server refuses it from now on.\n", d.ShortID())
		if err != nil {
			return err // revoked, but not yet removed from every chat
		}
		fmt.Fprintln(e.stdout, "Removed it from all your chats: it cannot read what is sent in them from now on.")
		fmt.Fprintln(e.stdout, "It still knows your account key: if it was stolen rather than lost, make a new account and tell your contacts.")
		return nil
	})
}

// shortDevice is the short id of a device key, as 'samizdat devices' shows it.
func shortDevice(k client.DeviceKey) string {
	return client.DeviceInfo{ID: client.DeviceIDOf(k)}.ShortID()
}
