package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeOf(time.Duration(0))

// checkKeys walks the YAML document against the type of target and reports
// the first unknown key or badly typed value by its full key path, such as
// `config: mfa.grace_period (line 4): invalid duration "30 minutes"`.
func checkKeys(n *yaml.Node, path string, target any) error {
	return walk(n, path, reflect.TypeOf(target))
}

func walk(n *yaml.Node, path string, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return walk(n.Content[0], path, t)
	}
	if n.Kind == yaml.AliasNode {
		return walk(n.Alias, path, t)
	}
	if n.Tag == "!!null" {
		return nil
	}
	switch {
	case t.Kind() == reflect.Struct && t != reflect.TypeOf(time.Time{}):
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("config: %s (line %d): want a mapping of keys", name(path), n.Line)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fieldByTag(t, k.Value)
			if !ok {
				return fmt.Errorf("config: %s (line %d): unknown key", join(path, k.Value), k.Line)
			}
			if err := walk(v, join(path, k.Value), f.Type); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("config: %s (line %d): want a list", name(path), n.Line)
		}
		for i, el := range n.Content {
			if err := walk(el, fmt.Sprintf("%s[%d]", path, i), t.Elem()); err != nil {
				return err
			}
		}
		return nil
	default:
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("config: %s (line %d): want a single value", name(path), n.Line)
		}
		if t.Kind() == reflect.Bool && !isBool(n) {
			// yaml.v3 decodes YAML 1.1 words (yes, no, on, off, y, n) into a
			// bool; a config key takes only true or false.
			return fmt.Errorf("config: %s (line %d): invalid value %q: want true or false", name(path), n.Line, n.Value)
		}
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			what := t.Kind().String()
			if t == durationType {
				what = "duration such as 30s or 5m"
			}
			return fmt.Errorf("config: %s (line %d): invalid value %q: want a %s", name(path), n.Line, n.Value, what)
		}
		return nil
	}
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == key && tag != "" && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func name(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

// isBool reports whether n is a YAML 1.2 boolean: true or false, in one of
// the spellings of the core schema, unquoted.
func isBool(n *yaml.Node) bool {
	if n.ShortTag() != "!!bool" {
		return false
	}
	switch n.Value {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return true
	}
	return false
}
