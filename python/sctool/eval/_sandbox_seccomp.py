"""A seccomp-BPF filter for sandboxed samples, assembled by hand (no libseccomp, no new dependency).

Imported by ``_sandbox_child.py`` as a sibling module, so it too imports only the standard library.
The filter refuses the system calls that undo or get around the other sandbox layers (new
namespaces, mounts, tracing other processes, kernel keyrings, eBPF, io_uring, module loading, clock
and host-name changes) with ``EPERM``; ``clone3`` answers ``ENOSYS`` so that the C library falls
back to ``clone``, whose flags a classic BPF filter can inspect (``clone3`` passes them in memory).

Two optional rules bind more tightly:

* ``exit_token``: an exit status whose low byte is the sandbox's "passed" code is allowed only with
  the full 32-bit token, so a sample that guesses the code and calls ``os._exit(code)`` is killed
  instead of passing. The token is made inside the sample's process and never leaves it.
* ``host_shared`` (no namespaces): only ``AF_UNIX`` sockets, no ``kill(-1, …)``, no new session or
  process group (the supervisor cleans up by process group there).
"""

import ctypes
import errno
import os
import platform

# seccomp_data: int nr; u32 arch; u64 ip; u64 args[6]
_NR, _ARCH, _ARG0_LO = 0, 4, 16
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_AND_K = 0x54
BPF_RET_K = 0x06
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AF_UNIX = 1
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
X32_SYSCALL_BIT = 0x40000000

# Numbers from <asm/unistd_64.h> (x86_64) and <asm-generic/unistd.h> (aarch64); tests compare them
# with the headers where those are installed.
SYSCALLS = {
    "x86_64": {
        "exit": 60, "exit_group": 231, "kill": 62, "clone": 56, "clone3": 435, "socket": 41, "setsid": 112,
        "setpgid": 109, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
        "chroot": 161, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "keyctl": 250,
        "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "lookup_dcookie": 212, "quotactl": 179,
        "quotactl_fd": 443, "syslog": 103, "vhangup": 153, "settimeofday": 164, "clock_settime": 227,
        "clock_adjtime": 305, "adjtimex": 159, "sethostname": 170, "setdomainname": 171, "kcmp": 312,
        "pidfd_getfd": 438, "iopl": 172, "ioperm": 173, "fanotify_init": 300, "uselib": 134, "_sysctl": 156,
        "create_module": 174, "get_kernel_syms": 177, "query_module": 178, "nfsservctl": 180,
    },
    "aarch64": {
        "exit": 93, "exit_group": 94, "kill": 129, "clone": 220, "clone3": 435, "socket": 198, "setsid": 157,
        "setpgid": 154, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41,
        "chroot": 51, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "keyctl": 219,
        "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "move_mount": 429, "open_tree": 428, "mount_setattr": 442, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "lookup_dcookie": 18, "quotactl": 60,
        "quotactl_fd": 443, "syslog": 116, "vhangup": 58, "settimeofday": 170, "clock_settime": 112,
        "clock_adjtime": 266, "adjtimex": 171, "sethostname": 161, "setdomainname": 162, "kcmp": 272,
        "pidfd_getfd": 438, "fanotify_init": 262, "nfsservctl": 42,
    },
}
DENIED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv",
    "process_vm_writev", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "open_by_handle_at", "name_to_handle_at", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "lookup_dcookie", "quotactl", "quotactl_fd", "syslog", "vhangup", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "kcmp", "pidfd_getfd", "iopl", "ioperm",
    "fanotify_init", "uselib", "_sysctl", "create_module", "get_kernel_syms", "query_module", "nfsservctl",
)


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Insn))]


def machine():
    m = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(m, m)


def supported():
    return machine() in SYSCALLS


def build(exit_token=None, pass_code=None, host_shared=False):
    """The filter as (code, jt, jf, k) tuples; jumps are resolved from symbolic labels."""
    arch = machine()
    nr = SYSCALLS[arch]
    prog = []  # items: (code, jt_label_or_int, jf_label_or_int, k) or ("label", name)

    def emit(code, k=0, jt=0, jf=0):
        prog.append((code, jt, jf, k))

    def label(name):
        prog.append(("label", name))

    emit(BPF_LD_W_ABS, _ARCH)
    emit(BPF_JEQ_K, AUDIT_ARCH[arch], jt=0, jf="kill")
    emit(BPF_LD_W_ABS, _NR)
    if arch == "x86_64":
        emit(BPF_JGE_K, X32_SYSCALL_BIT, jt="kill", jf=0)
    for name in DENIED:
        if name in nr:
            emit(BPF_JEQ_K, nr[name], jt="eperm", jf=0)
    emit(BPF_JEQ_K, nr["clone3"], jt="enosys", jf=0)
    emit(BPF_JEQ_K, nr["clone"], jt="clone", jf=0)
    if host_shared:
        emit(BPF_JEQ_K, nr["socket"], jt="socket", jf=0)
        emit(BPF_JEQ_K, nr["kill"], jt="kill_all", jf=0)
        emit(BPF_JEQ_K, nr["setsid"], jt="eperm", jf=0)
        emit(BPF_JEQ_K, nr["setpgid"], jt="eperm", jf=0)
    if exit_token is not None:
        emit(BPF_JEQ_K, nr["exit_group"], jt="exit", jf=0)
        emit(BPF_JEQ_K, nr["exit"], jt="exit", jf=0)
    emit(BPF_RET_K, RET_ALLOW)
    label("clone")
    emit(BPF_LD_W_ABS, _ARG0_LO)
    emit(BPF_AND_K, NAMESPACE_FLAGS)
    emit(BPF_JEQ_K, 0, jt="allow", jf="eperm")
    if host_shared:
        label("socket")
        emit(BPF_LD_W_ABS, _ARG0_LO)
        emit(BPF_JEQ_K, AF_UNIX, jt="allow", jf="eafnosupport")
        label("kill_all")
        emit(BPF_LD_W_ABS, _ARG0_LO)
        emit(BPF_JEQ_K, 0xFFFFFFFF, jt="eperm", jf="allow")
    if exit_token is not None:
        label("exit")
        emit(BPF_LD_W_ABS, _ARG0_LO)
        emit(BPF_JEQ_K, exit_token & 0xFFFFFFFF, jt="allow", jf=0)
        emit(BPF_AND_K, 0xFF)
        emit(BPF_JEQ_K, pass_code & 0xFF, jt="kill", jf="allow")
    label("allow")
    emit(BPF_RET_K, RET_ALLOW)
    label("eperm")
    emit(BPF_RET_K, RET_ERRNO | errno.EPERM)
    label("enosys")
    emit(BPF_RET_K, RET_ERRNO | errno.ENOSYS)
    label("eafnosupport")
    emit(BPF_RET_K, RET_ERRNO | errno.EAFNOSUPPORT)
    label("kill")
    emit(BPF_RET_K, RET_KILL_PROCESS)

    where, pc = {}, 0
    for item in prog:
        if item[0] == "label":
            where[item[1]] = pc
        else:
            pc += 1
    out, pc = [], 0
    for item in prog:
        if item[0] == "label":
            continue
        code, jt, jf, k = item
        jumps = []
        for j in (jt, jf):
            if isinstance(j, str):
                j = where[j] - pc - 1
            if not 0 <= j <= 255:
                raise ValueError("seccomp jump out of range")
            jumps.append(j)
        out.append((code, jumps[0], jumps[1], k))
        pc += 1
    return out


def install(insns):
    """prctl(PR_SET_SECCOMP) for the calling thread; the caller must be single-threaded."""
    libc = ctypes.CDLL(None, use_errno=True)
    arr = (_Insn * len(insns))(*[_Insn(c, jt, jf, k) for c, jt, jf, k in insns])
    prog = _Prog(len(insns), ctypes.cast(arr, ctypes.POINTER(_Insn)))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(NO_NEW_PRIVS): {os.strerror(err)}")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter: {os.strerror(err)}")
