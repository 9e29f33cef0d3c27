"""Block Storage volumes: idempotent create, attach, detach, wait, delete.

A volume outlives the instances it is attached to, which is what stager uses it
for (a dataset that stays in the region between runs). Not supported: resize,
clone, encryption settings.
"""

from __future__ import annotations

from linode_api4 import Volume

from stager.cloud.api import ApiSession
from stager.cloud.convert import volume_info
from stager.cloud.errors import CloudError
from stager.cloud.tags import is_stager, run_of
from stager.cloud.types import VolumeInfo

_ATTACH_ACTIONS = ("volume_attach",)
_DETACH_ACTIONS = ("volume_detach",)


class VolumeOps(ApiSession):
    """Volume verbs of ``LinodeCloud``."""

    def create_volume(self, *, label: str, region: str, size_gb: int, tags: tuple[str, ...],
                      linode_id: int | None = None) -> VolumeInfo:
        """Create a volume (attached to ``linode_id`` when given), or return the one an earlier attempt made.

        Idempotent by label, as instances are: a volume with this label tagged
        "stager" for the same run is returned. Use ``wait_volume`` for "active".
        Labels follow Linode's volume rule (see ``stager.cloud.tags.volume_label``).

        Raises:
            CloudError: the label is used by a volume stager did not create or by
                another run; or Linode refused the create (bad label, size outside
                10-10240 GB, 8 volumes already on the instance, another region).
        """
        def claim(existing: VolumeInfo) -> VolumeInfo:
            if not is_stager(existing.tags) or run_of(existing.tags) != run_of(tags):
                raise CloudError(f"label {label} in use by a volume stager did not create for this run "
                                 f"(volume {existing.id}); rename or delete it, or use another label")
            return existing

        def post() -> VolumeInfo:
            return volume_info(self._client.volumes.create(label, region=region, linode=linode_id, size=size_gb,
                                                           tags=list(tags)))

        return self.create_idempotent(f"creating volume {label} ({size_gb} GB in {region})",
                                      find=lambda: self.find_volume(label), post=post, claim=claim)

    def get_volume(self, volume_id: int) -> VolumeInfo | None:
        """The volume, or None when there is no such volume (404).

        Raises:
            CloudError: the API call failed for another reason.
        """
        return self.call(f"reading volume {volume_id}", lambda: volume_info(self._client.load(Volume, volume_id)),
                         missing=lambda: None)

    def find_volume(self, label: str) -> VolumeInfo | None:
        """The volume labelled ``label``, or None.

        Raises:
            CloudError: the API call failed.
        """
        def fetch() -> VolumeInfo | None:
            found = [volume_info(v) for v in self._client.volumes(Volume.label == label)]
            return next((v for v in found if v.label == label), None)

        return self.call(f"looking up volume {label}", fetch)

    def list_volumes(self, tag: str | None = None) -> list[VolumeInfo]:
        """Every volume on the account, or those tagged ``tag``.

        Raises:
            CloudError: the API call failed.
        """
        def fetch() -> list[VolumeInfo]:
            filters = (Volume.tags == tag,) if tag is not None else ()
            found = [volume_info(v) for v in self._client.volumes(*filters)]
            return [v for v in found if tag is None or tag in v.tags]

        return self.call("listing volumes" + (f" tagged {tag}" if tag else ""), fetch)

    def attach_volume(self, volume_id: int, linode_id: int, *, timeout: float = 300) -> VolumeInfo:
        """Attach the volume to an instance in its region and wait until the attachment is done.

        Attaching a volume already attached to this instance succeeds.

        Raises:
            CloudError: the volume or instance does not exist, they are in different
                regions, the volume is attached elsewhere, or the instance has 8 already.
            CloudTimeout: the attachment did not finish within ``timeout`` seconds.
        """
        current = self.get_volume(volume_id)
        if current is None:
            raise CloudError(f"attaching volume {volume_id} failed: no such volume")
        if current.linode_id != linode_id:
            self.call(f"attaching volume {current.label} to instance {linode_id}",
                      lambda: Volume(self._client, volume_id).attach(linode_id))
        return self._wait_attachment(volume_id, linode_id, _ATTACH_ACTIONS, timeout,
                                     f"volume {current.label} to be attached to instance {linode_id}")

    def detach_volume(self, volume_id: int, *, timeout: float = 300) -> VolumeInfo:
        """Detach the volume from its instance and wait until it is free (detaching a free volume is a no-op).

        Raises:
            CloudError: the volume does not exist, or Linode refused the detach.
            CloudTimeout: the detach did not finish within ``timeout`` seconds.
        """
        current = self.get_volume(volume_id)
        if current is None:
            raise CloudError(f"detaching volume {volume_id} failed: no such volume")
        if current.linode_id is not None:
            self.call(f"detaching volume {current.label} from instance {current.linode_id}",
                      lambda: Volume(self._client, volume_id).detach())
        return self._wait_attachment(volume_id, None, _DETACH_ACTIONS, timeout, f"volume {current.label} to be detached")

    def _wait_attachment(self, volume_id: int, linode_id: int | None, actions: tuple[str, ...], timeout: float,
                         what: str) -> VolumeInfo:
        last: list[str] = []

        def check() -> VolumeInfo | None:
            info = self.get_volume(volume_id)
            if info is None:
                raise CloudError(f"volume {volume_id} disappeared while waiting for it")
            last[:] = [f"attached to {info.linode_id}" if info.linode_id else "detached"]
            if info.linode_id != linode_id or self.pending_events("volume", volume_id, actions):
                return None
            return info

        return self.wait(check, timeout=timeout, what=what, describe_last=lambda: last[0] if last else "nothing")

    def wait_volume(self, volume_id: int, status: str = "active", *, timeout: float) -> VolumeInfo:
        """Poll until the volume's status is ``status``; return it then.

        Raises:
            CloudTimeout: ``timeout`` seconds passed (the message has the last status).
            CloudError: the volume disappeared.
        """
        last: list[str] = []

        def check() -> VolumeInfo | None:
            info = self.get_volume(volume_id)
            if info is None:
                raise CloudError(f"volume {volume_id} disappeared while waiting for it to be {status}")
            last[:] = [info.status]
            return info if info.status == status else None

        return self.wait(check, timeout=timeout, what=f"volume {volume_id} to be {status}",
                         describe_last=lambda: last[0] if last else "nothing")

    def delete_volume(self, volume_id: int) -> bool:
        """Delete a detached volume; True when deleted now, False when it was already gone (404).

        Raises:
            CloudError: the volume is still attached (detach it first), or the delete
                failed after retries for 5xx and 429.
        """
        def delete() -> bool:
            Volume(self._client, volume_id).delete()
            return True

        return self.call(f"deleting volume {volume_id}", delete, missing=lambda: False)
