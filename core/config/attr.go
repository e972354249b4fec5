package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// attr binds one attribute name to the field it fills. The same binding
// decodes HCL values, environment variables and flags, so all three accept the
// same forms and give the same errors.
type attr struct {
	name string
	ptr  any // *string, *[]string, *time.Duration, *bool, *int, *float64
}

// fromValue sets the field from an HCL value.
func (a attr) fromValue(v cty.Value) error {
	if v.IsNull() {
		return fmt.Errorf("must not be null")
	}
	if !v.IsWhollyKnown() {
		return fmt.Errorf("must be a literal value")
	}
	switch p := a.ptr.(type) {
	case *[]string:
		lv, err := convert.Convert(v, cty.List(cty.String))
		if err != nil {
			return fmt.Errorf("must be a list of strings")
		}
		out := make([]string, 0, lv.LengthInt())
		for it := lv.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			if ev.IsNull() {
				return fmt.Errorf("must be a list of strings, without null elements")
			}
			out = append(out, ev.AsString())
		}
		*p = out
		return nil
	case *bool:
		bv, err := convert.Convert(v, cty.Bool)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		*p = bv.True()
		return nil
	default:
		sv, err := convert.Convert(v, cty.String)
		if err != nil {
			return fmt.Errorf("must be %s", a.expected())
		}
		return a.fromString(sv.AsString())
	}
}

// fromString sets the field from text (an environment variable, a flag, or
// an HCL string).
func (a attr) fromString(s string) error {
	switch p := a.ptr.(type) {
	case *string:
		*p = s
	case *[]string:
		var out []string
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		*p = out
	case *time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 0 {
			return fmt.Errorf("%q is not %s", s, a.expected())
		}
		*p = d
	case *bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not %s", s, a.expected())
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not %s", s, a.expected())
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not %s", s, a.expected())
		}
		*p = f
	default:
		panic(fmt.Sprintf("config: attribute %s has unsupported type %T", a.name, a.ptr))
	}
	return nil
}

func (a attr) expected() string {
	switch a.ptr.(type) {
	case *[]string:
		return "a list of strings"
	case *time.Duration:
		return `a duration such as "5s" or "2m30s"`
	case *bool:
		return "true or false"
	case *int:
		return "a whole number"
	case *float64:
		return "a number such as 1.5"
	default:
		return "a string"
	}
}
