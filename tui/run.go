package tui

import (
	"context"
	"fmt"
	"io"

	tea "github.com/charmbracelet/bubbletea"
)

// Run shows the screen on the terminal of in and out until the user quits
// or ctx ends. The caller owns b and has started the client.
func Run(ctx context.Context, b Backend, ev *Events, in io.Reader, out io.Writer) error {
	p := tea.NewProgram(New(ctx, b, ev), tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	if _, err := p.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("tui: running the screen: %w", err)
	}
	return nil
}
