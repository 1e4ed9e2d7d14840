"""Landlock (Linux 5.13+): the file, network and signal walls for samples run without namespaces.

Without a mount, network and PID namespace a sample shares the host's file system, network and
process table; Landlock restricts all three for the calling process and its descendants without
privileges. ``restrict`` needs ABI 6 (Linux 6.12) for signal scoping (``kill(-1, 9)`` then reaches
only the sample's own processes) and ABI 4 for the TCP rules; with less the caller refuses to run
unless the user asked for an unsafe run. Standard library only (imported by ``_sandbox_child.py``).
"""

import ctypes
import os

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # same on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ALL_V1 = (1 << 13) - 1  # execute .. make_sym
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
REQUIRED_ABI = 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = None


def _syscall():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc.syscall


def abi():
    """The kernel's Landlock ABI version, 0 when Landlock is absent or disabled."""
    try:
        ret = _syscall()(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                         ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(ret), 0)


def _fs_mask(version):
    mask = FS_ALL_V1
    if version >= 2:
        mask |= REFER
    if version >= 3:
        mask |= TRUNCATE
    if version >= 5:
        mask |= IOCTL_DEV
    return mask


def restrict(read_paths, write_paths, device_paths):
    """Confine the calling thread (and later children): read/execute under ``read_paths``, full access
    under ``write_paths``, read/write of the device files in ``device_paths``, no TCP, signals and
    abstract Unix sockets only within the sandbox. The caller must have set no_new_privs."""
    version = abi()
    if version < REQUIRED_ABI:
        raise OSError(0, f"Landlock ABI {version} (need {REQUIRED_ABI}, Linux 6.12+)")
    fs_mask = _fs_mask(version)
    attr = _RulesetAttr(fs_mask, NET_BIND_TCP | NET_CONNECT_TCP, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    call = _syscall()
    fd = call(ctypes.c_long(SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
              ctypes.c_uint32(0))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock_create_ruleset: {os.strerror(err)}")
    try:
        rules = [(p, EXECUTE | READ_FILE | READ_DIR) for p in read_paths]
        rules += [(p, fs_mask) for p in write_paths]
        rules += [(p, (READ_FILE | WRITE_FILE | IOCTL_DEV) & fs_mask) for p in device_paths]
        for path, access in rules:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # absent on this machine: nothing to allow
            try:
                if not os.path.isdir(path):
                    access &= FILE_RIGHTS
                rule = _PathBeneath(access, pfd)
                if call(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(fd), ctypes.c_int(RULE_PATH_BENEATH),
                        ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"landlock_add_rule({path}): {os.strerror(err)}")
            finally:
                os.close(pfd)
        if call(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"landlock_restrict_self: {os.strerror(err)}")
    finally:
        os.close(fd)
    return version
