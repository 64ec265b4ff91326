"""Atomic file writes: the one mechanism behind every file dscref writes as a final output (index
files and shards, the shard manifest and training sample, results.json and plots, extracted
features).

:func:`atomic_open` yields an open temporary file in the destination's folder; on a clean exit
it is flushed, fsynced, renamed over the destination (``os.replace``, atomic on POSIX) and the
folder is fsynced. A reader sees the old file or the new one, never a torn one.

* **Permissions.** The temporary file is created with mode ``0o666`` and the kernel applies the
  process umask (and a default ACL of the folder, if any), exactly as for ``open(path, "w")``:
  the result is ``0o666 & ~umask``. (``tempfile.mkstemp`` creates ``0o600`` files, which other
  users of a shared index folder could not read.) Nothing reads or changes the process-global
  umask, so concurrent threads are safe.
* **Stale temporary files.** An exception or Ctrl-C removes the temporary file; a SIGKILL or a
  power cut cannot. Temporary files are therefore named ``.{name}.{host}.{pid}.{random}.tmp``
  (``host``: 8 hex digits identifying this machine and PID namespace), and every save to ``path``
  first removes the temporary files *of the same destination* that were left by a process of
  this host and PID namespace that is no longer running and that belong to the current user.
  Temporary files of live writers (another process or thread saving the same path right now),
  of other machines sharing the folder, or of other users are never touched. (A crashed
  writer's PID reused by an unrelated live process keeps its file until that process exits.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_open", "atomic_write", "atomic_write_text", "remove_stale_temps"]

_TEMP_RE = r"([0-9a-f]{8})\.([0-9]+)\.([0-9a-z]{10})\.tmp"
_HOST_TAG: str | None = None


def _host_tag() -> str:
    """8 hex digits naming this machine and PID namespace (PIDs are only comparable inside it)."""
    global _HOST_TAG
    if _HOST_TAG is None:
        try:
            ns = os.readlink("/proc/self/ns/pid")
        except OSError:
            ns = ""
        _HOST_TAG = hashlib.sha1(f"{socket.gethostname()}\0{ns}".encode()).hexdigest()[:8]
    return _HOST_TAG


def _temp_path(path: Path, pid: int | None = None) -> Path:
    """A fresh temporary name for ``path``: ``.{name}.{host}.{pid}.{random}.tmp``."""
    rand = "".join(secrets.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(10))
    return path.with_name(f".{path.name}.{_host_tag()}.{os.getpid() if pid is None else pid}.{rand}.tmp")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # never a writer's pid: do not touch
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # exists (another user's) or cannot tell: keep the file
    return True


def remove_stale_temps(path) -> list[Path]:
    """Remove the temporary files of saves to ``path`` whose writer died (see the module notes).

    Returns the removed paths. Called at the start of every :func:`atomic_open`.
    """
    path = Path(path)
    if os.name != "posix":  # pragma: no cover - no way to tell a live writer from a dead one
        return []
    pattern = re.compile(re.escape(f".{path.name}.") + _TEMP_RE)
    host, uid, removed = _host_tag(), os.getuid(), []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    for e in entries:
        m = pattern.fullmatch(e.name)
        if m is None or m.group(1) != host:
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if not e.is_file(follow_symlinks=False) or st.st_uid != uid or _pid_alive(int(m.group(2))):
            continue
        try:
            os.unlink(e.path)
            removed.append(Path(e.path))
        except FileNotFoundError:  # another process cleaned it first
            pass
    return removed


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dfd)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` atomically when the ``with`` block succeeds.

    ``mode`` is ``"wb"`` (binary, seekable) or ``"w"`` (UTF-8 text). On an exception the
    temporary file is removed and ``path`` is unchanged. The parent folder is created if needed.
    See the module docstring for permissions (``0o666 & ~umask``) and stale temporary files.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode={mode!r} must be 'wb' or 'w'")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _temp_path(path)
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask, as open() does
            break
        except FileExistsError:  # pragma: no cover - 36**10 names
            continue
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write(path, data: str | bytes) -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically (:func:`atomic_open`)."""
    with atomic_open(path, "wb" if isinstance(data, (bytes, bytearray, memoryview)) else "w") as f:
        f.write(data)


def atomic_write_text(path, text: str) -> None:
    """:func:`atomic_write` of a string."""
    atomic_write(path, text)
