// Package mirror is the channel mirror a relay runs ('samizdat relay
// --mirror-channel'): it follows public channels on their server, keeps a
// verified channel.Cache of their recent signed posts (saved to a file so a
// restarted relay still serves while the server is blocked), and answers
// followers from it over channel/channelwire.
//
// It sits on the roles floor beside relay (docs/architecture.md): it reads
// channels as a client does (client.DialChannels), so it lives outside
// relay/ and channel/, which must never import client.
package mirror
