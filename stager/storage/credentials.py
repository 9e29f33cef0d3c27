"""Which S3 endpoint and keys a sync or a pull uses.

- ``endpoint_url`` given (any S3-compatible store): that endpoint, with the keys
  from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, else from
  ``$STAGER_HOME/credentials.yaml``; the signing region from ``AWS_REGION`` or
  ``AWS_DEFAULT_REGION`` (default ``us-east-1``).
- target ``linode``: the endpoint of the bucket's region, looked up through the
  Linode API (``LINODE_TOKEN``); keys as above.
- target ``local``: the local emulator's S3 endpoint. Keys from the environment
  when given; otherwise stager makes an Object Storage key through the
  emulator's API and caches it (mode 0600) under ``$STAGER_HOME``, making a new
  one when the emulator no longer knows it.

``credentials.yaml`` (mode 0600; stager refuses a file others can read)::

    object_storage:
      access_key: AKIA...
      secret_key: ...

Keys never appear in reprs, messages or process arguments. Not supported:
AWS profiles, session tokens, instance roles, and per-bucket keys in the file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from stager.errors import UsageError
from stager.home import stager_home
from stager.storage.s3 import S3Location, S3Settings

__all__ = ["CREDENTIALS_FILE", "LOCAL_KEY_FILE", "bucket_endpoint", "resolve_settings"]

CREDENTIALS_FILE = "credentials.yaml"
LOCAL_KEY_FILE = "local-object-storage-key.json"  # the emulator key stager made, by emulator state directory
LOCAL_KEY_LABEL = "stager-data"
LOCAL_REGION = "us-east-1"  # the emulator accepts any signing region
KEY_HELP = ("create an Object Storage access key (Cloud Manager > Object Storage > Access Keys) and export "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them to $STAGER_HOME/credentials.yaml "
            "(object_storage: {access_key, secret_key}, mode 0600)")


def _nothing() -> None:
    return None


def resolve_settings(target: str, location: S3Location, *, endpoint_url: str | None = None,
                     home: Path | None = None, state_dir: Path | None = None) -> tuple[S3Settings, Callable[[], None]]:
    """The S3 settings for ``location`` on ``target``, and a closer to call when done with them.

    The closer stops the in-process emulator a ``local`` target may have
    started; for the others it does nothing. ``state_dir`` is the local
    emulator's (default ``$STAGER_HOME/emulator``).

    Raises:
        UsageError: an unknown target; a malformed ``endpoint_url``; no keys; only
            one of the two key variables set; a credentials file others can read
            or that is malformed; the bucket is not in the Linode account.
        CredentialsError: ``linode`` without a usable ``LINODE_TOKEN``.
        CloudError: the Linode API (or the emulator's) failed.
    """
    home = Path(home) if home is not None else stager_home()
    if endpoint_url:
        _check_endpoint(endpoint_url)
        keys = _keys_from_env() or _keys_from_file(home)
        if keys is None:
            raise UsageError(f"no Object Storage keys for {endpoint_url}: {KEY_HELP}")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return S3Settings(endpoint_url, region, *keys), _nothing
    if target == "local":
        return _local(home, state_dir)
    if target == "linode":
        keys = _keys_from_env() or _keys_from_file(home)
        if keys is None:
            raise UsageError(f"no Object Storage keys for target linode: {KEY_HELP}")
        from stager.cloud import open_target

        with open_target("linode") as cloud_target:
            endpoint, region = bucket_endpoint(cloud_target.cloud, location.bucket)
        return S3Settings(endpoint, region, *keys), _nothing
    raise UsageError(f"unknown target {target!r}; valid targets: local, linode (or give --endpoint-url)")


def _check_endpoint(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{url!r} is not an endpoint URL: expected https://host[:port] "
                         "(e.g. https://us-east-1.linodeobjects.com)")


def _keys_from_env() -> tuple[str, str] | None:
    """Both key variables, or None when neither is set.

    Raises:
        UsageError: only one of them is set.
    """
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID", ""), os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if access and secret:
        return access, secret
    if access or secret:
        missing = "AWS_SECRET_ACCESS_KEY" if access else "AWS_ACCESS_KEY_ID"
        raise UsageError(f"{missing} is not set while its pair is: set both, or neither")
    return None


def _keys_from_file(home: Path) -> tuple[str, str] | None:
    """The keys in ``home/credentials.yaml``; None when there is no such file.

    Raises:
        UsageError: the file is readable by others, unreadable, or not the expected shape
            (its contents are never quoted back).
    """
    import yaml

    path = home / CREDENTIALS_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(f"{path} holds secrets but others may read it (mode {stat.S_IMODE(st.st_mode):o}): "
                         f"run `chmod 600 {path}`")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{path}{line}: not valid YAML") from None
    section = data.get("object_storage") if isinstance(data, dict) else None
    if not isinstance(section, dict) or not all(isinstance(section.get(k), str) and section.get(k)
                                                for k in ("access_key", "secret_key")):
        raise UsageError(f"{path}: expected `object_storage: {{access_key: ..., secret_key: ...}}`")
    return section["access_key"], section["secret_key"]


LINODE_OBJECTS_DOMAIN = "linodeobjects.com"  # Object Storage hosts are <cluster>.<this>


def bucket_endpoint(cloud, bucket: str) -> tuple[str, str]:
    """The S3 endpoint URL and signing region of ``bucket``, from the Linode API; ``cloud`` is a ``LinodeCloud``.

    Linode gives ``s3_endpoint`` as a bare host (``us-east-1.linodeobjects.com``),
    served over HTTPS; an emulator gives a full URL, used as is.

    Raises:
        UsageError: no bucket of that name in the account.
        CloudError, CredentialsError: the API call failed.
    """
    client = _api_client(cloud)
    buckets = cloud.call("listing Object Storage buckets", lambda: list(client.object_storage.buckets()))
    found = next((b for b in buckets if b.label == bucket), None)
    if found is None:
        raise UsageError(f"bucket {bucket} is not in this Linode account: create it (Cloud Manager > Object "
                         "Storage, or `linode-cli obj mb`) or check the name")
    cluster = getattr(found, "cluster", None) or ""
    host = getattr(found, "s3_endpoint", None) or (f"{cluster}.{LINODE_OBJECTS_DOMAIN}" if cluster else "")
    if not host:
        raise UsageError(f"bucket {bucket}: Linode gave no endpoint for it; pass --endpoint-url")
    if "://" in host:
        return host, cluster or LOCAL_REGION
    return f"https://{host}", host.split(".")[0]  # Linode signs with the endpoint's own name: us-east-1, us-iad-10


def _api_client(cloud):
    """The linode_api4 client behind a ``LinodeCloud``."""
    return cloud.api


# -- the local target ----------------------------------------------------------------------------


def _local(home: Path, state_dir: Path | None) -> tuple[S3Settings, Callable[[], None]]:
    from stager.cloud import open_target

    cloud_target = open_target("local", state_dir=state_dir)
    try:
        keys = _keys_from_env()
        if keys is None:
            from stager.emulator.local import default_state_dir

            keys = _local_key(cloud_target.cloud, home, Path(state_dir or default_state_dir()))
        return S3Settings(cloud_target.s3_endpoint, LOCAL_REGION, *keys), cloud_target.close
    except BaseException:
        cloud_target.close()
        raise


def _local_key(cloud, home: Path, state_dir: Path) -> tuple[str, str]:
    """The cached emulator key for ``state_dir`` if the emulator still knows it, else a new one (cached)."""
    client = _api_client(cloud)
    path = home / LOCAL_KEY_FILE
    cache = _read_key_cache(path)
    slot = str(state_dir.resolve())
    cached = cache.get(slot)
    if isinstance(cached, dict):
        known = cloud.call("listing Object Storage keys", lambda: list(client.object_storage.keys()))
        if any(k.id == cached.get("id") and k.access_key == cached.get("access_key") for k in known):
            return cached["access_key"], cached["secret_key"]
    key = cloud.call("creating an Object Storage key", lambda: client.object_storage.keys_create(LOCAL_KEY_LABEL),
                     repeatable=False)
    cache[slot] = {"id": key.id, "access_key": key.access_key, "secret_key": key.secret_key}
    _write_private(path, json.dumps(cache, indent=1) + "\n")
    return key.access_key, key.secret_key


def _read_key_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # absent or damaged: a new key is made and the cache rewritten
    return data if isinstance(data, dict) else {}


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only (never briefly by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temp, path)
