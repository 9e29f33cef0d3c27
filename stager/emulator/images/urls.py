"""URL table for images."""

from stager.emulator.core.routing import Route
from stager.emulator.images import responses as r

ROUTES = [
    Route("GET", "/images", r.list_images, "images"),
    Route("POST", "/images", r.create_image, "images"),
    Route("POST", "/images/upload", r.upload_image, "images"),
    Route("GET", "/images/{imageId}", r.get_image, "images"),
    Route("PUT", "/images/{imageId}", r.update_image, "images"),
    Route("DELETE", "/images/{imageId}", r.delete_image, "images"),
]
