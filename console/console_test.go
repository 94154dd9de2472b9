package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Result()
}

func TestHandlerServesAssetsWithStrictHeaders(t *testing.T) {
	for _, path := range []string{"/", "/app.js", "/app.css", "/logo.svg", "/missing.js"} {
		resp := get(t, path)
		if path != "/missing.js" && resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
		if got := resp.Header.Get("Content-Security-Policy"); got != Policy {
			t.Errorf("%s: Content-Security-Policy %q", path, got)
		}
		if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
	if ct := get(t, "/app.js").Header.Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Errorf("app.js served as %q: module scripts need a JavaScript type", ct)
	}
}

// TestAssetsStayWithinPolicy checks the assets for what the policy would block or what would defeat it:
// inline scripts and handlers, other origins, eval, and HTML parsing of strings.
func TestAssetsStayWithinPolicy(t *testing.T) {
	entries, err := assets.ReadDir("assets")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|https?://(?:[a-z0-9-]+\.)+[a-z]{2,}/[^'"\s]*\.(?:js|css|woff2?)`)
	for _, e := range entries {
		f, err := assets.Open("assets/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if m := forbidden.FindString(text); m != "" {
			t.Errorf("%s uses %q", e.Name(), m)
		}
		if strings.HasSuffix(e.Name(), ".html") {
			if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>|\son[a-z]+=|style=`).MatchString(text) {
				t.Errorf("%s has an inline script, handler or style", e.Name())
			}
		}
	}
}
