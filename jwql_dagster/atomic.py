"""Atomic file output: a temp file in the target folder, then os.replace, ending with mode 0644.

A reader (a web server, the gallery, a user) never sees a half-written file, and a
killed process leaves at most a hidden ``.tmp-*`` file, never a partial product. The temp
name carries the writer's host and PID, so a later run can tell a dead writer's leftover
(:func:`abandoned_temp`) from a file another live process is still writing.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Iterator

OUTPUT_MODE = 0o644
TEMP_PREFIX = ".tmp-"
#: ``.tmp-<stem>-<host>-<pid>-<8 random characters of mkstemp><suffix>``
_TEMP_NAME = re.compile(r"^\.tmp-.*-([A-Za-z0-9]{1,16})-(\d+)-[a-z0-9_]{8}(\.[^.]*)?$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname().split(".")[0])[:16] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet writes nothing more
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def abandoned_temp(name: str) -> bool:
    """True for a temp file of :func:`atomic_path` whose writer, on this host, is no longer running."""
    match = _TEMP_NAME.match(name)
    return bool(match) and match.group(1) == _host() and not _pid_alive(int(match.group(2)))


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], mode: int = OUTPUT_MODE) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    The temporary name keeps the target's suffix so libraries that infer the format
    from the extension (Pillow, matplotlib, astropy) write the right thing.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{target.stem[:40]}-{_host()}-{os.getpid()}-",
                               suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes, mode: int = OUTPUT_MODE) -> Path:
    """Write ``data`` to ``target`` atomically (fsync before the rename) and return the path."""
    with atomic_path(target, mode) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def atomic_write_text(target: str | os.PathLike[str], text: str, mode: int = OUTPUT_MODE) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    return atomic_write_bytes(target, text.encode("utf-8"), mode)


def atomic_copy(source: str | os.PathLike[str], target: str | os.PathLike[str], mode: int = OUTPUT_MODE) -> Path:
    """Copy ``source`` to ``target`` atomically, keeping the source's modification time."""
    with atomic_path(target, mode) as tmp:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        st = os.stat(source)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    return Path(target)
