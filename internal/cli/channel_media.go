package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/samizdat-project/samizdat/attach"
	"github.com/samizdat-project/samizdat/channel"
	"github.com/samizdat-project/samizdat/client"
)

// channelPostFile runs `samizdat channel post NAME --file PATH`: it
// uploads the file's chunks with the account's device (as send --file
// does, resuming an unfinished upload), then signs a media post that
// carries the descriptor. A descriptor too big for a post loses its
// thumbnail first.
func channelPostFile(e env, name, path, caption string) error {
	if len(caption) > channel.MaxCaption {
		return fmt.Errorf("the caption has %d bytes; at most %d fit in a post", len(caption), channel.MaxCaption)
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("opening the file: %w", err)
	}
	if n := attach.ChunkCount(min(st.Size(), attach.MaxSize)) * 32; n > client.MediaRoom(caption) {
		return fmt.Errorf("%s is too big for a channel post (its %d chunk hashes take %d bytes; a post has room for %d): post a smaller file, or split it",
			path, n/32, n, client.MediaRoom(caption))
	}
	return useClient(e, func(c *client.Client) error {
		ctx, stop := signalContext()
		defer stop()
		if err := goOnline(ctx, c, 15*time.Second); err != nil {
			return err
		}
		link, key, err := c.OwnedChannel(name)
		if err != nil {
			return err
		}
		bar := newProgress(e.stderr, "uploading")
		up, err := c.UploadFile(ctx, path, bar.options())
		bar.finish()
		if err != nil {
			return err
		}
		body, err := client.MediaPostBody(up, caption)
		if err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		conn, err := client.DialChannels(pctx, nil, link.Server, client.NewReaderKey(), nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		seq, err := client.PostSigned(pctx, conn, link, key, channel.KindMedia, body)
		if err != nil {
			return err
		}
		if err := c.Forget(ctx, up); err != nil {
			return err
		}
		a := up.Attachment
		fmt.Fprintf(e.stdout, "posted #%d to %q: %s (%s, %d chunks)\n", seq, name, safe(a.Name), sizeText(a.Size), len(a.Chunks))
		return nil
	})
}

// followedLink returns the link of the followed channel name, or of the
// user's own channel name.
func followedLink(e env, name string) (client.ChannelLink, error) {
	var link client.ChannelLink
	err := useClient(e, func(c *client.Client) error {
		f, err := loadFollowed(e, c)
		if err != nil {
			return err
		}
		if s, ok := f[name]; ok {
			link, err = client.ParseChannelLink(s)
		} else {
			link, _, err = c.OwnedChannel(name)
		}
		return err
	})
	return link, err
}

// catchUpFollower reads the channel of link, from its server or, when it
// is unreachable, from its mirrors; rejected posts are warned about on
// stderr.
func catchUpFollower(ctx context.Context, e env, link client.ChannelLink) (*client.Follower, error) {
	fl := client.NewFollower(link, client.FollowerOptions{OnReject: func(err error) {
		fmt.Fprintf(e.stderr, "warning: %v\n", err)
	}})
	if err := fl.Connect(ctx); err != nil {
		if err := fl.CatchUp(ctx); err != nil {
			fl.Close()
			return nil, err
		}
	}
	return fl, nil
}

// channelDownload runs `samizdat channel download NAME SEQ [--dir DIR]`.
func channelDownload(e env) error {
	fs := newFlags(e, "channel download")
	dir := fs.String("dir", ".", "directory to save the file in (created if missing)")
	rest, err := parseAll(fs, e.args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return fmt.Errorf("usage: samizdat channel download NAME SEQ [--dir DIR] (channel read shows the posts with files)")
	}
	seq, err := strconv.ParseUint(rest[1], 10, 64)
	if err != nil || seq == 0 {
		return fmt.Errorf("%q is not a post number; `samizdat channel read %s` shows them", rest[1], rest[0])
	}
	link, err := followedLink(e, rest[0])
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	fl, err := catchUpFollower(cctx, e, link)
	if err != nil {
		return err
	}
	defer fl.Close()
	m, a, err := fl.MediaPost(seq)
	if err != nil {
		return err
	}
	bar := newProgress(e.stderr, "downloading")
	path, err := fl.DownloadMedia(ctx, seq, *dir, bar.options())
	bar.finish()
	if err != nil {
		if errors.Is(err, client.ErrFileAltered) {
			return fmt.Errorf("the file of post #%d: %w", seq, err)
		}
		return err
	}
	ref := client.ChannelFileRef(m.Descriptor)
	if err := useClient(e, func(c *client.Client) error { return c.SetChannelFileSaved(ref, path) }); err != nil {
		fmt.Fprintf(e.stderr, "warning: the file is saved but not recorded: %v\n", err)
	}
	fmt.Fprintf(e.stdout, "Saved %s: %s, every chunk verified against the signed post (%d chunks, %d chunk requests).\n",
		path, sizeText(a.Size), bar.last.Total, bar.last.Sends)
	return nil
}

// printChannelFile prints the file line of a media post: name, size,
// type, dimensions and state (saved where, or how to download it).
func printChannelFile(e env, saved map[string]string, name string, seq uint64, f *client.ChannelFile) {
	dims := ""
	if f.Width > 0 {
		dims = fmt.Sprintf(", %dx%d", f.Width, f.Height)
	}
	state := "available: samizdat channel download " + name + " " + strconv.FormatUint(seq, 10)
	if p, ok := saved[f.Ref]; ok {
		state = "downloaded " + p
	}
	fmt.Fprintf(e.stdout, "  [file] %q (%s, %s%s; %s)\n", f.Name, sizeText(f.Size), safe(f.MediaType), dims, safe(state))
}

// savedChannelFiles returns where the files of page's media posts were
// saved on this device (by Ref); the account is opened only if the page
// has files.
func savedChannelFiles(e env, page []client.ChannelPostView) map[string]string {
	saved := map[string]string{}
	has := false
	for _, p := range page {
		has = has || p.File != nil
	}
	if !has {
		return saved
	}
	useClient(e, func(c *client.Client) error {
		for _, p := range page {
			if p.File == nil {
				continue
			}
			if path, ok := c.ChannelFileSaved(p.File.Ref); ok {
				saved[p.File.Ref] = path
			}
		}
		return nil
	})
	return saved
}
