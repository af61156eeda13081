package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("channel", "broadcast channels: create, post, link, follow, read", runChannel)
}

const channelUsage = `usage:
  samizdat channel create NAME        create a channel you own (its key derives from your account key)
  samizdat channel post NAME TEXT     post to your channel
  samizdat channel post NAME --file PATH [--caption TEXT]   post a file (a photo, say) to your channel;
                                      relays that mirror the channel keep and serve it too
  samizdat channel link NAME          print the channel's link and QR code, for readers
  samizdat channel follow LINK [--mirror MIRROR]...   follow a channel (samizdat://channel?...) and catch up;
                                      --mirror adds a relay's channel mirror link, read when the server is unreachable
  samizdat channel read NAME [--after SEQ] [--limit N]   read posts, verified, oldest first
  samizdat channel download NAME SEQ [--dir DIR]   fetch, verify and save the file of post SEQ
                                      (from the server, or from a mirror when it is unreachable)`

func runChannel(e env) int {
	if len(e.args) == 0 {
		return fail(e, "channel", errors.New(channelUsage))
	}
	op := e.args[0]
	e.args = e.args[1:]
	if wantsHelp(e.args) && (op == "create" || op == "link") { // help.go
		fmt.Fprintln(e.stdout, channelUsage)
		return 0
	}
	var err error
	switch op {
	case "create":
		err = channelCreate(e)
	case "post":
		err = channelPost(e)
	case "link":
		err = channelLinkCmd(e)
	case "follow":
		err = channelFollow(e)
	case "read":
		err = channelRead(e)
	case "download":
		err = channelDownload(e)
	default:
		err = errors.New(channelUsage)
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		return fail(e, "channel "+op, err)
	}
	return 0
}

// legacyFollowedFile is where followed channels were kept in clear before
// they moved into the encrypted local store; it is migrated once, then
// removed.
const legacyFollowedFile = "channels.json"

// loadFollowed returns the followed channels (name -> link) from the
// account's encrypted local store, migrating a legacy channels.json first.
func loadFollowed(e env, c *client.Client) (map[string]string, error) {
	if err := migrateFollowed(e, c); err != nil {
		return nil, err
	}
	return c.FollowedChannels()
}

// migrateFollowed moves the channels of a legacy channels.json into the
// local store and removes the file.
func migrateFollowed(e env, c *client.Client) error {
	home, err := homeDir(e)
	if err != nil {
		return err
	}
	p := filepath.Join(home, legacyFollowedFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", p, err)
	}
	old := map[string]string{}
	if err := json.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("%s is damaged (%v); remove it and follow the channels again", p, err)
	}
	have, err := c.FollowedChannels()
	if err != nil {
		return err
	}
	for name := range have {
		delete(old, name) // the store's entry is newer
	}
	if err := c.FollowChannels(old); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("removing %s after moving it into the local store: %w; remove it by hand", p, err)
	}
	return nil
}

// withOwnedChannel opens the account of e and runs f with the link and
// owner key of the user's channel name; the account closes after f.
func withOwnedChannel(e env, name string, f func(link client.ChannelLink, key ed25519.PrivateKey) error) error {
	return useClient(e, func(c *client.Client) error {
		link, key, err := c.OwnedChannel(name)
		if err != nil {
			return err
		}
		return f(link, key)
	})
}

// withOwnedChannelConn is withOwnedChannel with a connection to the
// channel's server, open for 30 s at most, closed after f.
func withOwnedChannelConn(e env, name string, f func(ctx context.Context, conn *client.ChannelConn, link client.ChannelLink, key ed25519.PrivateKey) error) error {
	return withOwnedChannel(e, name, func(link client.ChannelLink, key ed25519.PrivateKey) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := client.DialChannels(ctx, nil, link.Server, client.NewReaderKey(), nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		return f(ctx, conn, link, key)
	})
}

func oneArg(e env, what string) (string, error) {
	if len(e.args) < 1 || e.args[0] == "" {
		return "", fmt.Errorf("missing %s\n%s", what, channelUsage)
	}
	return e.args[0], nil
}

func channelCreate(e env) error {
	name, err := oneArg(e, "NAME")
	if err != nil {
		return err
	}
	return withOwnedChannelConn(e, name, func(ctx context.Context, conn *client.ChannelConn, link client.ChannelLink, key ed25519.PrivateKey) error {
		d, err := channel.NewDescriptor(key, name, uint64(time.Now().Unix()))
		if err != nil {
			return err
		}
		if err := conn.CreateChannel(ctx, d.Encode()); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "created channel %q\n%s\n", name, link)
		return nil
	})
}

func channelPost(e env) error {
	fs := newFlags(e, "channel post")
	file := fs.String("file", "", "post this file (a photo, say) instead of text")
	caption := fs.String("caption", "", "with --file: the text shown with the file")
	rest, err := parseAll(fs, e.args)
	if err != nil {
		return err
	}
	if *file != "" {
		if len(rest) != 1 {
			return fmt.Errorf("usage: samizdat channel post NAME --file PATH [--caption TEXT]\n%s", channelUsage)
		}
		return channelPostFile(e, rest[0], *file, *caption)
	}
	if len(rest) < 2 {
		return fmt.Errorf("missing NAME or TEXT\n%s", channelUsage)
	}
	name, text := rest[0], strings.Join(rest[1:], " ")
	return withOwnedChannelConn(e, name, func(ctx context.Context, conn *client.ChannelConn, link client.ChannelLink, key ed25519.PrivateKey) error {
		seq, err := client.PostText(ctx, conn, link, key, text)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "posted #%d to %q\n", seq, name)
		return nil
	})
}

func channelLinkCmd(e env) error {
	name, err := oneArg(e, "NAME")
	if err != nil {
		return err
	}
	return withOwnedChannel(e, name, func(link client.ChannelLink, _ ed25519.PrivateKey) error {
		fmt.Fprintln(e.stdout, link)
		if err := printQR(e.stdout, link.String()); err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, "Readers run: samizdat channel follow '<link>'")
		return nil
	})
}

func channelFollow(e env) error {
	fs := newFlags(e, "channel follow")
	var mirrors repeated
	fs.Var(&mirrors, "mirror", "a mirror of the channel to read from when its server is unreachable: the channel mirror link a relay printed (repeat for more)")
	rest, err := parseAll(fs, e.args)
	if err != nil {
		return err
	}
	if len(rest) < 1 || rest[0] == "" {
		return fmt.Errorf("missing LINK\n%s", channelUsage)
	}
	link, err := client.ParseChannelLink(rest[0])
	if err != nil {
		return err
	}
	for _, m := range mirrors {
		ml, err := client.ParseServerLink(m)
		if err != nil {
			return fmt.Errorf("--mirror: %w", err)
		}
		link = withRelay(link, ml)
	}
	return useClient(e, func(c *client.Client) error {
		if err := migrateFollowed(e, c); err != nil {
			return err
		}
		if err := c.FollowChannels(map[string]string{link.Name: link.String()}); err != nil {
			return err
		}
		fl := client.NewFollower(link, client.FollowerOptions{})
		defer fl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := fl.Connect(ctx); err != nil {
			if err := fl.CatchUp(ctx); err != nil {
				return fmt.Errorf("following %q (saved; read it later): %w", link.Name, err)
			}
		}
		fmt.Fprintf(e.stdout, "following %q: %d posts; read them with: samizdat channel read %s\n", link.Name, fl.LastSeq(), link.Name)
		return nil
	})
}

// withRelay adds a mirror to a channel link unless it is there already.
func withRelay(l client.ChannelLink, r client.ServerLink) client.ChannelLink {
	for _, have := range l.Relays {
		if have.String() == r.String() {
			return l
		}
	}
	l.Relays = append(l.Relays, r)
	return l
}

func channelRead(e env) error {
	fs := newFlags(e, "channel read")
	after := fs.Uint64("after", 0, "show posts after this number")
	limit := fs.Int("limit", 20, "posts per page")
	rest, err := parseAll(fs, e.args)
	if err != nil {
		return err
	}
	if len(rest) < 1 {
		return fmt.Errorf("missing NAME\n%s", channelUsage)
	}
	name := rest[0]
	link, err := followedLink(e, name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fl, err := catchUpFollower(ctx, e, link)
	if err != nil {
		return err
	}
	defer fl.Close()
	page, next := fl.Read(*after, *limit)
	saved := savedChannelFiles(e, page)
	var seqs []uint64
	for _, p := range page {
		edited := ""
		if p.Edited {
			edited = " (edited)"
		}
		// Each line of the post made terminal-safe and indented, so that no
		// line of it can pass for a post header (internal/termsafe).
		lines := strings.Split(p.Text, "\n")
		for i, l := range lines {
			lines[i] = "  " + safe(l)
		}
		fmt.Fprintf(e.stdout, "#%d %s%s\n", p.Seq, p.Time.Format(time.DateTime), edited)
		if p.File != nil {
			printChannelFile(e, saved, name, p.Seq, p.File)
		}
		if p.Text != "" {
			fmt.Fprintln(e.stdout, strings.Join(lines, "\n"))
		}
		fmt.Fprintln(e.stdout)
		seqs = append(seqs, p.Seq)
	}
	if conn := fl.Conn(); conn != nil && len(seqs) > 0 {
		conn.RecordViews(ctx, link.ID(), seqs)
		if v, err := conn.ViewCounts(ctx, link.ID(), seqs); err == nil {
			fmt.Fprintf(e.stdout, "views:")
			for _, s := range seqs {
				fmt.Fprintf(e.stdout, " #%d:%d", s, v[s])
			}
			fmt.Fprintln(e.stdout)
		}
	}
	if next != 0 {
		fmt.Fprintf(e.stdout, "more: samizdat channel read %s --after %d\n", name, next)
	}
	return nil
}
