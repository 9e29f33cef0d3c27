"""sha256 of files, cached by (path, size, mtime, inode), so an unchanged dataset is not read twice.

The cache is one SQLite file (WAL, so concurrent readers and one writer do not
block each other) under ``$STAGER_HOME/cache``. A file whose size, mtime
(nanoseconds) or inode changed is hashed again; a file rewritten in place
within the same nanosecond with the same size would be missed, as with every
mtime-based cache (rsync, make).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from stager.hashing import sha256_file

__all__ = ["HashCache"]



class HashCache:
    """``sha256(path)`` that reads a file only when its (size, mtime, inode) changed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
                         "inode INTEGER, sha256 TEXT)")
        self.hits = 0  # lookups answered from the cache
        self.misses = 0  # files read and hashed

    def sha256(self, path: Path | str, stat: os.stat_result | None = None) -> str:
        """The file's sha256, from the cache when (size, mtime, inode) are unchanged.

        Raises:
            OSError: the file cannot be read.
        """
        key = os.path.abspath(path)
        st = stat or os.stat(key)
        with self._lock:
            row = self._db.execute("SELECT size, mtime_ns, inode, sha256 FROM hashes WHERE path = ?",
                                   (key,)).fetchone()
        if row and row[:3] == (st.st_size, st.st_mtime_ns, st.st_ino):
            self.hits += 1
            return row[3]
        digest = sha256_file(key)
        self.misses += 1
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?)",
                             (key, st.st_size, st.st_mtime_ns, st.st_ino, digest))
        return digest

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> HashCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
