package lab

import (
	"context"
	"fmt"
	"sync"

	"github.com/samizdat-project/samizdat/censor"
)

// Result is one scenario's run: a report, or why the run could not be done.
type Result struct {
	Scenario *censor.Scenario
	Report   *Report
	Err      error
}

// RunAll runs scenarios, parallel at a time (each in its own namespaces),
// and returns their results in the order given.
func RunAll(ctx context.Context, list []*censor.Scenario, o Options, parallel int) []Result {
	if parallel < 1 {
		parallel = 1
	}
	out := make([]Result, len(list))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, sc := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := Run(ctx, sc, o)
			if err != nil {
				err = fmt.Errorf("lab: scenario %s: %w", sc.Name, err)
			}
			out[i] = Result{Scenario: sc, Report: r, Err: err}
		}()
	}
	wg.Wait()
	return out
}
