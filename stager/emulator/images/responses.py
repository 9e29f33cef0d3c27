"""Request handlers for /images and the upload URL."""

from __future__ import annotations

from stager.emulator.core.errors import ApiError
from stager.emulator.core.http import Request, Response

IMAGE_FILTERS = {"id", "label", "is_public", "status", "type", "vendor", "created", "tags", "deprecated"}


def list_images(ctx):
    items = ctx.backend.images.list_images()
    return ctx.page(items, IMAGE_FILTERS)


def get_image(ctx, imageId):
    return ctx.backend.images.get_image(imageId)


def create_image(ctx):
    body = ctx.body()
    return ctx.backend.images.create_image(body).to_api()


def upload_image(ctx):
    body = ctx.body()
    image, url = ctx.backend.images.upload_image(body, ctx.backend.public_url)
    return {"image": image.to_api(), "upload_to": url}


def update_image(ctx, imageId):
    body = ctx.body()
    return ctx.backend.images.update_image(imageId, body).to_api()


def delete_image(ctx, imageId):
    ctx.backend.images.delete_image(imageId)
    return {}


def receive_upload(backend, request: Request) -> Response:
    """``PUT /_upload/<n>/<token>``: the signed URL that ``POST /images/upload`` handed out."""
    parts = request.path.strip("/").split("/")
    if request.method != "PUT" or len(parts) != 3:
        return Response.json(405 if len(parts) == 3 else 404, {"errors": [{"reason": "PUT the image to this URL"}]})
    # The body is consumed here, or abandoned on error: either way the connection closes
    # after the answer rather than reading gigabytes the server no longer wants.
    request._body = b""
    try:
        backend.images.receive_upload(parts[1], parts[2], request.body_stream, request.content_length)
    except ApiError as exc:
        return Response.json(exc.status, exc.body(), {"Connection": "close"})
    return Response(200, b"", {"Connection": "close"})
