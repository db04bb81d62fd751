//go:build linux

// Package faultdisk gives tests a disk that can lose power: a small ext4
// filesystem on a loop device, mounted in a temporary directory, that Cut
// stops at once without writing back anything not yet fsynced, as a
// power cut would. Remount mounts it again (the journal replays), so a
// test sees what a restarted machine would see.
//
// Cut uses the filesystem's shutdown ioctl with the "no log flush" flag
// (EXT4_IOC_SHUTDOWN, EXT4_GOING_FLAGS_NOLOGFLUSH), the way xfstests
// simulates a crash: dirty pages in the page cache and journal
// transactions not yet committed never reach the disk; what an fsync
// completed is there. Writes the kernel happened to write back before the
// cut survive too, as they may on a real disk. Remount copies the disk
// image as the cut left it and mounts the copy on a fresh loop device:
// unmounting the cut filesystem may still write back cached metadata, and
// the old loop device's cache would show it, neither of which a machine
// whose power was cut would see. The processes that used the filesystem
// must have exited before Remount, so nothing is in flight while the image
// is copied.
//
// Only what was acknowledged before Cut began is certain to be on the
// disk: an fsync running while the filesystem shuts down can report
// success for a journal transaction the shutdown dropped, where a real
// power cut would have answered nothing.
//
// It needs root, loop devices and mkfs.ext4. Without them New skips the
// test with the reason, or fails it when KASSA_TEST_REQUIRE names
// "faultdisk".
package faultdisk

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// EnvRequire names the variable whose comma-separated list, when it holds
// "faultdisk", turns a skip into a failure.
const EnvRequire = "KASSA_TEST_REQUIRE"

// sizeBytes is the filesystem's size: room for a test's database.
const sizeBytes = 96 << 20

const (
	ext4IOCShutdown          = 0x8004587D // _IOR('X', 125, __u32)
	ext4GoingFlagsNoLogFlush = 2
)

// Disk is a mounted ext4 filesystem on a loop device.
type Disk struct {
	// Dir is where the filesystem is mounted.
	Dir     string
	image   string // the disk's contents
	loop    string // the loop device the image is attached to
	mounted bool
}

// New makes, mounts and returns a disk, removed when the test ends.
func New(t testing.TB) *Disk {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, fmt.Errorf("not root"))
	}
	for _, tool := range []string{"mkfs.ext4", "losetup", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, err)
		}
	}
	tmp := t.TempDir()
	d := &Disk{Dir: filepath.Join(tmp, "mnt"), image: filepath.Join(tmp, "disk.img")}
	if err := os.Mkdir(d.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.image, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(d.image, sizeBytes); err != nil {
		t.Fatal(err)
	}
	if err := run("mkfs.ext4", "-q", "-F", d.image); err != nil {
		unavailable(t, err)
	}
	if err := d.attach(); err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if d.mounted {
			if err := run("umount", d.Dir); err != nil {
				t.Errorf("faultdisk: %v", err)
			}
		}
		if d.loop != "" {
			if err := run("losetup", "--detach", d.loop); err != nil {
				t.Errorf("faultdisk: %v", err)
			}
		}
	})
	if err := d.mount(); err != nil {
		unavailable(t, err)
	}
	return d
}

// Cut stops the filesystem as a power cut would: from now on every
// operation on it fails, and nothing not yet fsynced reaches the disk.
func (d *Disk) Cut(t testing.TB) {
	t.Helper()
	f, err := os.Open(d.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags := uint32(ext4GoingFlagsNoLogFlush)
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), ext4IOCShutdown, uintptr(unsafe.Pointer(&flags))); e != 0 {
		t.Fatalf("faultdisk: shutdown ioctl: %v", e)
	}
}

// copySparse copies the image src to dst, leaving all-zero blocks holes.
func copySparse(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(in, buf)
		if n > 0 && !allZero(buf[:n]) {
			if _, werr := out.WriteAt(buf[:n], off); werr != nil {
				out.Close()
				return werr
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		} else if err != nil {
			out.Close()
			return err
		}
	}
	if err := out.Truncate(off); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Remount unmounts the cut filesystem and mounts the disk as the cut
// left it, as a machine does after the power comes back. Every process
// using the filesystem must have exited.
func (d *Disk) Remount(t testing.TB) {
	t.Helper()
	snapshot := d.image + ".cut"
	if err := copySparse(snapshot, d.image); err != nil {
		t.Fatalf("faultdisk: %v", err)
	}
	if err := run("umount", d.Dir); err != nil {
		t.Fatalf("faultdisk: %v", err)
	}
	d.mounted = false
	if err := run("losetup", "--detach", d.loop); err != nil {
		t.Fatalf("faultdisk: %v", err)
	}
	d.loop = ""
	os.Remove(d.image)
	d.image = snapshot
	if err := d.attach(); err != nil {
		t.Fatalf("faultdisk: %v", err)
	}
	if err := d.mount(); err != nil {
		t.Fatalf("faultdisk: %v", err)
	}
}

func (d *Disk) attach() error {
	out, err := exec.Command("losetup", "--find", "--show", d.image).CombinedOutput()
	if err != nil {
		return fmt.Errorf("losetup: %v: %s", err, out)
	}
	d.loop = strings.TrimSpace(string(out))
	return nil
}

func (d *Disk) mount() error {
	if err := run("mount", "-t", "ext4", d.loop, d.Dir); err != nil {
		return err
	}
	d.mounted = true
	return os.Chmod(d.Dir, 0o700)
}

func run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("faultdisk: NO CUTTABLE DISK: %v (needs root, loop devices, mkfs.ext4)", err)
	for _, s := range strings.Split(os.Getenv(EnvRequire), ",") {
		if strings.TrimSpace(s) == "faultdisk" {
			t.Fatalf("%s (%s asks for faultdisk, so this is a failure, not a skip)", msg, EnvRequire)
		}
	}
	t.Skipf("%s — SKIPPING (set %s=faultdisk to fail instead)", msg, EnvRequire)
}
