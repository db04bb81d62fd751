package identity

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

var b64 = base64.RawURLEncoding

// Device is a browser a customer logged in from and passed a second
// factor on (or signed up with). The pages keep its token in a long-lived
// cookie; the token is signed (HMAC), so a forged one is refused before
// any lookup, and the row makes it revocable.
type Device struct {
	ID              string // dev_...
	CustomerID      string
	FingerprintHash []byte // keyed hash of the page's fingerprint at the last login
	UserAgent       string
	IP              string // at the last login
	Created         time.Time
	LastSeen        time.Time
	RevokedAt       time.Time
	// Name is what the customer called the device (RenameDevice); ""
	// until they do.
	Name string
}

// Recognition is what RecognizeDevice found.
type Recognition struct {
	Known    bool   // a valid, unrevoked device token of this customer
	DeviceID string // "" unless Known
	// FingerprintMatch tells whether the page's fingerprint is the one
	// last seen with the device. A mismatch does not make the device new
	// (browsers update), but the risk engine may weigh it.
	FingerprintMatch bool
}

// devicesListMax bounds Devices.
const devicesListMax = 100

// deviceToken is "<device id>.<base64url HMAC-SHA256 of id and customer>".
func (s *Service) deviceToken(deviceID, customerID string) string {
	return deviceID + "." + b64.EncodeToString(keyed(s.deviceKey, "device", deviceID, customerID))
}

// parseDeviceToken returns the device id of a token signed for customerID,
// or false for anything else (malformed, forged, another customer's).
func (s *Service) parseDeviceToken(token, customerID string) (string, bool) {
	if len(token) > 128 {
		return "", false
	}
	devID, sig, ok := strings.Cut(token, ".")
	if !ok || !id.HasPrefix(devID, "dev") {
		return "", false
	}
	mac, err := b64.DecodeString(sig)
	if err != nil {
		return "", false
	}
	return devID, hmac.Equal(mac, keyed(s.deviceKey, "device", devID, customerID))
}

func (s *Service) fingerprintHash(fp string) []byte {
	if fp == "" {
		return nil
	}
	return keyed(s.fingerprintKey, truncate(fp, fingerprintMax))
}

// RecognizeDevice tells whether a device token (the cookie; "" when
// none) names a known device of the customer, and whether the page's
// fingerprint matches it. A forged or foreign token, or one of a revoked
// device, is a new device. It changes nothing.
func (s *Service) RecognizeDevice(ctx context.Context, customerID, deviceToken, fingerprint string) (Recognition, error) {
	devID, ok := s.parseDeviceToken(deviceToken, customerID)
	if !ok {
		if deviceToken != "" {
			s.log.InfoContext(ctx, "device token refused", "customer", customerID)
		}
		return Recognition{}, nil
	}
	d, err := s.store.Device(ctx, devID)
	if errors.Is(err, ErrNotFound) {
		return Recognition{}, nil
	} else if err != nil {
		return Recognition{}, fmt.Errorf("identity: device: %w", err)
	}
	if d.CustomerID != customerID || !d.RevokedAt.IsZero() {
		return Recognition{}, nil
	}
	fp := s.fingerprintHash(fingerprint)
	return Recognition{Known: true, DeviceID: d.ID, FingerprintMatch: fp != nil && hmac.Equal(fp, d.FingerprintHash)}, nil
}

// addDevice stores a new device for the customer and returns its token.
func (s *Service) addDevice(ctx context.Context, deviceID, customerID string, c Client, now time.Time) (string, error) {
	d := Device{
		ID: deviceID, CustomerID: customerID, FingerprintHash: s.fingerprintHash(c.Fingerprint),
		UserAgent: truncate(c.UserAgent, userAgentMax), IP: truncate(c.IP, 64), Created: now, LastSeen: now,
	}
	if err := s.store.CreateDevice(ctx, d, s.lim.DevicesPerCustomer); err != nil {
		return "", fmt.Errorf("identity: create device: %w", err)
	}
	s.emit(ctx, EventDeviceAdded, customerID, EventData{"device": d.ID, "ip": c.IP})
	return s.deviceToken(d.ID, customerID), nil
}

// seeDevice records a login on a known device.
func (s *Service) seeDevice(ctx context.Context, deviceID string, c Client, now time.Time) {
	_, err := s.store.UpdateDevice(ctx, deviceID, func(d *Device) error {
		d.LastSeen = now
		d.IP = truncate(c.IP, 64)
		d.UserAgent = truncate(c.UserAgent, userAgentMax)
		if fp := s.fingerprintHash(c.Fingerprint); fp != nil {
			d.FingerprintHash = fp
		}
		return nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "record device use", "device", deviceID, "err", err)
	}
}

// Devices lists a customer's devices that are not revoked, most recently
// seen first.
func (s *Service) Devices(ctx context.Context, customerID string) ([]Device, error) {
	ds, err := s.store.Devices(ctx, customerID, devicesListMax)
	if err != nil {
		return nil, fmt.Errorf("identity: devices: %w", err)
	}
	return ds, nil
}

// RevokeDevice forgets a device of the customer: its token no longer
// recognizes it, and its sessions end. Errors: kassa ENotFound
// device_not_found, also for another customer's device.
func (s *Service) RevokeDevice(ctx context.Context, customerID, deviceID string) error {
	now := s.now().UTC()
	notFound := kassa.Errorf(kassa.ENotFound, CodeDeviceNotFound, "no such device")
	if !id.HasPrefix(deviceID, "dev") {
		return notFound
	}
	_, err := s.store.UpdateDevice(ctx, deviceID, func(d *Device) error {
		if d.CustomerID != customerID || !d.RevokedAt.IsZero() {
			return notFound
		}
		d.RevokedAt = now
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return notFound
	} else if err != nil {
		if kassa.AsError(err) != nil {
			return err
		}
		return fmt.Errorf("identity: revoke device: %w", err)
	}
	ss, err := s.store.Sessions(ctx, customerID, now, sessionsListMax)
	if err != nil {
		return fmt.Errorf("identity: sessions of device: %w", err)
	}
	for _, sess := range ss {
		if sess.DeviceID == deviceID {
			if err := s.revoke(ctx, sess.ID, now); err != nil {
				return err
			}
		}
	}
	s.emit(ctx, EventDeviceRevoked, customerID, EventData{"device": deviceID})
	return nil
}
