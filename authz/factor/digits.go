package factor

// Digits reports whether s is a non-empty string of ASCII digits: the syntax
// of every code a device shows or a message carries.
func Digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
