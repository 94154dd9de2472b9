package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/projections"
)

// attemptsPagingToken is what a webhook's attempts page token encodes: the last attempt returned and the
// query's filters, so the token alone continues the same query to older attempts.
type attemptsPagingToken struct {
	After  string    `json:"a,omitempty"`
	Status string    `json:"st,omitempty"`
	Start  time.Time `json:"s,omitzero"`
	End    time.Time `json:"e,omitzero"`
}

func (p *attemptsPagingToken) encode() string {
	data, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeAttemptsPagingToken(s string) (*attemptsPagingToken, error) {
	bad := hookstream.Invalid("pagingToken", "is not a paging token returned by this API")
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 4096 || !bytes.HasPrefix(data, []byte("{")) {
		return nil, bad
	}
	var p attemptsPagingToken
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, bad
	}
	if p.Status != "" && checkAttemptStatus("pagingToken", p.Status) != nil {
		return nil, bad
	}
	if p.After != "" && hookstream.CheckLocator("pagingToken", p.After) != nil {
		return nil, bad
	}
	return &p, nil
}

func checkAttemptStatus(field, s string) error {
	switch hookstream.AttemptStatus(s) {
	case hookstream.AttemptSuccess, hookstream.AttemptFailed, hookstream.AttemptPending, hookstream.AttemptSending:
		return nil
	}
	return hookstream.Invalid(field, "must be FAILED, PENDING, SENDING or SUCCESS")
}

// attemptListResponse is a page of a webhook's attempts, newest first. PagingToken continues to older
// attempts; HasMore says whether there are any.
type attemptListResponse struct {
	PagingToken string                `json:"pagingToken"`
	HasMore     bool                  `json:"hasMore"`
	Attempts    []*hookstream.Attempt `json:"attempts"`
}

// webhookAttempts lists a webhook's attempts, newest first, filtered by status and creation time.
func (a *API) webhookAttempts(w http.ResponseWriter, r *request) error {
	loc, err := webhookLocator(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	size, err := queryInt(q, "pageSize", 50, 1, 1000)
	if err != nil {
		return err
	}
	var tok *attemptsPagingToken
	if s, ok := single(q, "pagingToken"); ok {
		if tok, err = decodeAttemptsPagingToken(s); err != nil {
			return err
		}
	} else {
		tok = &attemptsPagingToken{}
		if s, ok := single(q, "status"); ok && s != "" {
			if err := checkAttemptStatus("status", s); err != nil {
				return err
			}
			tok.Status = s
		}
		if tok.Start, err = queryTime(q, "startTimestamp"); err != nil {
			return err
		}
		if tok.End, err = queryTime(q, "endTimestamp"); err != nil {
			return err
		}
		if !tok.Start.IsZero() && !tok.End.IsZero() && !tok.Start.Before(tok.End) {
			return hookstream.Invalid("endTimestamp", "must be after startTimestamp")
		}
	}
	if _, err := a.webhooks.Get(r.tenant, loc); err != nil {
		return err
	}
	f := projections.AttemptFilter{Status: tok.Status, Begin: tok.Start, End: tok.End}
	items, more, err := a.attempts.PageForWebhook(r.tenant, loc, f, tok.After, "", size)
	if err != nil {
		var de *hookstream.Error
		if errors.As(err, &de) && de.Code == hookstream.CodeInvalid {
			// The attempt the token continues after is gone (a PENDING try that was cancelled).
			return hookstream.Invalid("pagingToken", "names an attempt that no longer exists; start again without it")
		}
		return err
	}
	next := *tok
	if len(items) > 0 {
		next.After = items[len(items)-1].Locator
	}
	if items == nil {
		items = []*hookstream.Attempt{}
	}
	writeJSON(w, http.StatusOK, attemptListResponse{PagingToken: next.encode(), HasMore: more, Attempts: items})
	return nil
}
