package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// DeviceNameLengthMax bounds a device's name, in characters.
const DeviceNameLengthMax = 64

// CodeDeviceNameInvalid: a device name that is empty, too long or holds
// control characters (EInvalid).
const CodeDeviceNameInvalid = "device_name_invalid"

// RenameDevice names one of the customer's devices (trimmed, 1 to
// DeviceNameLengthMax characters, no control characters), so that the
// payer tells apart devices whose browser and system are the same.
// Errors: kassa EInvalid device_name_invalid, ENotFound device_not_found
// (also for another customer's device or a revoked one).
func (s *Service) RenameDevice(ctx context.Context, customerID, deviceID, name string) (Device, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > DeviceNameLengthMax ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return Device{}, kassa.Invalid("name", CodeDeviceNameInvalid,
			"the name must be 1 to %d characters without control characters", DeviceNameLengthMax)
	}
	notFound := kassa.Errorf(kassa.ENotFound, CodeDeviceNotFound, "no such device")
	if !id.HasPrefix(deviceID, "dev") {
		return Device{}, notFound
	}
	d, err := s.store.UpdateDevice(ctx, deviceID, func(d *Device) error {
		if d.CustomerID != customerID || !d.RevokedAt.IsZero() {
			return notFound
		}
		d.Name = name
		return nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Device{}, notFound
	case err != nil && kassa.AsError(err) != nil:
		return Device{}, err
	case err != nil:
		return Device{}, fmt.Errorf("identity: rename device: %w", err)
	}
	return d, nil
}
