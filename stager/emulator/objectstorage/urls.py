"""URL table for Object Storage: clusters, endpoints, buckets and keys.

``{regionId}`` in bucket paths takes a region id or a cluster id, as Linode's does.
"""

from stager.emulator.core.routing import Route
from stager.emulator.objectstorage import responses as r

_SCOPE = "object_storage"

ROUTES = [
    Route("GET", "/object-storage/clusters", r.list_clusters, _SCOPE),
    Route("GET", "/object-storage/clusters/{clusterId}", r.get_cluster, _SCOPE),
    Route("GET", "/object-storage/endpoints", r.list_endpoints, _SCOPE),
    Route("GET", "/object-storage/types", r.list_types, ""),
    Route("GET", "/object-storage/transfer", r.get_transfer, _SCOPE),
    Route("GET", "/object-storage/buckets", r.list_buckets, _SCOPE),
    Route("POST", "/object-storage/buckets", r.create_bucket, _SCOPE),
    Route("GET", "/object-storage/buckets/{regionId}", r.list_region_buckets, _SCOPE),
    Route("GET", "/object-storage/buckets/{regionId}/{bucket}", r.get_bucket, _SCOPE),
    Route("DELETE", "/object-storage/buckets/{regionId}/{bucket}", r.delete_bucket, _SCOPE),
    Route("GET", "/object-storage/keys", r.list_keys, _SCOPE),
    Route("POST", "/object-storage/keys", r.create_key, _SCOPE),
    Route("GET", "/object-storage/keys/{keyId}", r.get_key, _SCOPE),
    Route("PUT", "/object-storage/keys/{keyId}", r.update_key, _SCOPE),
    Route("DELETE", "/object-storage/keys/{keyId}", r.delete_key, _SCOPE),
]
