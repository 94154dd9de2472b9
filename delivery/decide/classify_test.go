package decide_test

import (
	"fmt"
	"github.com/hookstream/hookstream"
	"testing"

	"github.com/hookstream/hookstream/delivery/decide"
)

func TestSucceeded(t *testing.T) {
	tests := []struct {
		code int
		want bool
	}{
		{0, false},
		{-200, false},
		{100, false},
		{199, false},
		{200, true},
		{201, true},
		{204, true},
		{299, true},
		{300, false},
		{302, false},
		{404, false},
		{500, false},
		{599, false},
		{600, false},
	}
	for _, tt := range tests {
		if got := decide.Succeeded(tt.code); got != tt.want {
			t.Errorf("Succeeded(%d) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func TestMatchTrigger(t *testing.T) {
	all := []string{"timeout", "3xx", "4xx", "5xx"}
	tests := []struct {
		name     string
		triggers []string
		code     int
		want     string
		wantOK   bool
	}{
		{"no response matches timeout", all, 0, "timeout", true},
		{"no response without timeout trigger", []string{"4xx", "5xx", "500"}, 0, "", false},
		{"no triggers", nil, 500, "", false},
		{"no triggers no response", nil, 0, "", false},
		{"class 5xx", all, 503, "5xx", true},
		{"class 4xx", all, 404, "4xx", true},
		{"class 3xx", all, 302, "3xx", true},
		{"class bounds low", all, 300, "3xx", true},
		{"class bounds high", all, 599, "5xx", true},
		{"exact code", []string{"404"}, 404, "404", true},
		{"exact wins when listed after class", []string{"4xx", "404"}, 404, "404", true},
		{"exact wins when listed before class", []string{"404", "4xx"}, 404, "404", true},
		{"other code in class falls back to class", []string{"404", "4xx"}, 410, "4xx", true},
		{"exact code of other class ignored", []string{"404", "5xx"}, 500, "5xx", true},
		{"code not listed", []string{"404", "5xx"}, 410, "", false},
		{"class not listed", []string{"5xx", "timeout"}, 418, "", false},
		{"timeout does not match a status", []string{"timeout"}, 504, "", false},
		{"status does not match timeout", []string{"504"}, 0, "", false},
		{"2xx never matches", []string{"2xx", "200", "timeout"}, 200, "", false},
		{"1xx never matches", []string{"1xx", "100"}, 100, "", false},
		{"out of range code", []string{"6xx", "600"}, 600, "", false},
		{"negative code", all, -1, "", false},
		{"case sensitive", []string{"4XX", "TIMEOUT"}, 404, "", false},
		{"case sensitive timeout", []string{"TIMEOUT"}, 0, "", false},
		{"duplicates", []string{"5xx", "5xx", "502", "502"}, 502, "502", true},
		{"ignores invalid neighbours", []string{"", "x", "4xx"}, 429, "4xx", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decide.MatchTrigger(tt.triggers, tt.code)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("MatchTrigger(%q, %d) = %q, %v; want %q, %v", tt.triggers, tt.code, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// Every code a trigger can name must be matched by exactly that trigger.
func TestMatchTriggerEveryCode(t *testing.T) {
	for code := 300; code <= 599; code++ {
		exact := fmt.Sprint(code)
		class := exact[:1] + "xx"
		if got, ok := decide.MatchTrigger([]string{class, exact}, code); !ok || got != exact {
			t.Fatalf("MatchTrigger(%q, %d) = %q, %v", []string{class, exact}, code, got, ok)
		}
		if got, ok := decide.MatchTrigger([]string{class}, code); !ok || got != class {
			t.Fatalf("MatchTrigger(%q, %d) = %q, %v", class, code, got, ok)
		}
		if !hookstream.ValidTrigger(exact) || !hookstream.ValidTrigger(class) {
			t.Fatalf("ValidTrigger(%q) or ValidTrigger(%q) false", exact, class)
		}
	}
}

func TestValidTrigger(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"timeout", true},
		{"3xx", true},
		{"4xx", true},
		{"5xx", true},
		{"300", true},
		{"404", true},
		{"429", true},
		{"599", true},
		{"", false},
		{"1xx", false},
		{"2xx", false},
		{"6xx", false},
		{"0xx", false},
		{"4XX", false},
		{"4Xx", false},
		{"4x", false},
		{"4xxx", false},
		{"x4x", false},
		{"40x", false},
		{"4x0", false},
		{"299", false},
		{"200", false},
		{"100", false},
		{"600", false},
		{"999", false},
		{"40", false},
		{"4040", false},
		{"-404", false},
		{"+404", false},
		{" 404", false},
		{"404 ", false},
		{"4a4", false},
		{"Timeout", false},
		{"TIMEOUT", false},
		{"timeout ", false},
		{"timeouts", false},
	}
	for _, tt := range tests {
		if got := hookstream.ValidTrigger(tt.s); got != tt.want {
			t.Errorf("ValidTrigger(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
