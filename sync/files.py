"""Folders and databases only their service may read, whatever the umask.

The kiosk's state folder and journal, and the city's data folder and database, hold personal data
(sealed, but linkable) and tokens. Made without ``install.sh`` (a lab, ``kiosk-city enroll
--state``, a city server started by hand) they would take the umask's usual 0755 and 0644. So a
folder made here is 0700 and a database file 0600 (SQLite gives its ``-wal`` and ``-shm`` the
database file's mode); an existing database file that others may read loses those bits (at
most 0640, so a group given by ``install.sh`` keeps its access). An existing folder is left as
it is: it may be anything (``install.sh`` makes the state folder 0750), and changing a shared
one would be worse.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["private_dir", "private_db"]

DIR_MODE = 0o700
FILE_MODE = 0o600
MOST_FILE_MODE = 0o640  # what an existing database may keep (a group's read access)


def private_dir(path: str | os.PathLike) -> Path:
    """The folder ``path``, made (with its parents) if missing: the folder itself 0700."""
    path = Path(path)
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it first: its mode is its own
            return path
        os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def private_db(path: str | os.PathLike) -> Path:
    """The database file ``path``, created empty 0600 if missing (SQLite fills it), else
    tightened to at most 0640. Its folder is made by :func:`private_dir` if missing."""
    path = Path(path)
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & ~MOST_FILE_MODE:
            try:
                os.chmod(path, mode & MOST_FILE_MODE)
            except PermissionError:  # not ours to change: SQLite will say if it cannot use it
                pass
        return path
    try:
        os.fchmod(fd, FILE_MODE)  # O_CREAT's mode is masked by the umask
    finally:
        os.close(fd)
    return path
