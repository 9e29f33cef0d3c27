"""Private images: capture from an instance's disk, upload a gzip'd disk, wait, list, delete.

Linode limits custom images to 6 GB each and 25 per account, and uploads to
5 GB compressed; the callers (the image builder) check sizes before they get
here, and Linode's own refusal still arrives as a CloudError naming the limit.
Not supported: replicating images to other regions, sharing images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from linode_api4 import Image, Instance

from stager.cloud.api import ApiSession
from stager.cloud.convert import image_info, raw_json
from stager.cloud.errors import CloudError
from stager.cloud.types import ImageInfo
from stager.cloud.upload import put_file

_IMAGE_EVENTS = ("disk_imagize", "image_upload")


class ImageOps(ApiSession):
    """Image verbs of ``LinodeCloud``."""

    def capture_image(self, instance_id: int, *, label: str, description: str, tags: tuple[str, ...],
                      cloud_init: bool = True) -> ImageInfo:
        """Start capturing the instance's largest non-swap disk as a private image (status "creating").

        Shut the instance down first: Linode images a live disk as it is.
        ``cloud_init`` marks the image as able to read metadata user data, which
        stager uses to pin host keys. Not idempotent: image labels need not be
        unique, so a capture whose answer was lost and that linode_api4 retried can
        leave a second image; its tags let ``stager image prune`` find it.

        Raises:
            CloudError: the instance has no disk to capture, or Linode refused the
                capture (e.g. the disk is over the 6 GB custom image limit, or the
                account has 25 images already).
        """
        disks = self.call(f"reading the disks of instance {instance_id}",
                          lambda: [raw_json(d) for d in Instance(self._client, instance_id).disks])
        candidates = [d for d in disks if d.get("filesystem") != "swap"]
        if not candidates:
            raise CloudError(f"capturing image {label} failed: instance {instance_id} has no disk to capture")
        disk = max(candidates, key=lambda d: d.get("size") or 0)
        return self.call(
            f"capturing image {label} from disk {disk['id']} of instance {instance_id}",
            lambda: image_info(self._client.images.create(disk["id"], label=label, description=description,
                                                          tags=list(tags), cloud_init=cloud_init)),
            repeatable=False)

    def wait_image(self, image_id: str, *, timeout: float) -> ImageInfo:
        """Poll until the image is available; return it then.

        Raises:
            CloudTimeout: ``timeout`` seconds passed (the message has the last status).
            CloudError: the capture or upload failed (the image disappeared or its
                event failed); the message has Linode's reason when it gave one.
        """
        last: list[str] = []

        def check() -> ImageInfo | None:
            info = self.get_image(image_id)
            if info is None:
                raise CloudError(self._why_gone(image_id))
            last[:] = [info.status]
            return info if info.status == "available" else None

        return self.wait(check, timeout=timeout, what=f"image {image_id} to be available",
                         describe_last=lambda: last[0] if last else "nothing")

    def _why_gone(self, image_id: str) -> str:
        events = self.events({"+or": [{"action": a} for a in _IMAGE_EVENTS]}, about=f"image {image_id}")
        for event in events:
            involved = [event.get("entity") or {}, event.get("secondary_entity") or {}]
            if any(str(e.get("id")) == image_id for e in involved) and event.get("status") == "failed":
                why = " ".join(str(event.get("message") or "no reason given").split())
                kind = "capturing" if event.get("action") == "disk_imagize" else "uploading"
                return f"{kind} image {image_id} failed: {why}"
        return f"image {image_id} disappeared before it was available (deleted, or its capture failed)"

    def get_image(self, image_id: str) -> ImageInfo | None:
        """The image, or None when there is no such image (404).

        Raises:
            CloudError: the API call failed for another reason.
        """
        return self.call(f"reading image {image_id}", lambda: image_info(self._client.load(Image, image_id)),
                         missing=lambda: None)

    def list_images(self, *, tag: str | None = None, private_only: bool = True) -> list[ImageInfo]:
        """The account's private images (all images with ``private_only=False``), optionally only those tagged ``tag``.

        Raises:
            CloudError: the API call failed.
        """
        def fetch() -> list[ImageInfo]:
            filters = (Image.is_public == False,) if private_only else ()  # builds an X-Filter, not a comparison
            found = [image_info(i) for i in self._client.images(*filters)]
            return [i for i in found if (not private_only or not i.is_public) and (tag is None or tag in i.tags)]

        return self.call("listing images", fetch)

    def delete_image(self, image_id: str) -> bool:
        """Delete a private image; True when deleted now, False when it was already gone (404).

        Raises:
            CloudError: the delete failed (after retries for 5xx and 429).
        """
        def delete() -> bool:
            Image(self._client, image_id).delete()
            return True

        return self.call(f"deleting image {image_id}", delete, missing=lambda: False)

    def upload_image(self, path: Path, *, label: str, region: str, description: str, tags: tuple[str, ...],
                     progress: Callable[[int, int], None] | None = None, cloud_init: bool = True) -> ImageInfo:
        """Upload a gzip'd raw disk image as a private image: ``POST /images/upload``, then a streamed PUT.

        The file is streamed from disk, never read into memory; ``progress(sent,
        total)`` is called as bytes go out. Format and size checks (gzip, 5 GB
        compressed, 6 GB uncompressed) are the caller's. The returned image may
        still be "pending_upload" or "creating": use ``wait_image``. When the PUT
        fails, the half-made image is deleted. The upload URL is a credential and is
        never shown.

        Raises:
            CloudError: the upload could not be created, or the PUT failed.
            OSError: ``path`` cannot be read.
        """
        path = Path(path)
        size = path.stat().st_size
        created = self.call(f"creating an upload for image {label}",
                            lambda: self._client.images.create_upload(label, region, description=description,
                                                                      tags=list(tags), cloud_init=cloud_init),
                            repeatable=False)
        image, upload_to = created
        image_id = image_info(image).id
        try:
            put_file(upload_to, path, size, what=f"uploading {path.name} to image {image_id}", progress=progress)
        except BaseException:
            self._forget_upload(image_id)
            raise
        return self.get_image(image_id) or image_info(image)

    def _forget_upload(self, image_id: str) -> None:
        try:
            self.delete_image(image_id)
        except CloudError:  # the original failure is the one to report
            pass
