package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/samizdat-project/samizdat/client"
)

func init() {
	register("download", "fetch, verify and decrypt the file of a message: download MSGID [--dir DIR]", runDownload)
}

// sendFile runs `samizdat send NAME --file PATH [--caption TEXT]`.
func sendFile(e env, args []string, path, caption string) int {
	if len(args) != 1 {
		return fail(e, "send", errors.New("usage: samizdat send NAME --file PATH [--caption TEXT]"))
	}
	name := args[0]
	return withOnline(e, "send", 15*time.Second, func(ctx context.Context, c *client.Client) error {
		bar := newProgress(e.stderr, "uploading")
		o := bar.options()
		o.CatchUp = 300 * time.Millisecond // the chat may have moved on: catch up while uploading
		start := time.Now()
		err := c.SendFile(ctx, name, path, caption, o)
		bar.finish()
		last := bar.last
		if err != nil {
			return err
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Flush(fctx); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Sent %s to %s: %s in %d chunks (%d chunk uploads, at most %d of one chunk; end-to-end encrypted); %s.\n",
			path, name, sizeText(last.Bytes), last.Total, last.Sends, last.MostSends, rateText("upload", last.Bytes, time.Since(start)))
		printNew(e, c, ctx)
		return nil
	})
}

func runDownload(e env) int {
	fs := clientFlagSet(&e, "download")
	dir := fs.String("dir", ".", "directory to save the file in (created if missing)")
	args, code, ok := parseArgs(e, fs, "download", 1, 1, "usage: samizdat download MSGID [--dir DIR] (read shows the ids of files)")
	if !ok {
		return code
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return fail(e, "download", fmt.Errorf("%q is not a message id; `samizdat read` shows the ids of files", args[0]))
	}
	return withOnline(e, "download", 15*time.Second, func(ctx context.Context, c *client.Client) error {
		bar := newProgress(e.stderr, "downloading")
		start := time.Now()
		path, err := c.Download(ctx, id, *dir, bar.options())
		took := time.Since(start)
		bar.finish()
		last := bar.last
		if err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Saved %s: %s, every chunk verified (%d chunks, %d chunk requests, at most %d of one chunk); %s.\n",
			path, sizeText(st.Size()), last.Total, last.Sends, last.MostSends, rateText("download", st.Size(), took))
		return nil
	})
}

// printFile prints a file message with the id to download it by.
func printFile(e env, ts string, m client.Message) {
	from := m.From
	if m.Out {
		from = "me"
	}
	f := m.File
	state := f.State
	if f.State == client.FileDownloaded || (f.State == client.FileSent && f.Path != "") {
		state += " " + f.Path
	}
	dims := ""
	if f.Width > 0 {
		dims = fmt.Sprintf(", %dx%d", f.Width, f.Height)
	}
	id := "file"
	if m.ID > 0 {
		id = fmt.Sprintf("file %d", m.ID)
	}
	fmt.Fprintf(e.stdout, "[%s] %s: %s: [%s] %q (%s, %s%s; %s)", ts, safe(m.Chat), safe(from), id, f.Name, sizeText(f.Size), safe(f.MediaType), dims, safe(state))
	if m.Text != "" {
		fmt.Fprintf(e.stdout, " %s", safe(m.Text))
	}
	fmt.Fprintln(e.stdout)
	if f.State == client.FileAvailable && m.ID > 0 {
		fmt.Fprintf(e.stdout, "    samizdat download %d\n", m.ID)
	}
}

// rateText says how long a transfer of n bytes took and its rate: the
// transfer alone, from the file's first byte read to the last chunk (and,
// for an upload, the message) acknowledged, not the process's start, the
// unlock of the local store or the connection (docs/benchmarks.md, "Files").
func rateText(what string, n int64, took time.Duration) string {
	return fmt.Sprintf("%s %.2f s, %s/s", what, took.Seconds(), sizeText(int64(float64(n)/max(took.Seconds(), 1e-6))))
}

// sizeText is n in B, KiB, MiB or GiB.
func sizeText(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

// progressLine draws a transfer's progress bar (schollz/progressbar) on
// w when w is a terminal, and nothing otherwise (scripts and logs get only
// the summary line).
type progressLine struct {
	w    io.Writer
	what string
	bar  *progressbar.ProgressBar
	last client.Progress // the last report, for the summary line
}

// options are the FileOptions of a transfer that this line shows.
func (p *progressLine) options() *client.FileOptions {
	return &client.FileOptions{OnProgress: func(pr client.Progress) {
		p.last = pr
		p.update(pr)
	}}
}

func newProgress(w io.Writer, what string) *progressLine {
	p := &progressLine{w: w, what: what}
	if f, ok := w.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
		p.w = nil
	}
	return p
}

func (p *progressLine) update(pr client.Progress) {
	if p.w == nil || pr.Total < 8 { // small files need no bar
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(int64(pr.Total)*256<<10, progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(p.what), progressbar.OptionShowBytes(true),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish())
	}
	p.bar.Set64(int64(pr.Done) * 256 << 10)
}

func (p *progressLine) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
