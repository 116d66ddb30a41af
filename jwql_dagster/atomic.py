"""Atomic file output: a temp file in the target folder, then os.replace, ending with mode 0644.

A reader (a web server, the gallery, a user) never sees a half-written file, and a
killed process leaves at most a hidden ``.tmp-*`` file, never a partial product.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

OUTPUT_MODE = 0o644


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], mode: int = OUTPUT_MODE) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    The temporary name keeps the target's suffix so libraries that infer the format
    from the extension (Pillow, matplotlib, astropy) write the right thing.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{target.stem[:40]}-", suffix=target.suffix, dir=target.parent)
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
