package hookstream

import (
	"encoding/json"
	"strings"
)

// exampleCatalogue holds realistic example payloads for common Lithic event types, sent by send_example.
var exampleCatalogue = map[string]string{
	"card.created":                       `{"card_token":"7ef7d65c-9023-4da3-b113-3b8583fd7951","account_token":"f3f4918c-dee9-464d-a819-4aa42901d624","type":"VIRTUAL","state":"OPEN","last_four":"4242","memo":"Example card"}`,
	"card.shipped":                       `{"card_token":"7ef7d65c-9023-4da3-b113-3b8583fd7951","shipping_method":"STANDARD","tracking_number":"1Z999AA10123456784"}`,
	"card.updated":                       `{"card_token":"7ef7d65c-9023-4da3-b113-3b8583fd7951","previous_fields":{"state":"OPEN"},"state":"PAUSED"}`,
	"card.converted":                     `{"card_token":"7ef7d65c-9023-4da3-b113-3b8583fd7951","type":"PHYSICAL"}`,
	"card.renewed":                       `{"card_token":"7ef7d65c-9023-4da3-b113-3b8583fd7951","exp_month":"11","exp_year":"2030"}`,
	"card.reissued":                      `{"card_token":"7ef7d65c-9023-4da3-b113-3b8583fd7951","new_card_token":"0f5c9d2a-7c1e-4c57-9f41-2d0b2c7b5e11"}`,
	"account_holder.created":             `{"token":"c7a4b4f0-0c34-4f43-9a3e-6d0a0f0b3a21","account_token":"f3f4918c-dee9-464d-a819-4aa42901d624","status":"ACCEPTED","status_reasons":[],"created":"2026-11-23T12:00:00Z"}`,
	"account_holder.updated":             `{"token":"c7a4b4f0-0c34-4f43-9a3e-6d0a0f0b3a21","business_account_token":null,"email":"jane@example.com","phone_number":"+15555550100"}`,
	"account_holder.verification":        `{"token":"c7a4b4f0-0c34-4f43-9a3e-6d0a0f0b3a21","status":"ACCEPTED","status_reasons":[]}`,
	"payment_transaction.created":        `{"token":"a1b2c3d4-0000-4000-8000-000000000001","category":"ACH","status":"PENDING","direction":"CREDIT","amount":10000,"currency":"USD","settled_amount":0}`,
	"payment_transaction.updated":        `{"token":"a1b2c3d4-0000-4000-8000-000000000001","category":"ACH","status":"SETTLED","direction":"CREDIT","amount":10000,"currency":"USD","settled_amount":10000}`,
	"card_transaction.updated":           `{"token":"b2c3d4e5-0000-4000-8000-000000000002","card_token":"7ef7d65c-9023-4da3-b113-3b8583fd7951","amount":1999,"status":"SETTLED","merchant":{"descriptor":"COFFEE SHOP","mcc":"5814"}}`,
	"balance.updated":                    `{"financial_account_token":"d4e5f6a7-0000-4000-8000-000000000003","available_amount":125000,"pending_amount":1999,"currency":"USD"}`,
	"dispute.updated":                    `{"token":"e5f6a7b8-0000-4000-8000-000000000004","status":"CASE_WON","amount":1999}`,
	"digital_wallet.tokenization_result": `{"card_token":"7ef7d65c-9023-4da3-b113-3b8583fd7951","tokenization_result_details":{"issuer_decision":"APPROVED"}}`,
}

// ExamplePayload returns a realistic example payload for eventType: from the built-in catalogue, or a generic
// one naming the type.
func ExamplePayload(eventType string) json.RawMessage {
	if p, ok := exampleCatalogue[eventType]; ok {
		return json.RawMessage(p)
	}
	resource, _, _ := strings.Cut(eventType, ".")
	generic, _ := json.Marshal(map[string]any{
		"token":    "00000000-0000-4000-8000-000000000000",
		"resource": resource,
		"example":  true,
		"message":  "Example payload for " + eventType,
	})
	return generic
}
