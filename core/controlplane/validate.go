package controlplane

import (
	"errors"

	"github.com/quantixvm/quantix/core/admission"
	"github.com/quantixvm/quantix/core/vm"
	"github.com/quantixvm/quantix/sdk/backend"
	"github.com/quantixvm/quantix/sdk/plugin"
)

// specError turns an invalid-argument error of backend.ValidateSpec into a
// service error naming the same field.
func specError(err error) error {
	if err == nil {
		return nil
	}
	if plugin.KindOf(err) == plugin.KindInvalidArgument {
		return &Error{Kind: KindInvalid, Field: plugin.FieldOf(err), Message: err.Error(), Err: err}
	}
	return &Error{Kind: KindInvalid, Message: err.Error(), Err: err}
}

// admit turns a rule of core/admission that a request breaks into a
// service error naming the field: invalid, or a conflict when the request
// is valid but its node has no room now. v, when set, is the VM concerned.
func admit(err error, v *vm.VM) error {
	var viol *admission.Violation
	if !errors.As(err, &viol) {
		return err
	}
	kind := KindInvalid
	if viol.Full {
		kind = KindConflict
	}
	return &Error{Kind: kind, Field: viol.Field, Message: viol.Message, VM: v}
}

// checkSpec checks a VM's name and spec as every backend will.
func checkSpec(name string, s vm.Spec) error {
	if err := specError(backend.ValidateSpec(vm.BackendSpec(name, "", s))); err != nil {
		return err
	}
	return admit(admission.Disks(s.Disks), nil)
}
