package attack

import "github.com/mfa-authz/mfa-authz/test/attack/harness"

// round3 holds the path rows of the third security review: front-controller
// prefixes, and encoded and compatibility forms of the families the policy
// already handles. Each is a POST without a code that must be read as
// protected.
func round3() []attack {
	var rows []attack
	for _, p := range []struct{ name, path string }{
		{"index.php before the route", "/index.php/carts/1"},
		{"app.php before the route", "/app.php/customer-password/DE--42"},
		{"app_dev.php before the route", "/app_dev.php/checkout"},
		{"upper-case script name", "/INDEX.PHP/carts/1"},
		{"encoded script name", "/%69ndex%2Ephp/carts/1"},
		{"script name with ;param", "/index.php;x/carts/1"},
		{"script name with trailing dot", "/index.php./carts/1"},
		{"script name in a subdirectory", "/shop/index.php/carts/1"},
		{"script name twice", "/index.php/index.php/customers/1"},
		{"script name before the exception's broader rule", "/index.php/carts/1/items"},
		{"script name before the exception", "/index.php/carts/1/public"},
	} {
		rows = append(rows, pathRow("path/front-controller", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"encoded NTFS stream suffix", "/checkout%3A%3A%24DATA"},
		{"encoded dollar of stream suffix", "/checkout::%24DATA"},
		{"encoded scheme-relative authority", "/%2F%2Fevil.example/customer-password/DE--42"},
		{"encoded UNC-style authority", "/%5C%5Cevil.example/customer-password/DE--42"},
	} {
		rows = append(rows, pathRow("path/encoded-families", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"full-width letters", "/\uff43\uff41\uff52\uff54\uff53/1"},
		{"full-width slashes and letters", "\uff0f\uff43\uff41\uff52\uff54\uff53\uff0f\uff11"},
		{"encoded full-width slash", "/carts%EF%BC%8F1"},
		{"full-width solidus between segments", "/customer-password\uff0fDE--42"},
		{"full-width dot-dot", "/x/\uff0e\uff0e/checkout"},
		{"full-width semicolon param", "/checkout\uff1bx"},
		{"full-width capitals", "/\uff23\uff28\uff25\uff23\uff2b\uff2f\uff35\uff34"},
		{"ligature (NFKC)", "/customer-pass\u02b7ord/DE--42"},
		{"mathematical letters (NFKC)", "/\U0001d41c\U0001d41a\U0001d42b\U0001d42d\U0001d42c/1"},
		{"encoded full-width letters", "/%EF%BD%83arts/1"},
	} {
		rows = append(rows, pathRow("path/compatibility", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"zero-width space", "/carts\u200b/1"},
		{"zero-width joiner inside", "/cus\u200dtomer-password/DE--42"},
		{"zero-width non-joiner", "/\u200ccheckout"},
		{"soft hyphen", "/check\u00adout"},
		{"byte-order mark", "/\ufeffcarts/1"},
		{"left-to-right mark", "/carts\u200e/1"},
		{"right-to-left mark, encoded", "/carts%E2%80%8F/1"},
		{"word joiner", "/customers\u2060/1"},
		{"variation selector", "/carts\ufe0f/1"},
	} {
		rows = append(rows, pathRow("path/invisible", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"short name of customer-password", "/CUSTOM~1/DE--42"},
		{"short name, lower case", "/custom~1/DE--42"},
		{"short name, other index", "/CUSTOM~2/DE--42"},
		{"short name of checkout", "/CHECKO~1"},
	} {
		rows = append(rows, pathRow("path/short-names", p.name, "POST", p.path))
	}
	for _, p := range []struct{ name, path string }{
		{"http: and one slash", "http:/carts/1"},
		{"https: without slash", "https:carts/1"},
		{"upper-case scheme and backslashes", `HTTP:\carts\1`},
		{"other scheme", "x-foo:/customer-password/DE--42"},
	} {
		rows = append(rows, pathRow("path/scheme-no-slashes", p.name, "POST", p.path))
	}
	rows = append(rows, hostRow("encoded scheme-relative path naming the host", harness.Host, "/%2F%2Fadmin.example.com/admin/users"))
	return rows
}
