"""The emulator's S3-compatible Object Storage endpoint.

A file-backed S3 server on the standard library: objects persist on disk
between stager invocations (``BucketStore``), and the emulator's own access
keys, with Linode's per-bucket permissions, are enforced (``Grant``) behind
real Signature Version 4 checks (``S3Server``).

Modules: ``store`` (+ ``multipart``, ``listing``, ``rules``, ``fsutil``) keep the
data; ``server`` (HTTP), ``routing``, ``sigv4``, ``policy``, ``handlers``,
``xmlio``, ``bodies``, ``chunked`` and ``checksums`` speak the protocol.

Not emulated: virtual-host addressing (path-style only), versioning, ACL,
policy, CORS, lifecycle, website, tagging and encryption APIs, storage classes,
SigV2 and SigV4A, anonymous/public access, per-region bucket namespaces.
"""

from .errors import BucketError
from .multipart import PartInfo, UploadInfo
from .policy import READ_ONLY, READ_WRITE, Grant
from .server import S3Server
from .store import BucketInfo, BucketStore, ListResult, ObjectInfo

__all__ = [
    "READ_ONLY",
    "READ_WRITE",
    "BucketError",
    "BucketInfo",
    "BucketStore",
    "Grant",
    "ListResult",
    "ObjectInfo",
    "PartInfo",
    "S3Server",
    "UploadInfo",
]
