"""Images: the public distributions, and private images captured or uploaded.

A private image is a copy of a sandbox's filesystem, taken from one of its disks
(``POST /images`` with ``disk_id``) or restored from an uploaded gzip'd archive
(``POST /images/upload`` then a PUT to ``upload_to``). Linode's limits hold:
6 GB per custom image, 25 custom images and 150 GB in all per account,
5 GB compressed for an upload.

Not emulated: replication to other regions, image sharing, cloud-init
capability flags beyond what is stored.
"""

from __future__ import annotations

import math
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stager.emulator import catalog
from stager.emulator.core.errors import (
    ApiError,
    BadRequest,
    NotFound,
    field_error,
    require,
)
from stager.emulator.core.service import Service, check_tags

MB = 1024 * 1024
MAX_IMAGE_MB = 6 * 1024
MAX_IMAGES = 25
MAX_TOTAL_MB = 150 * 1024
MAX_UPLOAD_COMPRESSED = 5 * 1024 * MB
MAX_UPLOAD_UNCOMPRESSED = MAX_IMAGE_MB * MB


@dataclass
class Image:
    id: str  # private/N
    label: str
    description: str | None
    status: str  # creating | pending_upload | available
    created: str
    updated: str
    region: str | None
    size: int = 0  # MB, measured
    tags: list[str] = field(default_factory=list)
    cloud_init: bool = False
    upload_token: str | None = None  # secret part of upload_to, until the upload arrives

    def entity(self) -> dict:
        return {"id": self.id, "label": self.label, "type": "image", "url": f"/v4/images/{self.id}"}

    def to_api(self) -> dict:
        return {
            "id": self.id, "label": self.label, "description": self.description, "status": self.status,
            "created": self.created, "updated": self.updated, "created_by": "stager", "deprecated": False,
            "is_public": False, "size": self.size, "total_size": self.size, "type": "manual", "vendor": None,
            "expiry": None, "eol": None, "tags": list(self.tags),
            "capabilities": ["cloud-init"] if self.cloud_init else [],
            "regions": [{"region": self.region, "status": "available" if self.status == "available" else "pending"}]
            if self.region else [],
        }


def public_image_api(image_id: str, label: str) -> dict:
    vendor = label.split()[0]
    return {
        "id": image_id, "label": label, "description": None, "status": "available", "created": "2024-04-25T00:00:00",
        "updated": "2024-04-25T00:00:00", "created_by": "linode", "deprecated": False, "is_public": True,
        "size": 2500, "total_size": 2500, "type": "manual", "vendor": vendor, "expiry": None, "eol": None,
        "tags": [], "capabilities": ["cloud-init"], "regions": [],
    }


class ImageService(Service):
    name = "images"

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self.images: dict[str, Image] = {}

    def disk_dir(self, image_id: str) -> Path:
        return self.backend.state_dir / "images" / image_id.split("/", 1)[1] / "disk"

    # -- verbs ------------------------------------------------------------------

    def list_images(self) -> list[dict]:
        public = [public_image_api(i, label) for i, label in catalog.PUBLIC_IMAGES.items()]
        return public + [i.to_api() for i in self.images.values()]

    def get_image(self, image_id: str) -> dict:
        if image_id in catalog.PUBLIC_IMAGES:
            return public_image_api(image_id, catalog.PUBLIC_IMAGES[image_id])
        return self._private(image_id).to_api()

    def usable_image(self, image_id) -> None:
        """An instance can be created from this image, or 400 naming ``image``."""
        if image_id in catalog.PUBLIC_IMAGES:
            return
        image = self.images.get(image_id) if isinstance(image_id, str) else None
        if image is None:
            raise field_error("image", f"Image {image_id} does not exist")
        if image.status != "available":
            raise field_error("image", f"Image {image_id} is {image.status}, not available yet")

    def create_image(self, body: dict) -> Image:
        """Capture an instance's disk. The copy is taken when the event runs, as Linode images a live disk."""
        backend = self.backend
        disk_id = require(body, "disk_id")
        instance, disk = backend.instances.find_disk(disk_id)
        if disk.filesystem == "swap":
            raise field_error("disk_id", "A swap disk cannot be imaged")
        self._check_quota()
        from stager.emulator.sandbox import measure_disk

        size_mb = math.ceil(measure_disk(backend.instances.root(instance.id)) / MB)
        if size_mb > MAX_IMAGE_MB:
            raise field_error("disk_id", f"The disk holds {size_mb} MB; custom images are limited to "
                              f"{MAX_IMAGE_MB} MB: remove files before capturing")
        image = self._new(body, instance.region, "creating")
        event = backend.events.record("disk_imagize", instance.entity(), "started", secondary=image.entity())
        root = backend.instances.root(instance.id)
        backend.scheduler.after(backend.faults.capture_s, lambda: self._capture(image, root, event))
        return image

    def upload_image(self, body: dict, public_url: str) -> tuple[Image, str]:
        region = require(body, "region")
        if catalog.region(region) is None:
            raise field_error("region", f"Region {region} does not exist")
        self._check_quota()
        image = self._new(body, region, "pending_upload")
        image.upload_token = secrets.token_urlsafe(24)
        return image, f"{public_url}/_upload/{image.id.split('/')[1]}/{image.upload_token}"

    def receive_upload(self, number: str, token: str, stream, length: int) -> None:
        """The PUT to ``upload_to``: a gzip'd raw disk (a tar inside is unpacked as the filesystem)."""
        from stager.emulator.sandbox import restore_disk_from_archive

        with self.backend.lock:
            image = self.images.get(f"private/{number}")
            if image is None or image.upload_token is None or not secrets.compare_digest(image.upload_token, token):
                raise NotFound()
            image.upload_token = None  # one upload per URL
        if length > MAX_UPLOAD_COMPRESSED:
            self._fail_upload(image, f"upload is {length} bytes; at most {MAX_UPLOAD_COMPRESSED} compressed")
            raise ApiError("Image upload too large (5 GB compressed at most)", status=413)
        target = self.disk_dir(image.id)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        try:
            size = restore_disk_from_archive(_Limited(stream, length), target, max_uncompressed=MAX_UPLOAD_UNCOMPRESSED)
        except (ValueError, OSError, EOFError) as exc:
            self._fail_upload(image, str(exc))
            raise BadRequest(f"Image upload rejected: {exc}") from None
        with self.backend.lock:
            image.size = max(1, math.ceil(size / MB))
            image.status = "available"
            image.updated = self.backend.clock.stamp()
            self.backend.events.record("image_upload", image.entity(), "finished")
            self.backend.persist()

    def update_image(self, image_id: str, body: dict) -> Image:
        image = self._private(image_id)
        if "label" in body:
            image.label = require(body, "label")
        if "description" in body:
            image.description = body["description"]
        if "tags" in body:
            image.tags = check_tags(body["tags"])
        image.updated = self.backend.clock.stamp()
        return image

    def delete_image(self, image_id: str) -> None:
        image = self._private(image_id)
        del self.images[image_id]
        shutil.rmtree(self.disk_dir(image_id).parent, ignore_errors=True)
        self.backend.events.record("image_delete", image.entity(), "notification")

    # -- internals ----------------------------------------------------------------

    def _private(self, image_id: str) -> Image:
        image = self.images.get(image_id)
        if image is None:
            raise NotFound()
        return image

    def _check_quota(self) -> None:
        if len(self.images) >= MAX_IMAGES:
            raise BadRequest(f"You have reached the limit of {MAX_IMAGES} custom images; delete one first")
        if sum(i.size for i in self.images.values()) >= MAX_TOTAL_MB:
            raise BadRequest("Custom images use the account's 150 GB; delete one first")

    def _new(self, body: dict, region: str | None, status: str) -> Image:
        stamp = self.backend.clock.stamp()
        image = Image(id=f"private/{self.backend.next_id('image')}", label=body.get("label") or "",
                      description=body.get("description"), status=status, created=stamp, updated=stamp,
                      region=region, tags=check_tags(body.get("tags")), cloud_init=bool(body.get("cloud_init")))
        if not image.label:
            image.label = image.id.replace("/", "-")
        self.images[image.id] = image
        return image

    def _capture(self, image: Image, root: Path, event) -> None:
        from stager.emulator.sandbox import capture_disk

        backend = self.backend
        if backend.faults.take_capture_failure():
            with backend.lock:
                self.images.pop(image.id, None)
                backend.events.finish(event, failed=True, message="Injected fault: the image capture failed")
                backend.persist()
            return
        target = self.disk_dir(image.id)
        shutil.rmtree(target, ignore_errors=True)
        try:
            size = capture_disk(root, target)
        except OSError as exc:  # the instance was deleted under the capture
            with backend.lock:
                self.images.pop(image.id, None)
                backend.events.finish(event, failed=True, message=f"capture failed: {exc}")
                backend.persist()
            return
        with backend.lock:
            if image.id not in self.images:  # deleted while capturing
                shutil.rmtree(target.parent, ignore_errors=True)
                return
            image.size = max(1, math.ceil(size / MB))
            image.status = "available"
            image.updated = backend.clock.stamp()
            backend.events.finish(event)
            backend.persist()

    def _fail_upload(self, image: Image, message: str) -> None:
        with self.backend.lock:
            self.images.pop(image.id, None)
            shutil.rmtree(self.disk_dir(image.id).parent, ignore_errors=True)
            self.backend.events.record("image_upload", image.entity(), "failed", message=message)
            self.backend.persist()

    # -- service plumbing --------------------------------------------------------------

    def to_state(self) -> dict:
        return {"images": [asdict(i) for i in self.images.values()]}

    def load(self, state: dict) -> None:
        self.images = {row["id"]: Image(**row) for row in state.get("images", [])}

    def resume(self) -> None:
        # A capture cut short by a restart never finished: Linode would fail it too.
        for image in list(self.images.values()):
            if image.status == "creating":
                del self.images[image.id]

    def reset(self) -> None:
        self.images.clear()
        shutil.rmtree(self.backend.state_dir / "images", ignore_errors=True)


class _Limited:
    """A request body stream that stops at Content-Length, so the next request on the connection stays intact."""

    def __init__(self, stream, length: int) -> None:
        self._stream = stream
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(size)
        self._left -= len(data)
        return data
