"""Instances: idempotent create, read, wait, shut down, delete.

A create is keyed by its label. linode_api4 retries a POST that got a 408, 429
or 502, and a POST whose answer was lost may still have made the instance, so a
naive retry can make two GPU instances billed side by side. Here a create first
looks the label up; a retry that Linode answers "label must be unique" looks it
up again; and an instance found that way is returned only when its tags say
stager made it for the same run.
"""

from __future__ import annotations

import base64
import secrets

from linode_api4 import Instance

from stager.cloud.api import ApiFailure
from stager.cloud.catalogue import CatalogueOps
from stager.cloud.convert import instance_info
from stager.cloud.errors import CapacityError, CloudError
from stager.cloud.tags import is_stager, run_of
from stager.cloud.types import InstanceInfo, InstanceSpec
from stager.errors import UsageError

MAX_USER_DATA = 65535  # bytes before base64: Linode's metadata limit
# The key types linode_api4 recognises; anything else it would try to open as a file.
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp")
_BOOTING = ("provisioning", "booting", "rebooting")
_BOOT_ACTIONS = ("linode_create", "linode_boot", "linode_reboot")
_DELETE_HINT = "delete it by hand in Cloud Manager, or with `linode-cli linodes delete {id}`"


def check_spec(spec: InstanceSpec) -> None:
    """Refuse a spec Linode would refuse, before anything is paid for.

    Raises:
        UsageError: no authorized key, a key that is not an OpenSSH public key line
            (linode_api4 would read it as a path to a local file), or user data over
            Linode's 65,535 bytes.
    """
    if not spec.authorized_keys:
        raise UsageError(f"instance {spec.label}: at least one SSH public key is needed to reach it")
    for key in spec.authorized_keys:
        if not isinstance(key, str) or not key.startswith(_KEY_TYPES) or "\n" in key.strip():
            raise UsageError(f"instance {spec.label}: authorized key {str(key)[:20]!r}... "
                             "is not an OpenSSH public key line")
    if spec.user_data is not None and len(spec.user_data.encode()) > MAX_USER_DATA:
        raise UsageError(f"instance {spec.label}: user data is {len(spec.user_data.encode())} bytes; "
                         f"Linode takes at most {MAX_USER_DATA}")


def _capacity_problem(failure: ApiFailure) -> bool:
    """A 400 meaning "this plan cannot be had here now", as opposed to a mistake in the request."""
    if failure.status != 400:
        return False
    return (failure.mentions("no capacity", "sold out", "out of stock", "insufficient capacity")
            or failure.mentions("not available", "unavailable", "not offered", field="type"))


class InstanceOps(CatalogueOps):
    """Instance verbs of ``LinodeCloud``."""

    def create_instance(self, spec: InstanceSpec) -> InstanceInfo:
        """Create an instance, or return the one an earlier attempt made with the same label.

        Idempotent: an instance labelled ``spec.label``, tagged ``stager`` and with
        the same ``run:`` tag, plan and region as ``spec`` is returned instead of a
        new one. A random root password is sent (Linode wants one) and forgotten:
        stager logs in with ``authorized_keys`` only. The instance boots at once;
        use ``wait_instance`` for "running".

        Not supported: placement groups, VPC interfaces, disk encryption settings,
        backups.

        Raises:
            UsageError: the spec is unusable (see ``check_spec``).
            CapacityError: the plan cannot be had in the region now (or is not sold
                there); ``alternatives`` lists where it can, cheapest first.
            CloudError: the label is used by a resource stager did not create, or by
                another run's instance; or the API refused the create.
            CredentialsError: the token is missing scopes or invalid.
        """
        check_spec(spec)

        def refuse(failure: ApiFailure) -> None:
            if _capacity_problem(failure):
                raise CapacityError(spec.plan, spec.region, self.alternatives(spec.plan, spec.region),
                                    reason=failure.reasons)

        return self.create_idempotent(
            f"creating instance {spec.label} ({spec.plan} in {spec.region})",
            find=lambda: self.find_instance(spec.label), post=lambda: self._post_instance(spec),
            claim=lambda existing: self._claim(existing, spec), refuse=refuse)

    def _post_instance(self, spec: InstanceSpec) -> InstanceInfo:
        # The password lives only in this frame, which has ended by the time any
        # error is raised to the caller.
        root_pass = secrets.token_urlsafe(32)
        extra: dict = {}
        if spec.user_data is not None:
            extra["metadata"] = {"user_data": base64.b64encode(spec.user_data.encode()).decode()}
        if spec.private_ip:
            extra["private_ip"] = True
        created = self._client.linode.instance_create(
            spec.plan, spec.region, image=spec.image, authorized_keys=list(spec.authorized_keys),
            root_pass=root_pass, label=spec.label, tags=list(spec.tags), booted=True,
            firewall=spec.firewall_id, **extra)
        if isinstance(created, tuple):  # older linode_api4 returned (instance, generated password)
            created = created[0]
        return instance_info(created)

    def _claim(self, existing: InstanceInfo, spec: InstanceSpec) -> InstanceInfo:
        """``existing`` when it is this spec's instance from an earlier attempt; else CloudError."""
        if not is_stager(existing.tags):
            raise CloudError(f"label {spec.label} in use by a resource stager did not create "
                             f"(instance {existing.id}); rename or delete it, or use another run id")
        if run_of(existing.tags) != run_of(spec.tags):
            raise CloudError(f"label {spec.label} in use by instance {existing.id} of run "
                             f"{run_of(existing.tags) or '(none)'}, not of run {run_of(spec.tags) or '(none)'}")
        if existing.plan != spec.plan or existing.region != spec.region:
            raise CloudError(f"label {spec.label} in use by instance {existing.id} ({existing.plan} in "
                             f"{existing.region}), not the {spec.plan} in {spec.region} asked for")
        return existing

    def get_instance(self, instance_id: int) -> InstanceInfo | None:
        """The instance, or None when Linode has no such instance (404).

        Raises:
            CloudError: the API call failed for another reason.
        """
        return self.call(f"reading instance {instance_id}",
                         lambda: instance_info(self._client.load(Instance, instance_id)), missing=lambda: None)

    def find_instance(self, label: str) -> InstanceInfo | None:
        """The instance labelled ``label``, or None.

        Raises:
            CloudError: the API call failed.
        """
        def fetch() -> InstanceInfo | None:
            found = [instance_info(i) for i in self._client.linode.instances(Instance.label == label)]
            return next((i for i in found if i.label == label), None)  # labels are unique on Linode

        return self.call(f"looking up instance {label}", fetch)

    def list_instances(self, tag: str | None = None) -> list[InstanceInfo]:
        """Every instance on the account, or those tagged ``tag``.

        Raises:
            CloudError: the API call failed.
        """
        def fetch() -> list[InstanceInfo]:
            filters = (Instance.tags == tag,) if tag is not None else ()
            found = [instance_info(i) for i in self._client.linode.instances(*filters)]
            # The server filters; checking again costs nothing and guards against a looser match.
            return [i for i in found if tag is None or tag in i.tags]

        return self.call("listing instances" + (f" tagged {tag}" if tag else ""), fetch)

    def wait_instance(self, instance_id: int, status: str = "running", *, timeout: float) -> InstanceInfo:
        """Poll until the instance's status is ``status``; return it then.

        Waiting for "running" fails fast when the boot fails: the instance ends
        offline after booting, or its boot event failed.

        Raises:
            CloudTimeout: ``timeout`` seconds passed (the message has the last status).
            CloudError: the instance disappeared, or its boot failed.
        """
        seen: list[str] = []

        def check() -> InstanceInfo | None:
            info = self.get_instance(instance_id)
            if info is None:
                raise CloudError(f"instance {instance_id} disappeared while waiting for it to be {status}"
                                 + (f" (last status: {seen[-1]})" if seen else ""))
            if not seen or seen[-1] != info.status:
                seen.append(info.status)
            if info.status == status:
                return info
            if status == "running" and info.status == "offline":
                self._check_boot(info, booted_before=any(s in _BOOTING for s in seen[:-1]))
            return None

        return self.wait(check, timeout=timeout, what=f"instance {instance_id} to be {status}",
                         describe_last=lambda: " -> ".join(seen) or "nothing")

    def _check_boot(self, info: InstanceInfo, *, booted_before: bool) -> None:
        events = [e for e in self.recent_events("linode", info.id) if e.get("action") in _BOOT_ACTIONS]
        latest = events[0] if events else None
        if latest is not None and latest.get("status") == "failed":
            why = " ".join(str(latest.get("message") or "no reason given").split())
            raise CloudError(f"instance {info.label} ({info.id}) failed to boot: {latest['action']} failed: {why}")
        if booted_before and (latest is None or latest.get("status") not in ("scheduled", "started")):
            raise CloudError(f"instance {info.label} ({info.id}) failed to boot: it went offline while booting")

    def shutdown_instance(self, instance_id: int, *, timeout: float) -> None:
        """Shut the instance down and wait until it is offline. Shutting down saves no money on
        Linode (an offline instance is billed); stager does it before capturing an image.

        Raises:
            CloudTimeout: it was not offline within ``timeout`` seconds.
            CloudError: the instance does not exist, or the API call failed.
        """
        self.call(f"shutting down instance {instance_id}", lambda: Instance(self._client, instance_id).shutdown())
        self.wait_instance(instance_id, "offline", timeout=timeout)

    def delete_instance(self, instance_id: int) -> bool:
        """Delete the instance; True when deleted now, False when it was already gone (404).

        5xx and 429 answers are retried a few times with backoff, since a leaked GPU
        instance costs money by the hour.

        Raises:
            CloudError: the delete still failed; the message says how to finish it by hand.
        """
        return self.delete_or_say_how(f"instance {instance_id}", Instance(self._client, instance_id).delete,
                                      _DELETE_HINT.format(id=instance_id))
