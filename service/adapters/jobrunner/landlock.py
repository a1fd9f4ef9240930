"""Linux Landlock: a job process gives up the filesystem except what running the engine needs.

The job process runs user-supplied models; whatever onnxruntime (or a parser bug) would open, the
kernel refuses outside Python's install, the engine's code, the blob store and the job's own
directory. The data dir (keys, databases) is never among them. Best effort: kernels without
Landlock (or other systems) keep the process's other protections only.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("edna.jobs")

# Syscall numbers shared by every architecture (they came after the numbering was unified).
CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
READ = EXECUTE | READ_FILE | READ_DIR
WRITE_V1 = WRITE_FILE | sum(1 << bit for bit in range(4, 13))  # remove and make files, dirs, links...
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3 and 5
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/etc", "/proc", "/sys")
DEVICES = ("/dev/null", "/dev/urandom", "/dev/random")


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _handled(abi: int) -> int:
    """Every filesystem right this kernel's Landlock knows: all refused unless a rule grants it."""
    rights = READ | WRITE_V1
    rights |= REFER if abi >= 2 else 0
    rights |= TRUNCATE if abi >= 3 else 0
    rights |= IOCTL_DEV if abi >= 5 else 0
    return rights


def code_dirs(*modules) -> list[Path]:
    """Python's install and the directories of these packages: what imports read."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return [Path(p) for p in prefixes] + [Path(m.__file__).resolve().parent for m in modules]


def restrict(read: Iterable[Path], write: Iterable[Path]) -> bool:
    """Allow reading under `read` (and the system's libraries), reading and writing under `write`,
    nothing else, for this process and its children from now on. False when Landlock is missing."""
    if sys.platform != "linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    if abi < 1:
        log.warning(
            "Landlock is not available (%s): job processes see the whole filesystem", os.strerror(ctypes.get_errno())
        )
        return False
    handled = _handled(abi)
    ruleset_fd = libc.syscall(CREATE_RULESET, ctypes.byref(ctypes.c_uint64(handled)), ctypes.c_size_t(8), 0)
    if ruleset_fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        rules = [(Path(p), READ) for p in (*SYSTEM_DIRS, *read)] + [(Path(p), handled) for p in write]
        rules += [(Path(p), READ_FILE | WRITE_FILE) for p in DEVICES]
        for path, access in rules:
            _allow(libc, ruleset_fd, path, access & handled)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        if libc.syscall(RESTRICT_SELF, ruleset_fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset_fd)
    return True


def _allow(libc, ruleset_fd: int, path: Path, access: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # /lib64 on some systems, a prefix that is a symlink's target elsewhere...
    try:
        if not path.is_dir():
            access &= READ_FILE | WRITE_FILE | EXECUTE | TRUNCATE | IOCTL_DEV  # the rights a file can hold
        rule = _PathBeneath(access, fd)
        if libc.syscall(ADD_RULE, ruleset_fd, RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)
