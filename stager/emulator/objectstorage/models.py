"""Object Storage on the Linode API side: clusters, endpoints, buckets and access keys.

Buckets live in ``self.store`` (a ``stager.emulator.s3.BucketStore`` under
``<state_dir>/s3``), shared with the emulator's S3 endpoint: a bucket made here
is there for boto3 and the other way round. Access keys are kept here, secrets
included (the S3 endpoint must keep honouring them after a restart), and the S3
endpoint asks :meth:`ObjectStorageService.grant` what a key may do.

One S3 endpoint serves every region: ``s3_endpoint`` is set by the server once
it listens and is rendered as is in ``s3_endpoint`` fields (Linode renders a
bare host there). Cluster domains are ``<cluster>.localhost`` (a name that
resolves to loopback), never Linode's real hosts: nothing the emulator hands
out may point a client at the real cloud. ``hostname`` fields are
``<bucket>.<host>`` as on Linode. Bucket names are unique across the whole
store, not per region as on Linode. As Linode does, creating a bucket that
already exists in the same region answers 200 with it.

Not emulated: ACLs and CORS (``acl`` and ``cors_enabled`` are validated, not
applied), ``/access``, ``/ssl``, ``/object-list``, ``/object-url``,
``/object-acl``, quotas, cancelling the service, and events for keys.
"""

from __future__ import annotations

import re
import secrets
import string
import threading
from dataclasses import asdict, dataclass, field

from stager.emulator import catalog
from stager.emulator.core.clock import format_stamp
from stager.emulator.core.errors import BadRequest, NotFound, field_error
from stager.emulator.core.service import Service

MAX_KEYS = 100
MAX_KEY_BUCKETS = 25
PERMISSIONS = ("read_only", "read_write")
ACLS = ("private", "public-read", "authenticated-read", "public-read-write")
ENDPOINT_TYPE = "E1"
REDACTED = "[REDACTED]"
_ACCESS_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
# The spec's bucket label pattern: 3-63 of [a-z0-9], '-' and '.' between alphanumerics.
_BUCKET = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*(?:[.][a-z0-9]+(?:-[a-z0-9]+)*)*$")
_IP_LIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


@dataclass
class AccessKey:
    id: int
    label: str
    access_key: str
    secret_key: str
    bucket_access: list[dict] | None  # [{bucket_name, region, permissions}]; None: an unlimited key
    regions: list[str] = field(default_factory=list)


def region_of(name: str | None) -> str | None:
    """The region id behind a region id or a cluster id (``us-east`` or ``us-east-1``), or None."""
    if not isinstance(name, str):
        return None
    for region in catalog.REGIONS:
        if name in (region.id, region.s3_cluster):
            return region.id
    return None


def cluster_of(region_id: str) -> str:
    region = catalog.region(region_id)
    return region.s3_cluster if region is not None else region_id


def _local_domain(region_id: str) -> str:
    """A region's cluster domain: Linode's shape (``us-east-1.<domain>``) under ``localhost``."""
    return f"{cluster_of(region_id)}.localhost"


class ObjectStorageService(Service):
    name = "object_storage"

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self.keys: dict[int, AccessKey] = {}
        # Every secret key handed out since this emulator started, deleted keys included (in memory only):
        # what a leak check searches logs and files for after the keys themselves are gone.
        self.issued_secrets: list[str] = []
        self.s3_endpoint: str | None = None  # set by the S3 server once it listens
        self._store = None
        self._store_lock = threading.Lock()

    @property
    def store(self):
        """The bucket store shared with the S3 endpoint (created on first use)."""
        with self._store_lock:
            if self._store is None:
                from stager.emulator.s3 import BucketStore

                self._store = BucketStore(self.backend.state_dir / "s3")
            return self._store

    # -- what the S3 endpoint uses ---------------------------------------------------

    def grant(self, access_key: str):
        """What ``access_key`` may do: ``Grant(secret_key, buckets)``, or None for an unknown key.

        ``buckets`` is None for an unlimited key, else bucket name -> ``read_only``/``read_write``.
        Called from the S3 server's threads; takes ``backend.lock``, so never call it while
        holding the store's lock (the API side takes them in the order backend, then store).
        """
        from stager.emulator.s3 import Grant

        with self.backend.lock:
            key = next((k for k in self.keys.values() if k.access_key == access_key), None)
            if key is None:
                return None
            buckets = None
            if key.bucket_access is not None:
                buckets = {a["bucket_name"]: a["permissions"] for a in key.bucket_access}
            return Grant(key.secret_key, buckets)

    # -- endpoints and clusters ----------------------------------------------------------

    def endpoint(self, region_id: str) -> str:
        """What ``s3_endpoint`` fields show for a region."""
        return self.s3_endpoint or _local_domain(region_id)

    def endpoint_host(self, region_id: str) -> str:
        """The endpoint without scheme or path, as Linode's hostnames are."""
        return self.endpoint(region_id).split("://", 1)[-1].split("/", 1)[0]

    def list_clusters(self) -> list[dict]:
        return [self._cluster(r.id) for r in catalog.REGIONS]

    def get_cluster(self, cluster_id: str) -> dict:
        region = next((r for r in catalog.REGIONS if r.s3_cluster == cluster_id), None)
        if region is None:
            raise NotFound()
        return self._cluster(region.id)

    def _cluster(self, region_id: str) -> dict:
        cluster = cluster_of(region_id)
        return {"id": cluster, "region": region_id, "status": "available", "domain": _local_domain(region_id),
                "static_site_domain": f"website-{cluster}.localhost"}

    def list_endpoints(self) -> list[dict]:
        return [{"region": r.id, "endpoint_type": ENDPOINT_TYPE, "s3_endpoint": self.endpoint(r.id)}
                for r in catalog.REGIONS]

    # -- buckets ------------------------------------------------------------------------

    def bucket_to_api(self, info) -> dict:
        region = region_of(info.region) or info.region
        return {"label": info.name, "region": region, "cluster": cluster_of(region),
                "created": format_stamp(info.created), "hostname": f"{info.name}.{self.endpoint_host(region)}",
                "objects": info.objects, "size": info.size, "endpoint_type": ENDPOINT_TYPE,
                "s3_endpoint": self.endpoint(region)}

    def list_buckets(self, region_or_cluster: str | None = None) -> list:
        buckets = self.store.list_buckets()
        if region_or_cluster is None:
            return buckets
        region = region_of(region_or_cluster)
        if region is None:
            raise NotFound()
        return [b for b in buckets if (region_of(b.region) or b.region) == region]

    def get_bucket(self, region_or_cluster: str, name: str):
        region = region_of(region_or_cluster)
        info = self.store.get_bucket(name) if region is not None else None
        if info is None or (region_of(info.region) or info.region) != region:
            raise NotFound()
        return info

    def create_bucket(self, body: dict):
        from stager.emulator.s3.errors import BucketError

        label = body.get("label")
        if not label:
            raise field_error("label", "label is required")
        if not isinstance(label, str) or not _BUCKET.match(label) or _IP_LIKE.match(label):
            raise field_error("label", "Bucket labels must be 3-63 characters of lowercase letters, numbers, "
                              "dashes and dots, start and end with a letter or number, and not look like "
                              "an IP address")
        region = self._request_region(body, "region", "cluster")
        acl = body.get("acl")
        if acl is not None and acl not in ACLS:
            raise field_error("acl", f"acl must be one of {', '.join(ACLS)}")
        if body.get("cors_enabled") is not None and not isinstance(body["cors_enabled"], bool):
            raise field_error("cors_enabled", "cors_enabled must be true or false")
        existing = self.store.get_bucket(label)
        if existing is not None:
            if (region_of(existing.region) or existing.region) == region:
                return existing  # Linode: your own bucket, as if just created
            raise field_error("label", f"A bucket named {label} already exists (in {existing.region}); "
                              "bucket names are unique across regions here")
        try:
            return self.store.create_bucket(label, region)
        except BucketError as exc:
            raise field_error("label", f"Cannot create bucket {label}: {exc.message}") from None

    def delete_bucket(self, region_or_cluster: str, name: str) -> None:
        from stager.emulator.s3.errors import BucketError

        info = self.get_bucket(region_or_cluster, name)
        try:
            self.store.delete_bucket(info.name)
        except BucketError as exc:
            if exc.code == "BucketNotEmpty":
                raise BadRequest(f"Bucket {name} is not empty: delete its objects first "
                                 "(for example `aws s3 rm --recursive s3://" + name + "`)") from None
            if exc.code == "NoSuchBucket":
                raise NotFound() from None
            raise BadRequest(f"Cannot delete bucket {name}: {exc.message}") from None

    # -- keys ---------------------------------------------------------------------------

    def key_to_api(self, key: AccessKey, *, reveal: bool = False) -> dict:
        access = []  # the spec types this as an array: an unlimited key lists no buckets
        if key.bucket_access is not None:
            access = [{"bucket_name": a["bucket_name"], "region": a["region"], "cluster": cluster_of(a["region"]),
                       "permissions": a["permissions"]} for a in key.bucket_access]
        return {"id": key.id, "label": key.label, "access_key": key.access_key,
                "secret_key": key.secret_key if reveal else REDACTED,
                "limited": key.bucket_access is not None, "bucket_access": access,
                "regions": [{"id": r, "s3_endpoint": self.endpoint(r), "endpoint_type": ENDPOINT_TYPE}
                            for r in key.regions]}

    def list_keys(self) -> list[AccessKey]:
        return list(self.keys.values())

    def get_key(self, key_id: int) -> AccessKey:
        key = self.keys.get(key_id)
        if key is None:
            raise NotFound()
        return key

    def create_key(self, body: dict) -> AccessKey:
        label = self._check_key_label(body.get("label", ""))
        if len(self.keys) >= MAX_KEYS:
            raise BadRequest(f"An account may have at most {MAX_KEYS} Object Storage keys; delete one first")
        access = self._check_bucket_access(body.get("bucket_access"))
        regions = self._check_regions(body.get("regions"))
        if access is not None:
            regions = list(dict.fromkeys([*regions, *(a["region"] for a in access)]))
        elif not regions:
            regions = [r.id for r in catalog.REGIONS]
        taken = {k.access_key for k in self.keys.values()}
        access_key = _new_access_key()
        while access_key in taken:
            access_key = _new_access_key()
        key = AccessKey(self.backend.next_id("object_storage_key"), label, access_key,
                        "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)), access, regions)
        self.keys[key.id] = key
        self.issued_secrets.append(key.secret_key)
        return key

    def update_key(self, key_id: int, body: dict) -> AccessKey:
        key = self.get_key(key_id)
        label = self._check_key_label(body["label"]) if "label" in body else key.label
        regions = key.regions
        if body.get("regions") is not None:
            regions = self._check_regions(body["regions"])
            if key.bucket_access is not None:
                regions = list(dict.fromkeys([*regions, *(a["region"] for a in key.bucket_access)]))
            if not regions:
                raise field_error("regions", "A key needs at least one region")
        key.label, key.regions = label, regions
        return key

    def delete_key(self, key_id: int) -> None:
        self.get_key(key_id)
        del self.keys[key_id]

    # -- helpers ----------------------------------------------------------------------------

    def _request_region(self, body: dict, *names: str) -> str:
        """The region a request names by ``region`` (or the deprecated ``cluster``)."""
        for name in names:
            value = body.get(name)
            if value is not None:
                region = region_of(value)
                if region is None:
                    raise field_error(name, f"{value} is not a region with Object Storage")
                return region
        raise field_error(names[0], f"{names[0]} is required")

    @staticmethod
    def _check_key_label(label) -> str:
        if label is None:
            return ""
        if not isinstance(label, str) or len(label) > 50:
            raise field_error("label", "label must be a string of at most 50 characters")
        return label

    def _check_bucket_access(self, access) -> list[dict] | None:
        if access is None:
            return None
        if not isinstance(access, list):
            raise field_error("bucket_access", "bucket_access must be a list of {bucket_name, region, permissions}")
        if len(access) > MAX_KEY_BUCKETS:
            raise field_error("bucket_access", f"A limited key may name at most {MAX_KEY_BUCKETS} buckets")
        checked, seen = [], set()
        for i, entry in enumerate(access):
            where = f"bucket_access[{i}]"
            if not isinstance(entry, dict):
                raise field_error(where, "Each entry must be {bucket_name, region, permissions}")
            if entry.get("permissions") not in PERMISSIONS:
                raise field_error(f"{where}.permissions", "permissions must be read_only or read_write")
            name = entry.get("bucket_name")
            region = self._request_region(entry, "region", "cluster") if (
                entry.get("region") is not None or entry.get("cluster") is not None) else None
            if region is None:
                raise field_error(f"{where}.region", "region is required")
            info = self.store.get_bucket(name) if isinstance(name, str) and name else None
            if info is None or (region_of(info.region) or info.region) != region:
                raise field_error(f"{where}.bucket_name", f"Bucket {name} does not exist in {region}")
            if name in seen:
                raise field_error(f"{where}.bucket_name", f"Bucket {name} is named twice")
            seen.add(name)
            checked.append({"bucket_name": name, "region": region, "permissions": entry["permissions"]})
        return checked

    @staticmethod
    def _check_regions(regions) -> list[str]:
        if regions is None:
            return []
        if not isinstance(regions, list):
            raise field_error("regions", "regions must be a list of region ids")
        checked = []
        for value in regions:
            region = region_of(value)
            if region is None:
                raise field_error("regions", f"{value} is not a region with Object Storage")
            checked.append(region)
        return list(dict.fromkeys(checked))

    # -- service plumbing -------------------------------------------------------------------

    def to_state(self) -> dict:
        return {"keys": [asdict(k) for k in self.keys.values()]}

    def load(self, state: dict) -> None:
        self.keys = {row["id"]: AccessKey(**row) for row in state.get("keys", [])}

    def reset(self) -> None:
        """Keys go; buckets are the store's (``Emulator.reset`` empties it)."""
        self.keys.clear()


def _new_access_key() -> str:
    return "".join(secrets.choice(_ACCESS_ALPHABET) for _ in range(20))


def object_storage_types() -> list[dict]:
    """What ``GET /object-storage/types`` lists: Linode's flat monthly price and 1 TB of transfer."""
    return [{"id": "objectstorage", "label": "Object Storage", "price": {"hourly": 0.0075, "monthly": 5.0},
             "region_prices": [], "transfer": 1000}]
