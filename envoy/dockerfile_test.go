package envoy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// imageConfigPath is where the image's entrypoint reads its config; the
// Deployment mounts the ConfigMap there (TestIstioDeployment).
const imageConfigPath = "/etc/mfa-authz/config.yaml"

// The container image cannot be built here (no engine), so its essentials
// are checked as text: an edit that drops one fails here.
func TestDockerfileEssentials(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Instructions, without comments, continuation lines joined.
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(data), " ")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	instr := strings.Join(lines, "\n")
	var froms []string
	for _, l := range lines {
		if f, ok := strings.CutPrefix(l, "FROM "); ok {
			froms = append(froms, f)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, got FROM %q", froms)
	}
	if !regexp.MustCompile(`^golang:1\.26(\.\d+)?(-\S+)? AS \S+$`).MatchString(froms[0]) {
		t.Errorf("builder stage %q: want golang:1.26, as go.mod", froms[0])
	}
	final := froms[len(froms)-1]
	if final != "gcr.io/distroless/static-debian12:nonroot" && final != "scratch" {
		t.Errorf("final stage %q: want distroless static nonroot (or scratch with a non-root USER)", final)
	}
	// The final stage runs as a non-root user.
	lastFrom := strings.LastIndex(instr, "\nFROM ")
	user := regexp.MustCompile(`(?m)^USER (\S+)$`).FindAllStringSubmatch(instr[lastFrom:], -1)
	if len(user) == 0 && !strings.HasSuffix(final, ":nonroot") {
		t.Error("the final stage has no USER and its base image is not nonroot")
	}
	for _, u := range user {
		if name := strings.Split(u[1], ":")[0]; name == "root" || name == "0" {
			t.Errorf("the final stage runs as %s", u[1])
		}
	}
	if len(user) > 0 && user[len(user)-1][1] != "65532:65532" && user[len(user)-1][1] != "nonroot:nonroot" && user[len(user)-1][1] != "nonroot" {
		t.Errorf("USER %s: deployment.yaml runs as 65532, distroless's nonroot", user[len(user)-1][1])
	}
	// A static, path-free build of the real binary.
	build := regexp.MustCompile(`(?m)^RUN .*\bgo build\b.*$`).FindString(instr)
	for _, must := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/mfa-authz"} {
		if !strings.Contains(build, must) {
			t.Errorf("the go build step lacks %s: %q", must, build)
		}
	}
	for _, must := range []string{
		"\nEXPOSE 9191 9192\n",
		`ENTRYPOINT ["/usr/local/bin/mfa-authz", "serve", "--config", "` + imageConfigPath + `"]`,
		"COPY --from=",
	} {
		if !strings.Contains(instr+"\n", must) {
			t.Errorf("Dockerfile lacks %q", strings.TrimSpace(must))
		}
	}

	// The build context leaves out local secrets and build output.
	ignore, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{".git", "bin/", "data/", "*.png", "*.key"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(must) + `$`).Match(ignore) {
			t.Errorf(".dockerignore lacks %s", must)
		}
	}
}
