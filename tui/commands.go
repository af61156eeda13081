package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/samizdat-project/samizdat/reach"
)

var (
	errNoChat          = errors.New("no chat selected: add a contact first (/add LINK), or create a group (/group new NAME)")
	errChannelReadOnly = errors.New("a channel is read only here; post with: samizdat channel post")
)

var commandHelp = []string{
	"  /add LINK [NAME]          add a contact from their invite link",
	"  /invite                   show your invite link and its QR code",
	"  /group new NAME           create a group",
	"  /group add [GROUP] NAME   add a contact to a group (default: the open one)",
	"  /group remove [GROUP] NAME",
	"  /members                  who is in the open chat",
	"  /channel follow LINK      follow a channel and read it here",
	"  /link CODE [NUMBER]       approve a new device of yours (samizdat device link shows CODE)",
	"  /help, /quit",
}

// command runs one slash command; long ones run in the background and
// answer with a noticeMsg.
func (m *Model) command(line string) tea.Cmd {
	f := strings.Fields(line)
	name, args := f[0], f[1:]
	b, ctx := m.b, m.ctx
	cur, _ := m.current()
	usage := func(u string) tea.Cmd {
		m.setNotice("", errors.New("usage: "+u))
		return nil
	}
	run := func(busy string, timeout time.Duration, f func(ctx context.Context) noticeMsg) tea.Cmd {
		m.setNotice(busy, nil)
		return func() tea.Msg {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return f(cctx)
		}
	}
	switch name {
	case "/help", "/?":
		m.overlay = "help"
		return nil
	case "/quit", "/exit":
		return tea.Quit
	case "/invite":
		link := b.InviteLink()
		qr, err := reach.RenderQR(link, false)
		if err != nil {
			m.setNotice("", err)
			return nil
		}
		m.overlay, m.qr, m.invite = "qr", qr, link
		return nil
	case "/add":
		if len(args) < 1 || len(args) > 2 {
			return usage("/add LINK [NAME]")
		}
		nick := ""
		if len(args) == 2 {
			nick = args[1]
		}
		return run("Adding the contact…", 30*time.Second, func(ctx context.Context) noticeMsg {
			n, err := b.AddContact(ctx, args[0], nick)
			if err != nil {
				return noticeMsg{err: err}
			}
			return noticeMsg{text: fmt.Sprintf("Added %s. Check it is really them: compare 'samizdat safety %s' with what they see.", Sanitize(n), Sanitize(n)), reload: true, open: n}
		})
	case "/group":
		return m.groupCommand(args, cur)
	case "/members":
		if cur.kind != kindGroup && cur.kind != kindDirect {
			return usage("/members in an open chat")
		}
		names := make([]string, len(cur.members))
		for i, n := range cur.members {
			names[i] = Sanitize(n)
		}
		m.setNotice("Members: "+strings.Join(names, ", "), nil)
		return nil
	case "/channel":
		if len(args) != 2 || args[0] != "follow" {
			return usage("/channel follow LINK")
		}
		return run("Following the channel…", 30*time.Second, func(ctx context.Context) noticeMsg {
			n, err := b.FollowChannel(ctx, args[1])
			if err != nil {
				return noticeMsg{err: err}
			}
			return noticeMsg{text: fmt.Sprintf("Following %s.", Sanitize(n)), reload: true, open: n}
		})
	case "/link":
		switch len(args) {
		case 1:
			return run("Looking up the code…", 30*time.Second, func(ctx context.Context) noticeMsg {
				v, err := b.LookupLink(ctx, args[0])
				if err != nil {
					return noticeMsg{err: err}
				}
				return noticeMsg{text: fmt.Sprintf("Verification number: %s. If the new device shows the same, type: /link %s %s", Sanitize(v), args[0], Sanitize(v))}
			})
		case 0:
		default: // the number may be typed with its spaces: 203 414
			number := strings.Join(args[1:], " ")
			return run("Approving the new device and adding it to your chats…", 3*time.Minute, func(ctx context.Context) noticeMsg {
				if err := b.ApproveLink(ctx, args[0], number); err != nil {
					return noticeMsg{err: err}
				}
				return noticeMsg{text: "Done: the new device is in all your chats."}
			})
		}
		return usage("/link CODE [NUMBER]")
	}
	m.setNotice("", fmt.Errorf("unknown command %s; /help lists them", Sanitize(name)))
	return nil
}

func (m *Model) groupCommand(args []string, cur entry) tea.Cmd {
	b, ctx := m.b, m.ctx
	bg := func(busy, done string, open string, f func(ctx context.Context) error) tea.Cmd {
		m.setNotice(busy, nil)
		return func() tea.Msg {
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			if err := f(cctx); err != nil {
				return noticeMsg{err: err}
			}
			return noticeMsg{text: done, reload: true, open: open}
		}
	}
	const u = "/group new NAME | /group add [GROUP] CONTACT | /group remove [GROUP] CONTACT"
	if len(args) < 2 {
		m.setNotice("", errors.New("usage: "+u))
		return nil
	}
	op, rest := args[0], args[1:]
	if op == "new" && len(rest) == 1 {
		g := rest[0]
		return bg("Creating the group…", fmt.Sprintf("Created the group %s; add people with /group add CONTACT.", Sanitize(g)), g,
			func(ctx context.Context) error { return b.CreateGroup(ctx, g) })
	}
	if op != "add" && op != "remove" || len(rest) > 2 {
		m.setNotice("", errors.New("usage: "+u))
		return nil
	}
	group, who := cur.name, rest[len(rest)-1]
	if len(rest) == 2 {
		group = rest[0]
	} else if cur.kind != kindGroup {
		m.setNotice("", errors.New("open a group first, or name it: /group "+op+" GROUP CONTACT"))
		return nil
	}
	if op == "add" {
		return bg("Adding "+Sanitize(who)+" to "+Sanitize(group)+"…", fmt.Sprintf("Added %s to %s.", Sanitize(who), Sanitize(group)), group,
			func(ctx context.Context) error { return b.AddToGroup(ctx, group, who) })
	}
	return bg("Removing "+Sanitize(who)+" from "+Sanitize(group)+"…", fmt.Sprintf("Removed %s from %s.", Sanitize(who), Sanitize(group)), group,
		func(ctx context.Context) error { return b.RemoveFromGroup(ctx, group, who) })
}
