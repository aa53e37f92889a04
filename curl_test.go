package courier_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/courierhttp/courier"
	"github.com/courierhttp/courier/internal/testenv"
)

func TestCurl(t *testing.T) {
	t.Parallel()
	ts := testenv.NewServer(t, testenv.HTTP1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	s := ts.Session(t, courier.Header("Authorization", "Bearer "+secretCanary), courier.Header("X-Tenant", "o'neil"))
	resp, err := s.Post(t.Context(), "/orders", courier.Query("token", secretCanary),
		courier.JSON(map[string]any{"qty": 2, "password": secretCanary}))
	if err != nil {
		t.Fatal(err)
	}
	got := s.Curl(resp.Request)
	if strings.Contains(got, secretCanary) {
		t.Errorf("Curl() = %s\nshows a secret", got)
	}
	for _, want := range []string{
		"curl -X 'POST'",
		"-H 'Authorization: REDACTED'",
		`-H 'X-Tenant: o'\''neil'`,
		"-H 'Content-Type: application/json'",
		"--compressed",
		`--data-binary '{"password":"REDACTED","qty":2}'`,
		"/orders?token=REDACTED'",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Curl() = %s\nlacks %s", got, want)
		}
	}
	// The request's own body is untouched.
	body, _ := resp.Request.GetBody()
	data, _ := io.ReadAll(body)
	if !strings.Contains(string(data), secretCanary) {
		t.Errorf("Curl consumed or changed the request body: %s", data)
	}
}

func TestCurlOneShotBody(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest(http.MethodPut, "https://u:"+secretCanary+"@api.test/x", io.MultiReader(strings.NewReader("secret body")))
	s := testenv.NewSession(t)
	got := s.Curl(req)
	if strings.Contains(got, secretCanary) || strings.Contains(got, "secret body") || !strings.Contains(got, "one-shot body, not shown") {
		t.Errorf("Curl(one-shot) = %s", got)
	}
}

// Curl hides what the session counts as a secret: the headers named by the
// rule (Api-Key, Private-Token, ...) and those of WithSensitiveHeaders.
func TestCurlHidesTheSessionsSecrets(t *testing.T) {
	t.Parallel()
	s := testenv.NewSession(t, courier.WithSensitiveHeaders("X-Vendor"))
	req, _ := http.NewRequest(http.MethodGet, "https://api.test/x", nil)
	for _, k := range []string{"X-Vendor", "Api-Key", "X-Goog-Api-Key", "Private-Token", "X-Auth-Token"} {
		req.Header.Set(k, secretCanary)
	}
	req.Header.Set("X-Plain", "visible")
	if got := s.Curl(req); strings.Contains(got, secretCanary) || !strings.Contains(got, "visible") {
		t.Errorf("Curl() = %s\nwant every secret masked and X-Plain shown", got)
	}
}
