package courier_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

// A request marked Resend pays for its first attempt from the host's retry
// budget, as a retry does: once the budget is short it is refused unsent,
// (no attempt made) while first tries still go; its success earns no refund; a redirect
// chain pays once; a disabled budget refuses nothing.
func TestResendDrawsFromRetryBudget(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hop" {
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		served.Add(1)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name   string
		budget courier.RetryBudget
		// steps: the paths fetched, "!" before one sent with Resend
		steps []string
		// sent: how many reached the handler; refusedAt: the step refused
		// with ErrRetryBudget (-1: none); left: the budget at the end
		sent, refusedAt, left int
	}{
		{name: "resends until the budget is short", budget: courier.RetryBudget{Capacity: 10, RetryCost: 4},
			steps: []string{"!/ok", "!/ok", "!/ok"}, sent: 2, refusedAt: 2, left: 2},
		{name: "a first try still goes, and refunds", budget: courier.RetryBudget{Capacity: 10, RetryCost: 4},
			steps: []string{"!/ok", "!/ok", "/ok", "!/ok"}, sent: 3, refusedAt: 3, left: 3},
		{name: "a resend's success earns nothing", budget: courier.RetryBudget{Capacity: 10, RetryCost: 4, SuccessRefund: 3},
			steps: []string{"!/ok"}, sent: 1, refusedAt: -1, left: 6},
		{name: "a redirect chain pays once", budget: courier.RetryBudget{Capacity: 10, RetryCost: 4},
			steps: []string{"!/hop"}, sent: 1, refusedAt: -1, left: 6},
		{name: "disabled budget", budget: courier.RetryBudget{Disabled: true},
			steps: []string{"!/ok", "!/ok", "!/ok"}, sent: 3, refusedAt: -1, left: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served.Store(0)
			left := -2
			s := testenv.NewSession(t, courier.WithRetry(courier.RetryPolicy{Budget: tt.budget}),
				courier.WithHooks(courier.Hooks{AfterAttempt: func(i courier.AttemptInfo) { left = i.BudgetLeft }}))
			refusedAt := -1
			for i, step := range tt.steps {
				var opts []courier.RequestOption
				if step[0] == '!' {
					step, opts = step[1:], append(opts, courier.Resend())
				}
				_, err := s.Get(t.Context(), srv.URL+step, opts...)
				var ce *courier.Error
				switch {
				case err == nil:
				case errors.Is(err, courier.ErrRetryBudget) && errors.As(err, &ce) && ce.Attempts == 0:
					if refusedAt < 0 {
						refusedAt = i
					}
				default:
					t.Fatalf("step %d: Get = %v", i, err)
				}
			}
			if refusedAt != tt.refusedAt {
				t.Errorf("refused at step %d, want %d", refusedAt, tt.refusedAt)
			}
			if got := int(served.Load()); got != tt.sent {
				t.Errorf("the server got %d requests, want %d", got, tt.sent)
			}
			if left != tt.left {
				t.Errorf("budget after the last attempt sent: %d, want %d", left, tt.left)
			}
		})
	}
}
