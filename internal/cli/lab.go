package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/samizdat-project/samizdat/censor"
	"github.com/samizdat-project/samizdat/censor/lab"
)

func init() {
	register("lab", "censorship lab: list scenarios, run them on network namespaces (root)", runLab)
}

func runLab(e env) int {
	if len(e.args) == 0 {
		fmt.Fprintln(e.stderr, "usage: samizdat lab list | samizdat lab run SCENARIO|all [--quick] [--report out.json] [--html out.html]")
		return 2
	}
	sub, rest := e.args[0], e.args[1:]
	ctx, cancel := signalContext()
	defer cancel()
	switch sub {
	case "list":
		return labList(e)
	case "run":
		return labRun(ctx, e, rest)
	case "user": // a lab participant, started by `lab run` inside a namespace
		paths := NewPaths()
		defer paths.Close()
		return lab.RunUser(ctx, rest, e.stdin, e.stdout, e.stderr, paths.Factory)
	case "cover": // the lab's cover website, started by `lab run`
		return lab.RunCover(ctx, rest, e.stdout, e.stderr)
	}
	fmt.Fprintf(e.stderr, "samizdat lab: unknown subcommand %q (list, run)\n", sub)
	return 2
}

func labList(e env) int {
	all, err := lab.Scenarios()
	if err != nil {
		return fail(e, "lab", err)
	}
	for _, s := range all {
		fmt.Fprintf(e.stdout, "%-26s %s (quick %v, recover within %v)\n", s.Name, s.Title,
			time.Duration(s.Quick), time.Duration(s.Recovery.Within))
	}
	return 0
}

func labRun(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "lab run")
	quick := fs.Bool("quick", false, "run each scenario for its quick duration (at most about 60 s)")
	report := fs.String("report", "", "write the JSON report to this file")
	html := fs.String("html", "", "write the HTML report (summary table and timelines) to this file")
	users := fs.Int("users", 2, "number of users (each sends to the next)")
	every := fs.Duration("every", 250*time.Millisecond, "interval between one user's messages")
	parallel := fs.Int("parallel", 1, "scenarios run at the same time (each in its own namespaces)")
	keep := fs.String("keep", "", "keep the run's files (stores, process logs) under this directory")
	pos, err := parseAll(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(e.stderr, "samizdat lab run: name one scenario (see 'samizdat lab list'), a scenario file, or all")
		return 2
	}
	var list []*censor.Scenario
	if pos[0] == "all" {
		if list, err = lab.Scenarios(); err != nil {
			return fail(e, "lab run", err)
		}
	} else {
		s, err := lab.LoadScenario(pos[0])
		if err != nil {
			return fail(e, "lab run", err)
		}
		list = []*censor.Scenario{s}
	}
	if err := lab.Available(); err != nil {
		return fail(e, "lab run", err)
	}
	bin, err := os.Executable()
	if err != nil {
		return fail(e, "lab run", err)
	}
	o := lab.Options{Binary: bin, Quick: *quick, Users: *users, Every: *every,
		Logf: func(f string, a ...any) { fmt.Fprintf(e.stderr, "lab: "+f+"\n", a...) }}
	if *keep != "" {
		o.Dir = *keep
	}
	results := lab.RunAll(ctx, list, o, *parallel)
	var reports []*lab.Report
	code := 0
	for _, r := range results {
		if r.Err != nil {
			fmt.Fprintf(e.stderr, "samizdat lab run: %v\n", r.Err)
			code = 1
			continue
		}
		reports = append(reports, r.Report)
		if !r.Report.Pass {
			code = 1
		}
	}
	fmt.Fprint(e.stdout, lab.Markdown(reports))
	for _, r := range reports {
		if r.KnownGap != "" && !r.Pass {
			fmt.Fprintf(e.stdout, "%s: a known gap: %s\n", r.Scenario, r.KnownGap)
		}
		for _, why := range r.Reasons {
			fmt.Fprintf(e.stdout, "%s: %s\n", r.Scenario, why)
		}
	}
	if *report != "" {
		if err := writeFile(*report, func(f *os.File) error { return lab.WriteJSON(f, reports) }); err != nil {
			return fail(e, "lab run", err)
		}
	}
	if *html != "" {
		if err := writeFile(*html, func(f *os.File) error { return lab.WriteHTML(f, reports) }); err != nil {
			return fail(e, "lab run", err)
		}
	}
	if code != 0 {
		fmt.Fprintln(e.stderr, "samizdat lab run: "+strings.TrimSpace("FAILED"))
	}
	return code
}

func writeFile(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
