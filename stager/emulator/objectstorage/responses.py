"""Request handlers for /object-storage: parse, call the service, render.

The bucket store is thread-safe on its own: the S3 endpoint works on it at the
same time as these handlers, which run under the backend's lock like every other.
"""

from __future__ import annotations

from stager.emulator.objectstorage.models import object_storage_types

BUCKET_FILTERS = {"label", "region", "cluster", "created", "objects", "size"}
KEY_FILTERS = {"id", "label", "access_key", "limited"}
CLUSTER_FILTERS = {"id", "region", "status", "domain"}


def list_clusters(ctx):
    return ctx.page(ctx.backend.object_storage.list_clusters(), CLUSTER_FILTERS)


def get_cluster(ctx, clusterId):
    return ctx.backend.object_storage.get_cluster(clusterId)


def list_endpoints(ctx):
    return ctx.page(ctx.backend.object_storage.list_endpoints(), {"region", "endpoint_type", "s3_endpoint"})


def list_types(ctx):
    return ctx.page(object_storage_types())


def get_transfer(ctx):
    return {"used": 0}


def list_buckets(ctx):
    service = ctx.backend.object_storage
    return ctx.page([service.bucket_to_api(b) for b in service.list_buckets()], BUCKET_FILTERS)


def list_region_buckets(ctx, regionId):
    service = ctx.backend.object_storage
    return ctx.page([service.bucket_to_api(b) for b in service.list_buckets(regionId)], BUCKET_FILTERS)


def create_bucket(ctx):
    service = ctx.backend.object_storage
    return service.bucket_to_api(service.create_bucket(ctx.body()))


def get_bucket(ctx, regionId, bucket):
    service = ctx.backend.object_storage
    return service.bucket_to_api(service.get_bucket(regionId, bucket))


def delete_bucket(ctx, regionId, bucket):
    ctx.backend.object_storage.delete_bucket(regionId, bucket)
    return {}


def list_keys(ctx):
    service = ctx.backend.object_storage
    items = [service.key_to_api(k) for k in service.list_keys()]
    return ctx.page(items, KEY_FILTERS)


def create_key(ctx):
    body = ctx.body()
    service = ctx.backend.object_storage
    return service.key_to_api(service.create_key(body), reveal=True)


def get_key(ctx, keyId):
    service = ctx.backend.object_storage
    return service.key_to_api(service.get_key(keyId))


def update_key(ctx, keyId):
    body = ctx.body()
    service = ctx.backend.object_storage
    return service.key_to_api(service.update_key(keyId, body))


def delete_key(ctx, keyId):
    ctx.backend.object_storage.delete_key(keyId)
    return {}
