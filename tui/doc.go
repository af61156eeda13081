// Package tui is `samizdat chat`: the whole messenger in one interactive
// terminal screen (bubbletea). It shows a chat list with unread counts, the
// conversation with its delivery state, an input line, slash commands
// (/add, /invite, /group, /channel, /link, /help) and a status line that says
// how the client is connected.
//
// Everything that came from the network (names, texts, group and channel
// names, errors) goes through Sanitize before it reaches the terminal, so a
// contact cannot move the cursor, clear the screen, ring the bell, forge a
// line that looks like another sender's, or reverse text with bidi controls.
//
// The model talks to the messenger through the Backend interface; the real
// one wraps *client.Client (backend.go) and the tests use a fake.
package tui
