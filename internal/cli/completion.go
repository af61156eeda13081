package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

func init() {
	register("completion", "print a shell completion script: eval \"$(samizdat completion bash)\"", runCompletion)
}

// subcommands lists the words after a command, for completion.
var subcommands = map[string]string{
	"device": "link approve list revoke", "channel": "create post link follow read",
	"group": "create add remove send members", "bench": "send recv server fanout",
	"lab": "list run", "outbox": "list retry drop", "completion": "bash",
}

func runCompletion(e env) int {
	fs := newFlags(e, "completion")
	args, err := parseAll(fs, e.args)
	if err != nil {
		return flagExit(err)
	}
	if len(args) != 1 || args[0] != "bash" {
		return fail(e, "completion", errors.New("usage: samizdat completion bash (then: eval \"$(samizdat completion bash)\")"))
	}
	var names []string
	for n, c := range commands {
		if !strings.HasPrefix(c.summary, "internal:") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var cases strings.Builder
	subs := make([]string, 0, len(subcommands))
	for k := range subcommands {
		subs = append(subs, k)
	}
	sort.Strings(subs)
	for _, k := range subs {
		fmt.Fprintf(&cases, "    %s) words=%q ;;\n", k, subcommands[k])
	}
	fmt.Fprintf(e.stdout, `# bash completion for samizdat; load with: eval "$(samizdat completion bash)"
_samizdat() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd="" i words
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --home|--passphrase-file) ((i++)) ;;
      -*) ;;
      *) cmd=${COMP_WORDS[i]}; break ;;
    esac
  done
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W "%s --home --passphrase-file --help" -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(samizdat "$cmd" --help 2>/dev/null | grep -oE '^  -[a-z-]+' | sed 's/^  -/--/')" -- "$cur"))
    return
  fi
  case $cmd in
%s    *) words="" ;;
  esac
  if ((i + 1 == COMP_CWORD)) && [[ -n $words ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  fi
}
complete -o default -F _samizdat samizdat
`, strings.Join(names, " "), cases.String())
	return 0
}
