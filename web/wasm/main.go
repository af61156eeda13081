//go:build js && wasm

package main

import (
	"context"
	"syscall/js"
	"time"
)

func main() {
	a := &app{}
	api := js.Global().Get("Object").New()
	for name, fn := range a.methods() {
		api.Set(name, js.FuncOf(func(this js.Value, args []js.Value) any {
			var arg js.Value
			if len(args) > 0 {
				arg = args[0]
			} else {
				arg = js.Global().Get("Object").New()
			}
			if name == "on" {
				return a.on(args)
			}
			timeout := callTimeout
			if longCalls[name] {
				timeout = fileCallTimeout
			}
			return promise(timeout, func(ctx context.Context) (any, error) { return fn(ctx, arg) })
		}))
	}
	js.Global().Set("samizdat", api)
	js.Global().Call("dispatchEvent", js.Global().Get("Event").New("samizdat-ready"))
	select {} // the page keeps the program; its goroutines serve the API
}

// promise runs fn in its own goroutine (a JS callback must not block) and
// settles a Promise with its result; an error rejects with an Error whose
// message is fn's user-facing text.
func promise(timeout time.Duration, fn func(context.Context) (any, error)) js.Value {
	executor := js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			v, err := fn(ctx)
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	defer executor.Release() // the executor runs inside New
	return js.Global().Get("Promise").New(executor)
}

// callTimeout bounds one API call that may wait for the server; the
// longCalls, which move files, get fileCallTimeout.
const callTimeout = 60 * time.Second

var longCalls = map[string]bool{"sendFile": true, "download": true}

// str reads a string field of a JS object ("" if absent).
func str(o js.Value, k string) string {
	v := o.Get(k)
	if v.Type() != js.TypeString {
		return ""
	}
	return v.String()
}
