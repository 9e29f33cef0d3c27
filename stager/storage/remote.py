"""What a prefix holds: its listing, stager's remote manifest, and one object's stored hash.

The remote manifest (``<prefix>/.stager/manifest.json``) is the dataset's
manifest as ``Manifest.to_json`` writes it, plus one extra field, ``etags``:
each file's ETag as listed when the sync that wrote it had verified it. A
listing gives every object's size and ETag in one request per 1,000 objects;
where the listed ETag and size are still those the remote manifest recorded,
the object is the very one that was verified, so its sha256 is known without a
HEAD. Overwriting an object gives it a new ETag, so a stale remote manifest
can never vouch for changed content. Only the last step of a sync writes it.

An object's own sha256 lives in its metadata (``x-amz-meta-sha256``), written
in the same PUT as its content (or with CreateMultipartUpload), so an object
never exists without it. A multipart ETag is not a content hash; the sha256 is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from stager.errors import UsageError
from stager.storage.errors import is_missing, s3_call
from stager.storage.manifest import Manifest
from stager.storage.s3 import S3Location

__all__ = ["MANIFEST_KEY", "SHA256_METADATA", "STAGER_DIR", "RemoteIndex", "RemoteObject", "head_sha256",
           "list_objects", "read_index", "write_index"]

STAGER_DIR = ".stager/"  # stager's own records under a prefix; never dataset files, never deleted by --delete
MANIFEST_KEY = STAGER_DIR + "manifest.json"
SHA256_METADATA = "sha256"  # sent as x-amz-meta-sha256


@dataclass(frozen=True)
class RemoteObject:
    size: int  # bytes, as listed
    etag: str  # as listed, without quotes; names this exact version of the object


@dataclass(frozen=True)
class Listing:
    files: dict[str, RemoteObject]  # dataset path -> object, everything outside .stager/
    records: dict[str, RemoteObject]  # stager's own objects, by path under the prefix (".stager/...")


@dataclass
class RemoteIndex:
    """The remote manifest and the ETags it vouches for."""

    manifest: Manifest
    etags: dict[str, str]  # dataset path -> ETag of the object that was verified

    def __post_init__(self) -> None:
        self._entries = self.manifest.by_path()

    def vouched_sha256(self, path: str, listed: RemoteObject) -> str | None:
        """The sha256 of ``path`` if the listed object is the one this index verified, else None."""
        entry = self._entries.get(path)
        if entry is None or self.etags.get(path) != listed.etag or entry.size != listed.size:
            return None
        return entry.sha256

    def dumps(self) -> str:
        body = self.manifest.to_json()
        body["etags"] = dict(sorted(self.etags.items()))
        return json.dumps(body, indent=1) + "\n"


def _endpoint(client) -> str:
    return client.meta.endpoint_url


def list_objects(client, location: S3Location, *, action: str = "listing") -> Listing:
    """Every object under ``location``, split into dataset files and stager's records.

    Raises:
        UsageError: the bucket does not exist, or the keys are refused.
        JobFailed: the endpoint does not answer, or fails.
    """
    files: dict[str, RemoteObject] = {}
    records: dict[str, RemoteObject] = {}

    prefix = location.list_prefix
    cut = len(prefix)

    def walk() -> None:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix):
            for item in page.get("Contents") or ():
                relative = item["Key"][cut:]
                found = RemoteObject(int(item["Size"]), str(item.get("ETag") or "").strip('"'))
                (records if relative.startswith(STAGER_DIR) else files)[relative] = found

    s3_call(walk, action=f"{action} {location}", where=str(location), endpoint=_endpoint(client),
            bucket=location.bucket)
    return Listing(files, records)


def read_index(client, location: S3Location, *, required: bool = False) -> RemoteIndex | None:
    """The remote manifest of ``location``: None when there is none (or, unless ``required``, a damaged one).

    Raises:
        UsageError: ``required`` and the manifest is missing or damaged; the bucket
            does not exist; the keys are refused.
        JobFailed: the endpoint does not answer, or fails.
    """
    key = location.key(MANIFEST_KEY)
    where = f"s3://{location.bucket}/{key}"

    def fetch() -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return client.get_object(Bucket=location.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise

    body = s3_call(fetch, action="reading the remote manifest", where=where, endpoint=_endpoint(client),
                   bucket=location.bucket)
    if body is None:
        if required:
            raise UsageError(f"{location} holds no stager manifest ({where}): it was never completely synced; "
                             "run `stager data sync` to it first")
        return None
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        manifest = Manifest.from_json(data, where=where)
        etags = data.get("etags") or {}
        if not isinstance(etags, dict):
            raise ValueError("etags is not an object")
        return RemoteIndex(manifest, {str(k): str(v) for k, v in etags.items()})
    except (ValueError, UsageError) as exc:
        if required:
            raise UsageError(f"{where}: the remote manifest is damaged ({' '.join(str(exc).split())}); "
                             "sync the dataset again") from None
        return None


def write_index(client, location: S3Location, index: RemoteIndex) -> None:
    """Write the remote manifest (one PUT: readers see the old one or the new one).

    Raises:
        UsageError: the keys are refused or read-only.
        JobFailed: the endpoint does not answer, or fails.
    """
    import hashlib

    body = index.dumps().encode()
    key = location.key(MANIFEST_KEY)
    s3_call(lambda: client.put_object(Bucket=location.bucket, Key=key, Body=body, ContentType="application/json",
                                      Metadata={SHA256_METADATA: hashlib.sha256(body).hexdigest()}),
            action="writing the remote manifest", where=f"s3://{location.bucket}/{key}",
            endpoint=_endpoint(client), bucket=location.bucket)


def head_sha256(client, location: S3Location, path: str) -> tuple[str | None, RemoteObject] | None:
    """The stored sha256 (None if the object carries none) and the object's size and ETag; None if it is gone.

    Raises:
        UsageError: the keys are refused.
        JobFailed: the endpoint does not answer, or fails.
    """
    key = location.key(path)

    def head():
        from botocore.exceptions import ClientError

        try:
            return client.head_object(Bucket=location.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise

    answer = s3_call(head, action="reading the stored hash of", where=f"s3://{location.bucket}/{key}",
                     endpoint=_endpoint(client), bucket=location.bucket)
    if answer is None:
        return None
    stored = (answer.get("Metadata") or {}).get(SHA256_METADATA)
    return stored, RemoteObject(int(answer["ContentLength"]), str(answer.get("ETag") or "").strip('"'))
