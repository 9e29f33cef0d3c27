"""The controller's own stager as a wheel, built byte-for-byte reproducibly.

Gold images carry the stager that built them, so the instance runs the same
trainer as the controller. The wheel is made straight from the imported
package's folder (an editable checkout or an installed copy alike), with no
build backend and no network: sorted entries, fixed timestamps and modes. The
same source therefore always gives the same bytes, and the wheel's sha256 can
stand in the recipe hash for "this stager". Compiled caches (``__pycache__``)
are left out; nothing else is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import stager

__all__ = ["StagerWheel", "build_wheel"]

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
_TAG = "py3-none-any"


@dataclass(frozen=True)
class StagerWheel:
    filename: str  # e.g. stager-0.1.0-py3-none-any.whl, as pip requires
    data: bytes  # the wheel itself
    sha256: str  # hex digest of ``data``

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.filename
        path.write_bytes(self.data)
        return path


def build_wheel() -> StagerWheel:
    """Build the wheel of the stager this process imported."""
    package_dir = Path(stager.__file__).resolve().parent
    version = stager.__version__
    dist_info = f"stager-{version}.dist-info"
    entries: list[tuple[str, bytes, int]] = []
    for path in sorted(_package_files(package_dir)):
        rel = "stager/" + path.relative_to(package_dir).as_posix()
        mode = 0o755 if os.access(path, os.X_OK) and path.suffix != ".py" else 0o644
        entries.append((rel, path.read_bytes(), mode))
    entries.append((f"{dist_info}/METADATA", _metadata(version).encode(), 0o644))
    entries.append((f"{dist_info}/WHEEL", _wheel_file().encode(), 0o644))
    entries.append((f"{dist_info}/entry_points.txt", b"[console_scripts]\nstager = stager.cli.main:main\n", 0o644))
    record = "".join(f"{name},sha256={_urlsafe_digest(data)},{len(data)}\n" for name, data, _ in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode(), 0o644))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=6)
    data = buffer.getvalue()
    return StagerWheel(f"stager-{version}-{_TAG}.whl", data, hashlib.sha256(data).hexdigest())


def _package_files(package_dir: Path):
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith((".pyc", ".pyo")):
                yield Path(folder) / name


def _metadata(version: str) -> str:
    lines = ["Metadata-Version: 2.1", "Name: stager", f"Version: {version}",
             "Summary: Repeatable, audited, cost-capped GPU training on Linode", "Requires-Python: >=3.10"]
    try:
        installed = metadata.metadata("stager")
        extras = installed.get_all("Provides-Extra") or []
        requires = metadata.requires("stager") or []
    except metadata.PackageNotFoundError:  # imported from a source tree that was never installed
        extras, requires = [], []
    lines += [f"Provides-Extra: {extra}" for extra in extras]
    lines += [f"Requires-Dist: {req}" for req in requires]
    return "\n".join(lines) + "\n"


def _wheel_file() -> str:
    return f"Wheel-Version: 1.0\nGenerator: stager {stager.__version__}\nRoot-Is-Purelib: true\nTag: {_TAG}\n"


def _urlsafe_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
