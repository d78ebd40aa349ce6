"""Replacing a folder so that a reader (or a killed writer) never sees half of it.

On Linux the new folder and the old one swap places in one system call
(``renameat2`` with ``RENAME_EXCHANGE``): at every instant the target holds
either the whole old content or the whole new one, and a process killed at any
point leaves the target intact. Elsewhere the swap falls back to two renames,
and :func:`recover` restores a target a killed writer left missing.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from pathlib import Path

__all__ = ["replace_dir", "recover", "STAGING_PREFIX"]

STAGING_PREFIX = ".staging-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False when the system cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _old_name(target: Path) -> Path:
    return target.with_name(f"{STAGING_PREFIX}{target.name}.old")


def replace_dir(target: Path, staging: Path) -> None:
    """Put the complete folder ``staging`` in place of ``target`` (a sibling), all or nothing."""
    target, staging = Path(target), Path(staging)
    if not target.exists():
        os.replace(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging)  # it now holds the old content
        return
    old = _old_name(target)
    if old.exists():
        shutil.rmtree(old)
    os.replace(target, old)  # a kill between these two renames is undone by recover()
    os.replace(staging, target)
    shutil.rmtree(old)


def recover(parent: Path) -> list[str]:
    """Undo what a killed writer left in ``parent``: a target missing beside its old copy comes back;
    staging folders are removed. Returns what was done."""
    done = []
    parent = Path(parent)
    if not parent.is_dir():
        return done
    for path in sorted(parent.iterdir()):
        if not path.name.startswith(STAGING_PREFIX):
            continue
        if path.name.endswith(".old"):
            target = parent / path.name[len(STAGING_PREFIX):-len(".old")]
            if not target.exists():
                os.replace(path, target)
                done.append(f"restored {target.name}")
                continue
        shutil.rmtree(path, ignore_errors=True)
        done.append(f"removed {path.name}")
    return done
