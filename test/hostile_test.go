package test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile input: mutated bodies, random bytes, malformed queries and paths, and oversized bodies are always
// answered with a 4xx carrying a JSON message, never a 5xx; the engine stays ready; and the stored webhooks
// do not change.

// unknownLocator is a well-formed locator that names nothing.
const unknownLocator = "01J00000000000000000000000"

// hostileAnswer is what one hostile request got.
type hostileAnswer struct {
	status int
	body   []byte
	err    error
}

// hostileDo sends body as is, with header given as name, value pairs.
func (h *harness) hostileDo(method, path string, body []byte, header ...string) hostileAnswer {
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(body))
	if err != nil {
		return hostileAnswer{err: err}
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// Redirects are answers too: they are not followed.
	client := checkedClient(h.t, 30*time.Second)
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return hostileAnswer{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return hostileAnswer{status: resp.StatusCode, body: data, err: err}
}

// hostileRaw writes a request line by hand, for request targets Go's client refuses to send (bad
// percent-encoding), and returns the status code and body.
func (h *harness) hostileRaw(requestLine string, header ...string) hostileAnswer {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(h.base, "http://"), 5*time.Second)
	if err != nil {
		return hostileAnswer{err: err}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	b.WriteString(requestLine + " HTTP/1.1\r\nHost: hookstream\r\nConnection: close\r\n")
	for i := 0; i+1 < len(header); i += 2 {
		b.WriteString(header[i] + ": " + header[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		return hostileAnswer{err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return hostileAnswer{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return hostileAnswer{status: resp.StatusCode, body: data, err: err}
}

// problem describes what is wrong with an answer that should have been a 4xx in the face's error shape, or
// "" when nothing is. v1 selects the /v1 shape.
func (a hostileAnswer) problem(v1 bool) string {
	if a.err != nil {
		return "transport error: " + a.err.Error()
	}
	if a.status < 400 || a.status >= 500 {
		return fmt.Sprintf("status %d, want a 4xx: %.300s", a.status, a.body)
	}
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		return fmt.Sprintf("status %d with a body that is not a JSON object: %.300q", a.status, a.body)
	}
	if msg, _ := m["message"].(string); msg == "" {
		return fmt.Sprintf("status %d without a message: %.300s", a.status, a.body)
	}
	if v1 {
		if id, _ := m["debugging_request_id"].(string); id == "" {
			return fmt.Sprintf("status %d without debugging_request_id: %.300s", a.status, a.body)
		}
	} else if code, _ := m["code"].(string); code == "" {
		return fmt.Sprintf("status %d without a code: %.300s", a.status, a.body)
	}
	return ""
}

// lenientProblem is problem for a body that may be valid: any answer but a 5xx, and a 4xx in the face's
// error shape.
func (a hostileAnswer) lenientProblem(v1 bool) string {
	if a.err == nil && a.status >= 200 && a.status < 300 {
		return ""
	}
	return a.problem(v1)
}

// failures collects problems and reports the first few of each kind, so a systematic fault does not print
// hundreds of lines.
type failures struct {
	t      *testing.T
	mu     sync.Mutex
	counts map[string]int
}

func newFailures(t *testing.T) *failures { return &failures{t: t, counts: map[string]int{}} }

func (f *failures) add(kind, what, problem string) {
	f.t.Helper()
	if problem == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[kind]++
	if f.counts[kind] <= 5 {
		f.t.Errorf("%s: %s: %s", kind, what, problem)
	}
}

func (f *failures) summarize() {
	f.t.Helper()
	for kind, n := range f.counts {
		if n > 5 {
			f.t.Errorf("%s: %d failures in all", kind, n)
		}
	}
}

// hostileRoute is a POST or PATCH route and how to reach it.
type hostileRoute struct {
	name, method, path string
	v1                 bool
	header             []string
}

// --- Deterministic mutation of JSON bodies ---

// mutation is one mutated body. mustFail says the mutation certainly makes the request invalid (malformed
// JSON, or a value of the wrong type or out of range in a typed field), so a 2xx is a bug; otherwise the
// body may still be valid and any non-5xx answer is acceptable.
type mutation struct {
	kind     string
	body     []byte
	mustFail bool
}

// placeholder marks where a raw JSON fragment replaces a value after marshalling.
const placeholder = "\x00hostile\x00"

type jsonPath []any // of string (object key) and int (array index)

func (p jsonPath) String() string {
	var b strings.Builder
	for _, k := range p {
		switch k := k.(type) {
		case string:
			b.WriteString("." + k)
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		}
	}
	return b.String()
}

// jsonPaths lists every value's path in v, root first, in a stable order.
func jsonPaths(v any, prefix jsonPath) []jsonPath {
	out := []jsonPath{slices.Clone(prefix)}
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, jsonPaths(v[k], append(prefix, k))...)
		}
	case []any:
		for i, item := range v {
			out = append(out, jsonPaths(item, append(prefix, i))...)
		}
	}
	return out
}

func jsonGet(v any, p jsonPath) any {
	for _, k := range p {
		switch k := k.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

// jsonSet returns v with the value at p replaced (v is copied along the path).
func jsonSet(v any, p jsonPath, val any) any {
	if len(p) == 0 {
		return val
	}
	switch k := p[0].(type) {
	case string:
		m := map[string]any{}
		for key, x := range v.(map[string]any) {
			m[key] = x
		}
		m[k] = jsonSet(m[k], p[1:], val)
		return m
	default:
		s := slices.Clone(v.([]any))
		s[k.(int)] = jsonSet(s[k.(int)], p[1:], val)
		return s
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	default:
		return "object"
	}
}

// wrongTypeFor returns a raw JSON value of another kind than kind.
func wrongTypeFor(rng *rand.Rand, kind string) string {
	var options []string
	for k, raw := range map[string][]string{
		"string": {`"text"`, `""`},
		"number": {`7`, `-1`, `0.5`},
		"bool":   {`true`, `false`},
		"array":  {`[]`, `["x",1,null]`},
		"object": {`{}`, `{"k":"v"}`},
	} {
		if k != kind {
			options = append(options, raw...)
		}
	}
	slices.Sort(options)
	return options[rng.IntN(len(options))]
}

var hugeNumbers = []string{`1e400`, `-1e400`, `123456789012345678901234567890`, `-9223372036854775809`, `9223372036854775807`,
	`-9000000000000000000`, `1.5`, `4.9e-324`, `-0`, `1E+2`, `0.0000001`}

var oddStrings = []string{
	"\u202eevil\u202c", "💥🔥\U0001F600", "\u0000nul", "a\u2028b\u2029c", "\ufeffbom", "ß̶̡̛̛̛̛̛̛̛ZALGO", "日本語のテキスト",
	"\\u0000", "\"quoted\"", "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "%00%zz%ff",
	"whsec_" + strings.Repeat("A", 40), strings.Repeat("x", 70000), "\t\r\n ", "\x7f\x1b[31m",
}

// rawOddStrings are JSON string literals that are not valid UTF-8 once decoded, or not valid at all.
var rawOddStrings = []string{`"\ud800"`, `"\udfff\ud800"`, "\"\xff\xfe\xfd\"", "\"\xc3\x28\"", `"\x41"`, `"\u00"`}

func deepNesting(rng *rand.Rand) string {
	depth := []int{64, 1000, 9999, 10001, 100000}[rng.IntN(5)]
	if rng.IntN(2) == 0 {
		return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
	}
	return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
}

// rawKind is the JSON kind of a raw value.
func rawKind(raw string) string {
	switch raw[0] {
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// mutate returns one deterministic mutation of template. freeForm names top-level fields whose content is
// free (event data, which must only be an object): changing what is inside them keeps the request valid.
func mutate(rng *rand.Rand, template string, freeForm ...string) mutation {
	if rng.IntN(3) == 0 {
		return mutateBytes(rng, []byte(template))
	}
	dec := json.NewDecoder(strings.NewReader(template))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		panic(err)
	}
	paths := jsonPaths(doc, nil)
	p := paths[rng.IntN(len(paths))]
	orig := jsonKind(jsonGet(doc, p))
	var raw, kind string
	switch rng.IntN(6) {
	case 0, 1:
		kind, raw = "wrong type", wrongTypeFor(rng, orig)
	case 2:
		kind, raw = "huge number", hugeNumbers[rng.IntN(len(hugeNumbers))]
	case 3:
		kind, raw = "deep nesting", deepNesting(rng)
	case 4:
		if rng.IntN(3) == 0 {
			kind, raw = "malformed string", rawOddStrings[rng.IntN(len(rawOddStrings))]
		} else {
			s, _ := json.Marshal(oddStrings[rng.IntN(len(oddStrings))])
			kind, raw = "odd string", string(s)
		}
	default:
		kind, raw = "null", "null"
	}
	out, err := json.Marshal(jsonSet(doc, p, placeholder))
	if err != nil {
		panic(err)
	}
	body := bytes.Replace(out, []byte(`"\u0000hostile\u0000"`), []byte(raw), 1)

	// Is the request certainly invalid? Every field of the templates is typed, every number is a retry
	// count or interval (huge, fractional or negative values are out of range), and every array is of
	// strings; only what is inside a free-form field, a null, a string for a string, or an object for an
	// object may still be valid.
	var mustFail bool
	switch {
	case !json.Valid(body):
		mustFail = true
	case len(p) == 0:
		mustFail = rawKind(raw) != "object" && raw != "null"
	case slices.Contains(freeForm, fmt.Sprint(p[0])):
		mustFail = len(p) == 1 && rawKind(raw) != "object"
	case raw == "null":
		mustFail = false
	case rawKind(raw) != orig:
		mustFail = true
	default:
		mustFail = orig == "number" || orig == "array"
	}
	return mutation{kind: kind + " at " + p.String(), body: body, mustFail: mustFail}
}

// mutateBytes drops, duplicates, swaps, inserts or flips bytes, one to three times.
func mutateBytes(rng *rand.Rand, b []byte) mutation {
	b = slices.Clone(b)
	var ops []string
	for range 1 + rng.IntN(3) {
		if len(b) < 2 {
			break
		}
		i, j := rng.IntN(len(b)), rng.IntN(len(b))
		switch rng.IntN(6) {
		case 0:
			b = slices.Delete(b, i, i+1)
			ops = append(ops, "drop")
		case 1:
			b = slices.Insert(b, i, b[i])
			ops = append(ops, "duplicate")
		case 2:
			b[i], b[j] = b[j], b[i]
			ops = append(ops, "swap")
		case 3:
			b = slices.Insert(b, i, byte(rng.IntN(256)))
			ops = append(ops, "insert")
		case 4:
			b[i] ^= 1 << rng.IntN(8)
			ops = append(ops, "flip")
		default:
			b = b[:i]
			ops = append(ops, "truncate")
		}
	}
	return mutation{kind: "bytes " + strings.Join(ops, "+"), body: b, mustFail: !json.Valid(b)}
}

// randomBody is random bytes, printable noise or JSON-ish punctuation; never valid JSON and never empty.
func randomBody(rng *rand.Rand) []byte {
	for {
		n := 1 + rng.IntN(4096)
		if rng.IntN(4) == 0 {
			n = 1 + rng.IntN(8)
		}
		b := make([]byte, n)
		const jsonish = `{}[]":,0123456789.eE+-truefalsnl \t\n\\/u`
		mode := rng.IntN(3)
		for i := range b {
			switch mode {
			case 0:
				b[i] = byte(rng.IntN(256))
			case 1:
				b[i] = byte(32 + rng.IntN(95))
			default:
				b[i] = jsonish[rng.IntN(len(jsonish))]
			}
		}
		if !json.Valid(b) {
			return b
		}
	}
}

func TestHostileInput(t *testing.T) {
	start := time.Now()
	h := startEngine(t)
	rc := newReceiver(t)

	// The webhook whose stored state must not change, with every field set.
	createA := `{"name":"Policy events","enabled":true,` +
		`"endpoint":{"url":"` + rc.url("/a") + `","hmacEnabled":true,"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","secureSsl":true,"tag":"t1","headers":{"X-Custom":["one","two"]}},` +
		`"eventTypes":["policy.issue","policy.cancel"],` +
		`"failureHandling":{"triggers":["5xx","timeout","404"],"divert":true,"suspend":false,` +
		`"retryStrategy":{"type":"exponential","interval":30,"attempts":3},"alertEndpoint":{"url":"` + rc.url("/alerts") + `"}}}`
	var created map[string]any
	h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), adminToken, createA).json(t, &created)
	whA := created["locator"].(string)
	tokA, _ := h.mintToken([]string{tenantA}, "*")
	tokB, _ := h.mintToken([]string{tenantB}, "*")
	// Targets for bodies that may be valid: another tenant's webhooks, so that the one above is untouched.
	scratch := h.createWebhook(tenantB, webhookBody("scratch", rc.url("/scratch"), nil))
	example := h.createWebhook(tenantB, webhookBody("examples", rc.url("/example"), nil))
	listA := wpath(tenantA, "/list?extended=true")
	before := h.must(http.StatusOK, http.MethodGet, listA, adminToken, nil).body
	historyBefore := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+whA+"/history"), adminToken, nil).body

	// /readyz is polled all along and must stay 200.
	var notReady atomic.Int64
	var lastNotReady atomic.Value
	stop := make(chan struct{})
	var polling sync.WaitGroup
	polling.Add(1)
	go func() {
		defer polling.Done()
		client := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := client.Get(h.base + "/readyz")
			if err != nil {
				notReady.Add(1)
				lastNotReady.Store(err.Error())
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				notReady.Add(1)
				lastNotReady.Store(fmt.Sprintf("%d %s", resp.StatusCode, body))
			}
		}
	}()

	admin := []string{"Authorization", "Bearer " + adminToken}
	v1A := []string{"Authorization", tokA}
	v1B := []string{"Authorization", tokB}
	var requests atomic.Int64
	send := func(method, path string, body []byte, header []string) hostileAnswer {
		requests.Add(1)
		return h.hostileDo(method, path, body, header...)
	}

	t.Run("mutated bodies", func(t *testing.T) {
		fail := newFailures(t)
		defer fail.summarize()
		rng := rand.New(rand.NewPCG(6, 5))
		type target struct {
			method, path string
			v1           bool
			header       []string
		}
		cases := []struct {
			name          string
			template      string
			strict, loose target // where certainly invalid and possibly valid bodies go
			freeForm      []string
		}{
			{name: "create webhook", template: createA,
				strict: target{http.MethodPost, wpath(tenantA, ""), false, admin},
				loose:  target{http.MethodPost, wpath(tenantB, ""), false, admin}},
			{name: "update webhook",
				template: `{"name":"renamed","enabled":false,"addEventTypes":["policy.renew"],"removeEventTypes":["policy.cancel"],` +
					`"endpoint":{"url":"` + rc.url("/b") + `","addHeaders":{"X-New":["v"]},"removeHeaders":["X-Custom"],"hmacEnabled":true,` +
					`"secret":"whsec_Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eA==","secureSsl":false,"tag":"t2"},` +
					`"failureHandling":{"divert":false,"suspend":true,"addTriggers":["4xx"],"removeTriggers":["404"],"removeAlertEndpoint":false,` +
					`"retryStrategy":{"attempts":2,"interval":10,"type":"linear"}},"removeFailureHandling":false}`,
				strict: target{http.MethodPatch, wpath(tenantA, "/"+whA), false, admin},
				loose:  target{http.MethodPatch, wpath(tenantB, "/"+scratch), false, admin}},
			{name: "publish event", template: `{"type":"policy.issue","data":{"policy":"P-1","amount":12.5,"tags":["a","b"],"nested":{"ok":true}},"requestId":"req-1"}`,
				strict: target{http.MethodPost, "/event/" + tenantA + "/events", false, admin},
				loose:  target{http.MethodPost, "/event/" + tenantB + "/events", false, admin}, freeForm: []string{"data"}},
			{name: "mint token", template: `{"name":"ci","tenants":["` + tenantB + `"],"permissions":["webhooks.read","events.list"],"expiresAt":"2099-01-01T00:00:00Z"}`,
				strict: target{http.MethodPost, "/admin/tokens", false, admin},
				loose:  target{http.MethodPost, "/admin/tokens", false, admin}},
			{name: "v1 create subscription", template: `{"url":"` + rc.url("/v1") + `","description":"cards","disabled":false,"event_types":["card.created","card.shipped"]}`,
				strict: target{http.MethodPost, "/v1/event_subscriptions", true, v1A},
				loose:  target{http.MethodPost, "/v1/event_subscriptions", true, v1B}},
			{name: "v1 update subscription", template: `{"url":"` + rc.url("/v2") + `","description":"renamed","disabled":true,"event_types":["card.updated"]}`,
				strict: target{http.MethodPatch, "/v1/event_subscriptions/" + whA, true, v1A},
				loose:  target{http.MethodPatch, "/v1/event_subscriptions/" + scratch, true, v1B}},
			{name: "v1 send example", template: `{"event_type":"card.created"}`,
				strict: target{http.MethodPost, "/v1/simulate/event_subscriptions/" + whA + "/send_example", true, v1A},
				loose:  target{http.MethodPost, "/v1/simulate/event_subscriptions/" + example + "/send_example", true, v1B}},
		}
		const perTemplate = 100
		strict, loose, accepted := 0, 0, 0
		for _, c := range cases {
			for i := range perTemplate {
				m := mutate(rng, c.template, c.freeForm...)
				what := fmt.Sprintf("%s #%d (%s): %.200q", c.name, i, m.kind, m.body)
				if m.mustFail {
					strict++
					a := send(c.strict.method, c.strict.path, m.body, c.strict.header)
					fail.add(c.name+" (invalid body)", what, a.problem(c.strict.v1))
					continue
				}
				loose++
				a := send(c.loose.method, c.loose.path, m.body, c.loose.header)
				if a.err == nil && a.status < 300 {
					accepted++
				}
				fail.add(c.name+" (maybe valid body)", what, a.lenientProblem(c.loose.v1))
			}
		}
		t.Logf("%d certainly invalid bodies, %d possibly valid ones (%d of them accepted)", strict, loose, accepted)
	})

	t.Run("JSON that is not an object", func(t *testing.T) {
		// Aimed at tenant B's scratch webhooks: a body wrongly accepted changes nothing of A.
		fail := newFailures(t)
		defer fail.summarize()
		routes := []hostileRoute{
			{"create webhook", http.MethodPost, wpath(tenantB, ""), false, admin},
			{"update webhook", http.MethodPatch, wpath(tenantB, "/"+scratch), false, admin},
			{"publish event", http.MethodPost, "/event/" + tenantB + "/events", false, admin},
			{"mint token", http.MethodPost, "/admin/tokens", false, admin},
			{"v1 create", http.MethodPost, "/v1/event_subscriptions", true, v1B},
			{"v1 update", http.MethodPatch, "/v1/event_subscriptions/" + scratch, true, v1B},
			{"v1 send example", http.MethodPost, "/v1/simulate/event_subscriptions/" + example + "/send_example", true, v1B},
		}
		for _, r := range routes {
			for _, body := range []string{`null`, ` null `, `[]`, `[{}]`, `"{}"`, `0`, `true`} {
				a := send(r.method, r.path, []byte(body), r.header)
				fail.add(r.name, fmt.Sprintf("%s %s %s", r.method, r.path, body), a.problem(r.v1))
			}
		}
		// Field names are exact on the lenient /v1 face too: "URL" is an unknown field, not the url.
		for _, body := range []string{`{"URL":"` + rc.url("/folded") + `"}`, `{"Url":"` + rc.url("/folded") + `","Description":"folded"}`} {
			a := send(http.MethodPost, "/v1/event_subscriptions", []byte(body), v1B)
			fail.add("v1 case-folded field", body, a.problem(true))
		}
	})

	t.Run("random bytes to every POST and PATCH route", func(t *testing.T) {
		fail := newFailures(t)
		defer fail.summarize()
		rng := rand.New(rand.NewPCG(7, 7))
		// Routes that read no body are aimed at locators that do not exist: their answer is a 404 whatever
		// the body, and nothing changes.
		routes := []hostileRoute{
			{"create webhook", http.MethodPost, wpath(tenantA, ""), false, admin},
			{"update webhook", http.MethodPatch, wpath(tenantA, "/"+whA), false, admin},
			{"unsuspend", http.MethodPatch, wpath(tenantA, "/"+unknownLocator+"/unsuspend"), false, admin},
			{"resend diverted", http.MethodPost, wpath(tenantA, "/"+whA+"/diverted/"+unknownLocator+"/resend"), false, admin},
			{"publish event", http.MethodPost, "/event/" + tenantA + "/events", false, admin},
			{"mint token", http.MethodPost, "/admin/tokens", false, admin},
			{"v1 create", http.MethodPost, "/v1/event_subscriptions", true, v1A},
			{"v1 update", http.MethodPatch, "/v1/event_subscriptions/" + whA, true, v1A},
			{"v1 recover", http.MethodPost, "/v1/event_subscriptions/" + unknownLocator + "/recover", true, v1A},
			{"v1 replay_missing", http.MethodPost, "/v1/event_subscriptions/" + unknownLocator + "/replay_missing", true, v1A},
			{"v1 rotate secret", http.MethodPost, "/v1/event_subscriptions/" + unknownLocator + "/secret/rotate", true, v1A},
			{"v1 resend", http.MethodPost, "/v1/events/" + unknownLocator + "/event_subscriptions/" + whA + "/resend", true, v1A},
			{"v1 send example", http.MethodPost, "/v1/simulate/event_subscriptions/" + whA + "/send_example", true, v1A},
		}
		for _, r := range routes {
			for i := range 16 {
				body := randomBody(rng)
				a := send(r.method, r.path, body, r.header)
				fail.add(r.name, fmt.Sprintf("%s %s #%d %.80q", r.method, r.path, i, body), a.problem(r.v1))
			}
		}
	})

	t.Run("malformed queries", func(t *testing.T) {
		fail := newFailures(t)
		defer fail.summarize()
		long := strings.Repeat("Z", 5000)
		b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		socotra := map[string][]string{
			wpath(tenantA, "/list"): {"count=-1", "count=0", "count=1001", "count=ten", "count=99999999999999999999", "count=1e3",
				"count=", "offset=-1", "offset=1.5", "count=1&count=0", "enabled=yes", "suspended=2", "active=TRUE",
				"extended=maybe", "eventTypes=a..b", "eventTypes=" + long, "count=%zz", "eventTypes=%zz", "extended=%zz", "%zz=1",
				"count=%"},
			wpath(tenantA, "/"+whA+"/diverted"): {"count=-1", "count=0", "count=1001", "offset=-5", "count=x", "count=%zz"},
			"/event/" + tenantA + "/events/list": {"pageSize=0", "pageSize=-1", "pageSize=1001", "pageSize=abc", "pageSize=%zz",
				"startTimestamp=yesterday", "startTimestamp=2026-13-01T00:00:00Z", "endTimestamp=1700000000",
				"endTimestamp=2026-01-01", "startTimestamp=2026-01-01T00:00:00", "startTimestamp=%zz",
				"type=a..b", "type=" + long, "type=%zz",
				"pagingToken=nope!", "pagingToken=" + long, "pagingToken=" + b64("not json"), "pagingToken=" + b64(`{"a":-1}`),
				"pagingToken=" + b64(`{"a":"x"}`), "pagingToken=" + b64(`{"a":1,"zz":2}`), "pagingToken=" + b64(`[1,2]`),
				"pagingToken=" + b64(`{"a":1,"t":["a..b"]}`), "pagingToken=" + b64(`{"a":1,"s":"yesterday"}`),
				"pagingToken=" + b64(`{"a":1e400}`), "pagingToken=%zz", "pagingToken=" + b64(`{"a":1}`) + "==="},
		}
		v1 := map[string][]string{
			"/v1/event_subscriptions": {"page_size=0", "page_size=-1", "page_size=101", "page_size=x", "page_size=%zz",
				"starting_after=nope", "ending_before=" + long, "starting_after=" + unknownLocator + "&ending_before=" + unknownLocator,
				"starting_after=01j00000000000000000000000", "starting_after=%zz"},
			"/v1/events": {"page_size=0", "begin=yesterday", "end=2026-02-30T00:00:00Z", "begin=%zz", "event_types=a..b",
				"event_types=%zz", "with_content=maybe", "with_content=%zz", "starting_after=" + long, "ending_before=!!"},
			"/v1/events/" + unknownLocator + "/attempts": {"status=DONE", "status=success", "page_size=0", "begin=now",
				"status=%zz"},
			"/v1/event_subscriptions/" + whA + "/attempts": {"status=x", "end=tomorrow", "page_size=1000", "starting_after=x",
				"begin=%zz"},
			"/v1/event_subscriptions/" + whA + "/recover":        {"begin=yesterday", "end=x", "begin=%zz"},
			"/v1/event_subscriptions/" + whA + "/replay_missing": {"begin=2026-01-01T00:00:00Z&end=2025-01-01T00:00:00Z", "end=%zz"},
		}
		for path, queries := range socotra {
			for _, q := range queries {
				a := send(http.MethodGet, path+"?"+q, nil, admin)
				fail.add("Socotra query", fmt.Sprintf("GET %s?%.100s", path, q), a.problem(false))
			}
		}
		for path, queries := range v1 {
			method := http.MethodGet
			if strings.HasSuffix(path, "/recover") || strings.HasSuffix(path, "/replay_missing") {
				method = http.MethodPost
			}
			for _, q := range queries {
				a := send(method, path+"?"+q, nil, v1A)
				fail.add("/v1 query", fmt.Sprintf("%s %s?%.100s", method, path, q), a.problem(true))
			}
		}
	})

	t.Run("long and malformed locators in paths", func(t *testing.T) {
		fail := newFailures(t)
		defer fail.summarize()
		long := strings.Repeat("0", 5000)
		longU := strings.Repeat("Ü", 2500)
		for _, l := range []string{long, longU, "..", "%2e%2e", "01J0000000000000000000000%2F", "01j00000000000000000000000", "%00"} {
			for _, c := range []struct {
				method, path string
				v1           bool
				header       []string
			}{
				{http.MethodGet, "/event/" + l + "/webhooks/list", false, admin},
				{http.MethodPost, "/event/" + l + "/events", false, admin},
				{http.MethodGet, wpath(tenantA, "/"+l), false, admin},
				{http.MethodPatch, wpath(tenantA, "/"+l), false, admin},
				{http.MethodDelete, wpath(tenantA, "/"+l), false, admin},
				{http.MethodPatch, wpath(tenantA, "/"+l+"/unsuspend"), false, admin},
				{http.MethodGet, wpath(tenantA, "/"+l+"/history"), false, admin},
				{http.MethodGet, wpath(tenantA, "/"+l+"/diverted"), false, admin},
				{http.MethodGet, wpath(tenantA, "/"+whA+"/diverted/"+l), false, admin},
				{http.MethodDelete, wpath(tenantA, "/"+whA+"/diverted/"+l), false, admin},
				{http.MethodPost, wpath(tenantA, "/"+whA+"/diverted/"+l+"/resend"), false, admin},
				{http.MethodGet, "/event/" + tenantA + "/events/" + l, false, admin},
				{http.MethodDelete, "/admin/tokens/" + l, false, admin},
				{http.MethodGet, "/v1/event_subscriptions/" + l, true, v1A},
				{http.MethodPatch, "/v1/event_subscriptions/" + l, true, v1A},
				{http.MethodDelete, "/v1/event_subscriptions/" + l, true, v1A},
				{http.MethodGet, "/v1/event_subscriptions/" + l + "/attempts", true, v1A},
				{http.MethodPost, "/v1/event_subscriptions/" + l + "/recover", true, v1A},
				{http.MethodGet, "/v1/event_subscriptions/" + l + "/secret", true, v1A},
				{http.MethodPost, "/v1/event_subscriptions/" + l + "/secret/rotate", true, v1A},
				{http.MethodGet, "/v1/events/" + l, true, v1A},
				{http.MethodGet, "/v1/events/" + l + "/attempts", true, v1A},
				{http.MethodPost, "/v1/events/" + l + "/event_subscriptions/" + whA + "/resend", true, v1A},
				{http.MethodPost, "/v1/events/" + unknownLocator + "/event_subscriptions/" + l + "/resend", true, v1A},
				{http.MethodPost, "/v1/simulate/event_subscriptions/" + l + "/send_example", true, v1A},
			} {
				var body []byte
				if c.method == http.MethodPatch || c.method == http.MethodPost {
					body = []byte(`{"name":"x"}`)
				}
				a := send(c.method, c.path, body, c.header)
				fail.add(fmt.Sprintf("locator %.20q in path", l), fmt.Sprintf("%s %.120s", c.method, c.path), a.problem(c.v1))
			}
		}
		// Bad percent-encoding in the path: net/http refuses the request line before any handler runs, so
		// the answer is its plain-text 400; it must still be a 400 and the server must carry on.
		for _, line := range []string{"GET /event/%zz/webhooks/list", "GET " + wpath(tenantA, "/%zz"), "PATCH " + wpath(tenantA, "/"+whA+"%"),
			"GET /v1/events/%zz", "GET /v1/event_subscriptions/%G1", "POST /admin/tokens%"} {
			requests.Add(1)
			a := h.hostileRaw(line, admin...)
			if a.err != nil || a.status != http.StatusBadRequest {
				fail.add("percent-encoding in path", line, fmt.Sprintf("status %d, err %v: %.200s", a.status, a.err, a.body))
			}
		}
	})

	t.Run("hostile headers", func(t *testing.T) {
		fail := newFailures(t)
		defer fail.summarize()
		event := []byte(`{"type":"policy.issue","data":{}}`)
		for _, c := range []struct {
			name   string
			v1     bool
			method string
			path   string
			header []string
		}{
			{"long token", false, http.MethodGet, wpath(tenantA, "/list"), []string{"Authorization", "Bearer " + strings.Repeat("t", 5000)}},
			{"scheme only", false, http.MethodGet, wpath(tenantA, "/list"), []string{"Authorization", "Bearer "}},
			{"long idempotency key", false, http.MethodPost, "/event/" + tenantA + "/events", append([]string{"Idempotency-Key", strings.Repeat("k", 300)}, admin...)},
			{"tenant header not a UUID", true, http.MethodGet, "/v1/events", []string{"Authorization", adminToken, "Hookstream-Tenant", "'; DROP TABLE"}},
			{"tenant header long", true, http.MethodGet, "/v1/events", []string{"Authorization", adminToken, "Hookstream-Tenant", strings.Repeat("a", 5000)}},
			{"v1 long token", true, http.MethodGet, "/v1/events", []string{"Authorization", strings.Repeat("t", 5000)}},
		} {
			var body []byte
			if c.method == http.MethodPost {
				body = event
			}
			a := send(c.method, c.path, body, c.header)
			fail.add("header", c.name, a.problem(c.v1))
		}
		// Control characters in a header value: Go's client refuses to send them.
		// net/http refuses them before any handler runs, with its plain-text 400.
		requests.Add(1)
		if a := h.hostileRaw("GET "+wpath(tenantA, "/list"), "Authorization", "Bearer \x01\x7f\x1b[0m"); a.err != nil || a.status != http.StatusBadRequest {
			fail.add("header", "control characters", fmt.Sprintf("status %d, err %v: %.200s", a.status, a.err, a.body))
		}
	})

	t.Run("8 MB bodies", func(t *testing.T) {
		fail := newFailures(t)
		defer fail.summarize()
		big := bytes.Repeat([]byte("A"), 8<<20)
		bigJSON := []byte(`{"name":"` + strings.Repeat("x", 8<<20) + `","endpoint":{"url":"https://example.com"}}`)
		for _, c := range []struct {
			method, path string
			v1           bool
			header       []string
			body         []byte
		}{
			{http.MethodPost, wpath(tenantA, ""), false, admin, bigJSON},
			{http.MethodPatch, wpath(tenantA, "/"+whA), false, admin, big},
			{http.MethodPost, "/event/" + tenantA + "/events", false, admin, big},
			{http.MethodPost, "/admin/tokens", false, admin, big},
			{http.MethodPost, "/v1/event_subscriptions", true, v1A, big},
			{http.MethodPatch, "/v1/event_subscriptions/" + whA, true, v1A, big},
			{http.MethodPost, "/v1/simulate/event_subscriptions/" + whA + "/send_example", true, v1A, big},
		} {
			a := send(c.method, c.path, c.body, c.header)
			if p := a.problem(c.v1); p != "" || a.status != http.StatusRequestEntityTooLarge {
				fail.add("8 MB body", c.method+" "+c.path, fmt.Sprintf("status %d: %s", a.status, p))
			}
		}
	})

	close(stop)
	polling.Wait()
	if n := notReady.Load(); n > 0 {
		t.Errorf("/readyz was not 200 %d times during the onslaught; last: %v", n, lastNotReady.Load())
	}
	h.must(http.StatusOK, http.MethodGet, "/readyz", "", nil)
	after := h.must(http.StatusOK, http.MethodGet, listA, adminToken, nil).body
	if !bytes.Equal(before, after) {
		t.Errorf("hostile input changed the stored webhooks:\nbefore %s\nafter  %s", before, after)
	}
	if historyAfter := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+whA+"/history"), adminToken, nil).body; !bytes.Equal(historyBefore, historyAfter) {
		t.Errorf("hostile input added changes to the webhook's history:\nbefore %s\nafter  %s", historyBefore, historyAfter)
	}
	if logs := h.logs.String(); strings.Contains(logs, "panicked") {
		t.Error("a handler panicked: " + tail(logs[strings.Index(logs, "panicked"):], 2000))
	}
	t.Logf("%s requests in %s", strconv.FormatInt(requests.Load(), 10), time.Since(start).Round(time.Millisecond))
}
