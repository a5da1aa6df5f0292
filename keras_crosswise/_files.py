"""Files written atomically: the adapter files and the native kernel's cache.
A leaf: it imports nothing of the package."""

import contextlib
import os
import pathlib
import stat
import tempfile


def write_atomically(path, write):
    """Write `path` by `write(file)` (a binary file object) into a temporary
    file beside it, flushed to disk (fsync), then renamed onto it: a failed
    or interrupted write leaves the old file whole, and a reader never sees
    half a file. A symbolic link is followed (its target is replaced, the
    link stays); the file gets the mode of the file it replaces, or that of
    a new file under the umask (not `mkstemp`'s 0600). Returns the path
    written."""
    target = pathlib.Path(os.path.realpath(path))
    mode = _mode(target)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return target


def _mode(target):
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)  # read it: Python has no other way
        os.umask(umask)
        return 0o666 & ~umask
