package decide

// TriggerTimeout is the trigger for attempts that got no HTTP response at
// all (timeout, refused or reset connection, DNS or TLS failure): from the
// endpoint owner's point of view these all mean "my server did not answer".
const TriggerTimeout = "timeout"

// Succeeded reports whether statusCode counts as a delivered event. Only 2xx
// does: 3xx is a failure because redirects are never followed, and a 1xx
// never reaches the caller as a final status.
func Succeeded(statusCode int) bool {
	return statusCode >= 200 && statusCode <= 299
}

// MatchTrigger returns the entry of triggers that fires for an attempt that
// ended with statusCode, where 0 means no HTTP response came back. An exact
// code entry ("404") wins over its class entry ("4xx") regardless of list
// order, so the more specific configuration is the one reported. Successful
// and informational codes never match; neither do codes outside 100..599,
// which no valid trigger can name.
func MatchTrigger(triggers []string, statusCode int) (trigger string, ok bool) {
	if statusCode == 0 {
		for _, t := range triggers {
			if t == TriggerTimeout {
				return t, true
			}
		}
		return "", false
	}
	if statusCode < 300 || statusCode > 599 {
		return "", false
	}
	code := [3]byte{
		byte('0' + statusCode/100),
		byte('0' + statusCode/10%10),
		byte('0' + statusCode%10),
	}
	class := [3]byte{code[0], 'x', 'x'}
	classMatched := ""
	for _, t := range triggers {
		switch t {
		case string(code[:]):
			return t, true
		case string(class[:]):
			classMatched = t
		}
	}
	return classMatched, classMatched != ""
}
