package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/reach"
)

// runServerInvite is `samizdat server invite`: the operator mints
// invitations with the server's slice secret (server/distribution.go). An
// account that redeems one leaves probation once past the trust age and
// can invite others in turn: the operator's invitations start the tree.
func runServerInvite(e env) int {
	const cmd = "server invite"
	fs := newFlags(e, cmd)
	data := fs.String("data", "", "the server's data directory (its slice.secret keys the invitations)")
	count := fs.Int("count", 1, "how many invitations to print, one a line")
	valid := fs.Duration("valid", 30*24*time.Hour, "how long each invitation can wait to be redeemed")
	if _, err := parseAll(fs, e.args); err != nil {
		return flagExit(err)
	}
	if *data == "" {
		return fail(e, cmd, errors.New("--data DIR is required: the data directory of the server the invitations are for"))
	}
	if *count < 1 || *count > 1000 || *valid <= 0 {
		return fail(e, cmd, errors.New("--count must be 1..1000 and --valid positive"))
	}
	secret, err := loadOrCreateBookSecret(filepath.Join(*data, sliceSecretFile), 32)
	if err != nil {
		return fail(e, cmd, err)
	}
	key := reach.InvitationKey(secret)
	clear(secret)
	for range *count {
		in := reach.Invitation{NotAfter: time.Now().Add(*valid)}
		rand.Read(in.Nonce[:])
		fmt.Fprintln(e.stdout, base64.RawURLEncoding.EncodeToString(reach.MintInvitation(key, in)))
	}
	return 0
}

func init() {
	register("redeem", "redeem an invitation someone gave you, so the server hands you relays beyond the ones new accounts share", runRedeem)
}

// runRedeem is `samizdat redeem TOKEN`.
func runRedeem(e env) int {
	const cmd = "redeem"
	fs := clientFlagSet(&e, cmd)
	args, code, ok := parseArgs(e, fs, cmd, 1, 1, "usage: samizdat redeem TOKEN; the token comes from the person who invited you ('samizdat invite --vouch') or the server's operator")
	if !ok {
		return code
	}
	arg := args[0]
	tok, err := base64.RawURLEncoding.DecodeString(arg)
	if err != nil || len(tok) != reach.InvitationSize {
		return fail(e, cmd, errors.New("the invitation is damaged; copy the whole token"))
	}
	return withOnline(e, cmd, 30*time.Second, func(ctx context.Context, c *client.Client) error {
		if err := c.RedeemInvitation(ctx, tok); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "Invitation redeemed: once your account is a few days old, the server hands you relays of invited users.")
		return nil
	})
}
