package cli

import (
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/samizdat-project/samizdat/server"
	"github.com/samizdat-project/samizdat/store/blobfs"
)

// blobOptions are the server's blob store flags (docs/operator-guide.md,
// "Files and the blob store").
type blobOptions struct {
	dir       string
	retention time.Duration
	off       bool
}

func blobFlags(fs *flag.FlagSet) *blobOptions {
	o := &blobOptions{}
	fs.StringVar(&o.dir, "blobs", "", "directory of encrypted file chunks (default: DATA/blobs)")
	fs.DurationVar(&o.retention, "blob-retention", 0, "keep a file chunk this long after it was last uploaded or asked for (default: the mailbox retention)")
	fs.BoolVar(&o.off, "no-blobs", false, "do not store files (clients are told the server does not carry files)")
	return o
}

// apply opens the blob store and sets it in cfg.
func (o *blobOptions) apply(cfg *server.Config, data string) error {
	if o == nil || o.off {
		return nil
	}
	dir := o.dir
	if dir == "" {
		dir = filepath.Join(data, "blobs")
	}
	bs, err := blobfs.Open(dir, nil)
	if err != nil {
		return fmt.Errorf("opening the blob store: %w", err)
	}
	cfg.Blobs = bs
	cfg.BlobRetention = o.retention
	return nil
}
