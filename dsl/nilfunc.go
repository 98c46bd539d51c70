package dsl

import "reflect"

// isNilFunc reports whether fn is a nil func value.
func isNilFunc(fn any) bool {
	v := reflect.ValueOf(fn)
	return v.Kind() == reflect.Func && v.IsNil()
}
