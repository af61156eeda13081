package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"
)

// ErrNoTerminal: the screen needs a terminal on both ends.
var ErrNoTerminal = errors.New("tui: samizdat chat needs a terminal; in scripts use samizdat listen, send and read")

// Run shows the screen on the terminal of in and out until the user quits
// or ctx ends. The caller owns b and has started the client.
func Run(ctx context.Context, b Backend, ev *Events, in io.Reader, out io.Writer) error {
	if err := CheckTerminal(in, out); err != nil {
		return err
	}
	p := tea.NewProgram(New(ctx, b, ev), tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	if _, err := p.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("tui: running the screen: %w", err)
	}
	return nil
}

// CheckTerminal returns ErrNoTerminal unless in and out are a terminal.
func CheckTerminal(in io.Reader, out io.Writer) error {
	if !isTerminal(in) || !isTerminal(out) {
		return ErrNoTerminal
	}
	return nil
}

func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}
