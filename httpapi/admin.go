package httpapi

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/hookstream/hookstream"
)

// tokenResponse describes a token; Token (the secret) is set only in the answer to its creation.
type tokenResponse struct {
	Locator     string     `json:"locator"`
	Name        string     `json:"name"`
	Tenants     []string   `json:"tenants"`
	Permissions []string   `json:"permissions"`
	ExpiresAt   *time.Time `json:"expiresAt"`
	CreatedAt   time.Time  `json:"createdAt"`
	Token       string     `json:"token,omitempty"`
}

func newTokenResponse(t *hookstream.Token, secret string) tokenResponse {
	return tokenResponse{Locator: t.Locator, Name: t.Name, Tenants: t.Tenants, Permissions: t.Permissions,
		ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt, Token: secret}
}

func (a *API) createToken(w http.ResponseWriter, r *request) error {
	var req hookstream.TokenCreate
	if err := decodeStrict(r.Request, &req); err != nil {
		return err
	}
	t, secret, err := a.cmd.CreateToken(r.Context(), r.principal.Locator, &req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, newTokenResponse(t, secret))
	return nil
}

func (a *API) listTokens(w http.ResponseWriter, _ *request) error {
	tokens, err := a.tokens.List()
	if err != nil {
		return err
	}
	items := make([]tokenResponse, 0, len(tokens))
	for _, t := range tokens {
		items = append(items, newTokenResponse(t, ""))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *request) error {
	loc := mux.Vars(r.Request)["tokenLocator"]
	if err := hookstream.CheckLocator("tokenLocator", loc); err != nil {
		return err
	}
	if err := a.cmd.RevokeToken(r.Context(), r.principal.Locator, loc); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
