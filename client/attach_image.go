package client

import (
	"image"
	_ "image/gif" // registers the decoders DecodeConfig uses
	_ "image/jpeg"
	_ "image/png"
	"io"
	"strings"

	"github.com/samizdat-project/samizdat/attach"
)

// describeImage fills an image's dimensions from its header (nothing else
// of the file is read). Thumbnails are not made yet.
func describeImage(r io.ReaderAt, a *attach.Attachment) {
	if !strings.HasPrefix(a.MediaType, "image/") {
		return
	}
	cfg, _, err := image.DecodeConfig(io.NewSectionReader(r, 0, a.Size))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return
	}
	a.Width, a.Height = uint32(cfg.Width), uint32(cfg.Height)
}
