package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/samizdat-project/samizdat/client"
	"github.com/samizdat-project/samizdat/mirror"
	"github.com/samizdat-project/samizdat/store/blobfs"
)

// Files of a relay that mirrors channels, in its --state directory.
const (
	channelMirrorKeyFile   = "channel-mirror.key" // the mirror listener's secure-channel key (0600)
	channelMirrorCacheFile = "channels.cache"     // the mirrored channels' signed posts (public)
	channelMirrorMediaDir  = "channel-media"      // the media chunks of those posts (store/blobfs)
)

// mirrorLinks parses the --mirror-channel links.
func mirrorLinks(ss []string) ([]client.ChannelLink, error) {
	links, err := mirror.ParseLinks(ss)
	if err != nil {
		return nil, fmt.Errorf("--mirror-channel: %w (give the link 'samizdat channel link NAME' prints)", err)
	}
	return links, nil
}

// startChannelMirror (the CLI side of package mirror) listens for followers, prints the mirror link and
// each mirrored channel's link with the mirror in it, and runs the mirror
// in the background; the returned channel yields run's result. With the
// browser app (app not nil), browsers reach the mirror at the app's
// "mirror" WebSocket path as well.
func startChannelMirror(ctx context.Context, e env, log *slog.Logger, f relayFlags, app *appServer) (<-chan error, error) {
	links, err := mirrorLinks(f.mirrorChannels)
	if err != nil {
		return nil, err
	}
	key, err := loadOrCreateServerKey(filepath.Join(f.state, channelMirrorKeyFile))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", f.channelListen)
	if err != nil {
		return nil, fmt.Errorf("listening for channel followers on %s: %w", f.channelListen, err)
	}
	public := f.channelPublic
	if public == "" {
		public = ln.Addr().String()
	}
	media, err := blobfs.Open(filepath.Join(f.state, channelMirrorMediaDir), nil)
	if err != nil {
		ln.Close()
		return nil, err
	}
	m := mirror.New(mirror.Config{Links: links, PerChannel: f.mirrorPosts,
		CachePath: filepath.Join(f.state, channelMirrorCacheFile), Log: log, Media: media})
	ml := client.ServerLink{Key: key.Public(), Addrs: []string{public}}
	fmt.Fprintf(e.stdout, "channel mirror listening on %s\nchannel mirror link: %s\n", ln.Addr(), ml)
	for _, l := range links {
		fmt.Fprintf(e.stdout, "mirrored channel %q: %s\n", l.Name, withRelay(l, ml))
	}
	fmt.Fprintln(e.stdout, "Followers who follow a channel through its mirrored link (or with --mirror) read it here while its server is unreachable.")
	var serve net.Listener = ln
	if app != nil && app.Mirror != nil {
		app.Mirror.Feed(ln)
		serve = app.Mirror
		fmt.Fprintln(e.stdout, "Browsers that opened the app here read the mirrored channels through it too.")
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, serve, key) }()
	return done, nil
}
