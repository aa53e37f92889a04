// Package fanout runs many requests at once through one courier session,
// within limits: at most [Limit] items at a time overall, and at most
// [PerHost] (or [PerRoute]) requests at a time to one host or route. It
// yields each result as it finishes, keeps every error, and stops cleanly
// when the caller breaks out of the loop or the context ends:
//
//	fetch := func(ctx context.Context, u string) ([]byte, error) {
//		resp, err := s.Get(ctx, u)
//		if err != nil {
//			return nil, err
//		}
//		return resp.Bytes(), nil
//	}
//	for r := range fanout.Run(ctx, slices.Values(urls), fetch, fanout.Limit(50), fanout.PerHost(10)) {
//		if r.Err != nil {
//			log.Printf("%s: %v", r.Item, r.Err)
//			continue
//		}
//		...
//	}
//
// The limits per host and route hold for the courier requests that the
// item's function makes with the context it is given, counted from when
// such a request starts until it is done with, its body included (a
// streamed body holds its slot until it is closed). Every request goes
// through the session, so the fan-out shares the session's retry budget,
// circuit breakers and rate limits: a fan-out does not multiply an outage.
//
// An item that never got its slots before the context ended gets an error
// of kind courier.ErrNoSlot, without its function being called. A panic in
// the item's function stops the fan-out and is raised again, as a
// [*PanicError], in the goroutine that ranges over the results. No
// goroutine of a fan-out outlives its loop.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/slots"
)

// Result is what one item came to.
type Result[In, Out any] struct {
	// Index is the item's position in the input, from 0.
	Index int
	// Item is the input item.
	Item In
	// Value is what the item's function returned, and Err its error: the
	// function's own, or one of kind courier.ErrNoSlot when the item never
	// ran.
	Value Out
	Err   error
	// Waited is how long the item waited for its slots: for its turn
	// under Limit, counted from when the fan-out started, and for the
	// slots of its requests under PerHost and PerRoute.
	Waited time.Duration
	// Ran is how long the item's function ran, without the waits for the
	// slots of its requests.
	Ran time.Duration
}

// An Option sets a limit or a behaviour of a fan-out. Only this package
// defines options.
type Option interface {
	apply(*config) error
}

type option func(*config) error

func (f option) apply(c *config) error { return f(c) }

type config struct {
	limit    int
	perHost  int
	routes   []route
	failFast bool
}

// route is a limit for requests whose host and path start with prefix.
type route struct {
	host, path string
	n          int
}

// DefaultLimit is how many items run at once without a Limit option.
const DefaultLimit = 10

// Limit runs at most n items at once (default [DefaultLimit]).
func Limit(n int) Option {
	return option(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("fanout: Limit(%d): need at least 1", n)
		}
		c.limit = n
		return nil
	})
}

// PerHost lets at most n requests to one host (host:port) run at once,
// across all items (default: no limit but Limit).
func PerHost(n int) Option {
	return option(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("fanout: PerHost(%d): need at least 1", n)
		}
		c.perHost = n
		return nil
	})
}

// PerRoute lets at most n requests whose URL starts with prefix, a host
// and a path such as "api.example.com/search" (no scheme; a port only
// matches that port), run at once,
// across all items. A request counts against every route it matches, and
// against PerHost. Several PerRoute options add up.
func PerRoute(prefix string, n int) Option {
	return option(func(c *config) error {
		if n < 1 {
			return fmt.Errorf("fanout: PerRoute(%q, %d): need at least 1", prefix, n)
		}
		host, path, _ := strings.Cut(prefix, "/")
		if host == "" || strings.Contains(prefix, "://") {
			return fmt.Errorf("fanout: PerRoute(%q): want a host and a path prefix, such as \"api.example.com/search\"", prefix)
		}
		c.routes = append(c.routes, route{host: strings.ToLower(host), path: "/" + path, n: n})
		return nil
	})
}

// FailFast stops the fan-out at the first item that fails: the items that
// are running get a canceled context, and those not yet started never run
// (each is still yielded, with an error of kind courier.ErrNoSlot).
func FailFast() Option {
	return option(func(c *config) error {
		c.failFast = true
		return nil
	})
}

// ErrFailedFast is the cause of the cancellation that FailFast makes, in
// the chain of the errors of the items it stopped.
var ErrFailedFast = errors.New("fanout: stopped at the first failure")

// PanicError is what a fan-out panics with when an item's function
// panicked: the value it panicked with, and that goroutine's stack.
type PanicError struct {
	Value any
	Stack []byte
}

// Error returns the panic's value and the stack.
func (p *PanicError) Error() string {
	return fmt.Sprintf("fanout: item function panicked: %v\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic's value when it is an error.
func (p *PanicError) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// Run calls fn for every item, at most Limit at a time, and yields each
// result as it finishes (in that order, not the input's). items is read as
// the fan-out goes, one item ahead of the running ones, so it may be long
// or endless: break out of the loop to stop. Every item read gets one
// result. A bad option is yielded as the first and only result's error.
func Run[In, Out any](ctx context.Context, items iter.Seq[In], fn func(ctx context.Context, item In) (Out, error), opts ...Option) iter.Seq[Result[In, Out]] {
	cfg := config{limit: DefaultLimit}
	var optErr error
	for _, o := range opts {
		if o == nil {
			optErr = errors.New("fanout: nil Option")
			break
		}
		if optErr = o.apply(&cfg); optErr != nil {
			break
		}
	}
	return func(yield func(Result[In, Out]) bool) {
		if optErr != nil {
			yield(Result[In, Out]{Index: -1, Err: optErr})
			return
		}
		r := newRun(ctx, cfg, fn)
		defer r.stop()
		go r.feed(items)
		for range cfg.limit {
			r.workers.Go(r.work)
		}
		go func() {
			r.workers.Wait()
			close(r.results)
		}()
		for res := range r.results {
			if res.panic != nil {
				r.stop()
				panic(res.panic)
			}
			if !yield(res.Result) {
				return
			}
		}
	}
}

// task is an item read from the input.
type task[In any] struct {
	index int
	item  In
}

// outcome is a result, or a panic to raise again.
type outcome[In, Out any] struct {
	Result[In, Out]
	panic *PanicError
}

// run is one fan-out in progress.
type run[In, Out any] struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	fn     func(context.Context, In) (Out, error)
	cfg    config
	gate   *gate
	start  time.Time

	tasks   chan task[In]
	results chan outcome[In, Out]
	done    chan struct{} // closed by stop: the caller has left the loop
	stopped sync.Once
	workers sync.WaitGroup
	feeding sync.WaitGroup
}

func newRun[In, Out any](ctx context.Context, cfg config, fn func(context.Context, In) (Out, error)) *run[In, Out] {
	ctx, cancel := context.WithCancelCause(ctx)
	r := &run[In, Out]{ctx: ctx, cancel: cancel, fn: fn, cfg: cfg, start: time.Now(),
		tasks: make(chan task[In]), results: make(chan outcome[In, Out]), done: make(chan struct{})}
	if cfg.perHost > 0 || len(cfg.routes) > 0 {
		r.gate = &gate{cfg: cfg, sems: map[string]chan struct{}{}}
	}
	r.feeding.Add(1)
	return r
}

// stop ends the fan-out: it cancels what runs, and waits for every
// goroutine of the fan-out to return. The results not yet yielded are
// dropped.
func (r *run[In, Out]) stop() {
	r.stopped.Do(func() {
		r.cancel(context.Canceled)
		close(r.done)
		r.feeding.Wait()
		for range r.results { // until the workers are gone
		}
	})
}

// feed reads the input, an item at a time, as workers take them.
func (r *run[In, Out]) feed(items iter.Seq[In]) {
	defer r.feeding.Done()
	defer close(r.tasks)
	i := 0
	for item := range items {
		select {
		case r.tasks <- task[In]{i, item}:
		case <-r.done:
			return
		}
		i++
	}
}

// work runs tasks until there are none left, or the caller left.
func (r *run[In, Out]) work() {
	for t := range r.tasks {
		o := r.one(t)
		select {
		case r.results <- o:
		case <-r.done:
			return
		}
		if o.panic != nil {
			return
		}
	}
}

// one runs a task, or fails it at once when the fan-out's context has
// ended.
func (r *run[In, Out]) one(t task[In]) (o outcome[In, Out]) {
	o.Index, o.Item = t.index, t.item
	o.Waited = time.Since(r.start)
	if r.ctx.Err() != nil {
		o.Err = &courier.Error{Op: "fanout", Kind: courier.ErrNoSlot,
			Err: fmt.Errorf("item %d never ran: %w", t.index, context.Cause(r.ctx))}
		return o
	}
	rec := &waits{}
	ctx := r.ctx
	if r.gate != nil {
		ctx = slots.With(context.WithValue(ctx, waitsKey{}, rec), r.gate)
	}
	began := time.Now()
	defer func() {
		if p := recover(); p != nil {
			o.panic = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	o.Value, o.Err = r.fn(ctx, t.item)
	waited := rec.total()
	o.Ran = time.Since(began) - waited
	o.Waited += waited
	if o.Err != nil && r.cfg.failFast {
		r.cancel(ErrFailedFast)
	}
	return o
}

// hostKey returns u's host and port, the scheme's default port when it
// has none, in lower case.
func hostKey(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// waits adds up the time an item's requests waited for their slots.
type waits struct {
	mu sync.Mutex
	d  time.Duration
}

func (w *waits) add(d time.Duration) {
	w.mu.Lock()
	w.d += d
	w.mu.Unlock()
}

func (w *waits) total() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.d
}

type waitsKey struct{}

// gate holds the semaphores of the limits per host and per route.
type gate struct {
	cfg  config
	mu   sync.Mutex
	sems map[string]chan struct{}
}

// sem returns the semaphore of key, with n slots.
func (g *gate) sem(key string, n int) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sems[key]
	if !ok {
		s = make(chan struct{}, n)
		g.sems[key] = s
	}
	return s
}

// Acquire takes a slot of every limit a request to u falls under, host
// first and then routes in the order given (the same order for every
// request, so two requests cannot each hold what the other waits for).
func (g *gate) Acquire(ctx context.Context, u *url.URL) (func(), error) {
	start := time.Now()
	defer func() {
		if w, ok := ctx.Value(waitsKey{}).(*waits); ok {
			w.add(time.Since(start))
		}
	}()
	var held []chan struct{}
	release := func() {
		for _, s := range held {
			<-s
		}
	}
	host := hostKey(u)
	var sems []chan struct{}
	if g.cfg.perHost > 0 {
		sems = append(sems, g.sem("host "+host, g.cfg.perHost))
	}
	for i, rt := range g.cfg.routes {
		if (host == rt.host || strings.ToLower(u.Hostname()) == rt.host) && strings.HasPrefix(u.EscapedPath(), rt.path) {
			sems = append(sems, g.sem(fmt.Sprint("route ", i), rt.n))
		}
	}
	for _, s := range sems {
		select {
		case s <- struct{}{}:
			held = append(held, s)
		case <-ctx.Done():
			release()
			return nil, context.Cause(ctx)
		}
	}
	var once sync.Once
	return func() { once.Do(release) }, nil
}
