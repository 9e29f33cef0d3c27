"""Who may reach a run: its Cloud Firewall and its Object Storage key; and the provider's clock.

A run's instances sit behind a firewall that drops everything inbound but SSH
from the controller's address; its trainer reads and writes Object Storage with
a key limited to the run's buckets. Both are created per run and deleted at
teardown, and both are what ``stager gc`` collects when a run crashed.

- Firewalls are idempotent by label, as instances are: a create looks the label
  up first, and again after a "label must be unique" answer (a POST linode_api4
  retried after its first answer was lost). A firewall found that way is used only
  when its tags say stager made it for the same run; its rules are brought to what
  was asked (a resumed run may come from another address).
- Object Storage keys cannot be idempotent the same way: Linode shows a key's
  secret only in the answer to its create, so a key found by label is useless.
  Labels are not unique on Linode either. So a create first deletes every key
  carrying its label (what an earlier attempt, or a lost answer, left), then
  creates one, then deletes any other key with the label that a retried POST may
  have made. Labels must therefore be stager's own (``stager-...``): a user's key
  is never touched.
- Linode scopes a limited key **per bucket** (read_only or read_write), never per
  prefix: a key that may write a run's prefix may write the whole bucket. Give a
  run its own bucket when that matters.
- ``now()`` is the provider's time, read from the ``Date`` header of its answers,
  so "dollars so far" is measured on the clock Linode bills by (and on the
  emulator's clock, which tests advance), not on this machine's.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from linode_api4 import Firewall, ObjectStorageKeys

from stager.cloud.api import ApiSession
from stager.cloud.convert import raw_json
from stager.cloud.errors import CloudError
from stager.cloud.tags import STAGER_TAG, is_stager, run_of
from stager.cloud.types import BucketAccess, FirewallInfo, ObjectKey
from stager.errors import UsageError

__all__ = ["AccessOps", "ClockOps", "firewall_label"]

PERMISSIONS = ("read_only", "read_write")
FIREWALL_LABEL_MAX = 32  # Linode's firewall labels: 3-32 characters
KEY_LABEL_MAX = 50  # Linode's Object Storage key labels
KEY_LABEL_PREFIX = f"{STAGER_TAG}-"
SSH_RULE_LABEL = "stager-ssh"
_FIREWALL_HINT = "delete it by hand in Cloud Manager, or with `linode-cli firewalls delete {id}`"
_KEY_HINT = "delete it by hand in Cloud Manager, or with `linode-cli object-storage keys-delete {id}`"


def firewall_label(run_id: str) -> str:
    """A run's firewall label, ``stager-<run>-fw``: ``resource_label`` would pass Linode's 32 characters
    for a standard run id (``stager-r20261121-130733-cd6d-fw-0`` is 33), and a run needs one firewall.

    Raises:
        ValueError: the label would be longer than 32 characters (a run id over 22 characters).
    """
    label = f"{STAGER_TAG}-{run_id}-fw"
    if not run_id or len(label) > FIREWALL_LABEL_MAX:
        raise ValueError(f"firewall label {label!r} must be 3-{FIREWALL_LABEL_MAX} characters; use a shorter run id")
    return label


def ssh_rules(ssh_from: Sequence[str]) -> dict:
    """The rule set of a run's firewall: inbound DROP but TCP 22 from ``ssh_from``; outbound ACCEPT.

    Raises:
        UsageError: no address, or one that is not an IPv4/IPv6 address or CIDR.
    """
    if isinstance(ssh_from, str) or not ssh_from:
        raise UsageError("a firewall needs at least one address to allow SSH from, e.g. ['203.0.113.4/32']")
    families: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
    for value in ssh_from:
        try:
            network = ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            raise UsageError(f"{value!r} is not an IP address or CIDR to allow SSH from (e.g. 203.0.113.4/32)") \
                from None
        families[f"ipv{network.version}"].append(str(network))
    addresses = {family: sorted(set(values)) for family, values in families.items() if values}
    return {"inbound_policy": "DROP", "outbound_policy": "ACCEPT", "outbound": [],
            "inbound": [{"action": "ACCEPT", "protocol": "TCP", "ports": "22", "addresses": addresses,
                         "label": SSH_RULE_LABEL, "description": "SSH from the stager controller"}]}


PEERS_RULE_LABEL = "stager-peers"


def run_rules(ssh_from: Sequence[str], peers: Sequence[str] = ()) -> dict:
    """``ssh_rules`` plus, for a run on several nodes, all TCP from the run's own nodes (``peers``, their
    addresses): the torchrun rendezvous (29400) and the collectives' ports (NCCL, gloo) are picked at run
    time, so the rule admits every port, but only from those addresses.

    Raises:
        UsageError: as ``ssh_rules``, or a peer that is not a single IPv4/IPv6 address.
    """
    rules = ssh_rules(ssh_from)
    if not peers:
        return rules
    families: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
    for value in peers:
        try:
            address = ipaddress.ip_address(str(value))
        except ValueError:
            raise UsageError(f"{value!r} is not a node's private address (e.g. 192.168.128.5)") from None
        families[f"ipv{address.version}"].append(f"{address}/{address.max_prefixlen}")
    addresses = {family: sorted(set(values)) for family, values in families.items() if values}
    rules["inbound"].append({"action": "ACCEPT", "protocol": "TCP", "ports": "1-65535", "addresses": addresses,
                             "label": PEERS_RULE_LABEL, "description": "rendezvous and collectives between the "
                                                                       "run's own nodes"})
    return rules


def _rules_shape(rules: dict) -> tuple:
    """What matters in a rule set, for comparing Linode's answer with what was asked."""
    def rule(r: dict) -> tuple:
        addresses = r.get("addresses") or {}
        return (r.get("action"), r.get("protocol"), r.get("ports") or "",
                tuple(sorted(addresses.get("ipv4") or ())), tuple(sorted(addresses.get("ipv6") or ())))

    return (rules.get("inbound_policy"), rules.get("outbound_policy"),
            tuple(rule(r) for r in rules.get("inbound") or ()), tuple(rule(r) for r in rules.get("outbound") or ()))


def firewall_info(obj) -> FirewallInfo:
    """A firewall as stager's dataclass.

    Raises:
        KeyError: the JSON has no ``id``.
    """
    data = raw_json(obj)
    return FirewallInfo(id=int(data["id"]), label=data.get("label") or "", tags=tuple(data.get("tags") or ()),
                        created=data.get("created") or None)


def object_key(obj, *, secret: bool = False) -> ObjectKey:
    """An Object Storage key as stager's dataclass; the secret only when ``secret`` (the create's answer).

    Raises:
        KeyError: the JSON has no ``id``.
    """
    data = raw_json(obj)
    access = None
    if data.get("limited"):
        access = tuple(BucketAccess(bucket=a.get("bucket_name") or "", region=a.get("region") or a.get("cluster")
                                    or "", permissions=a.get("permissions") or "")
                       for a in data.get("bucket_access") or () if isinstance(a, dict))
    return ObjectKey(id=int(data["id"]), label=data.get("label") or "", access_key=data.get("access_key") or "",
                     secret_key=(data.get("secret_key") or "") if secret else "", bucket_access=access)


class _DateSeen:
    """The newest ``Date`` header among the client's answers, with the monotonic time it arrived."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: tuple[datetime, float] | None = None

    def hook(self, response, *args, **kwargs) -> None:
        """A ``requests`` response hook: record the answer's ``Date`` (an unreadable one is ignored)."""
        arrived = time.monotonic()
        try:
            date = parsedate_to_datetime(response.headers.get("Date") or "")
        except (TypeError, ValueError, IndexError):
            return
        if date.tzinfo is None:  # RFC 7231 dates are GMT
            date = date.replace(tzinfo=timezone.utc)
        with self._lock:
            self._seen = (date.astimezone(timezone.utc), arrived)

    def latest(self) -> tuple[datetime, float] | None:
        with self._lock:
            return self._seen


class ClockOps(ApiSession):
    """The provider's clock: ``now()``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._dates = _DateSeen()
        self._clock_lock = threading.Lock()
        self._last_now: datetime | None = None
        session = getattr(self._client, "session", None)  # a requests.Session on every linode_api4 client
        if session is not None:
            session.hooks.setdefault("response", []).append(self._dates.hook)

    def now(self) -> datetime:
        """The provider's time (UTC, aware): the latest answer's ``Date``, plus the time passed since it came.

        When no answer was seen yet, one cheap GET (``/regions``) is made first;
        when answers carry no ``Date`` at all (a proxy strips it), this machine's
        clock is used. ``Date`` has whole seconds, so this is within a second of the
        provider's clock; it never goes backwards.

        Raises:
            CloudError: no answer had been seen and the GET failed.
        """
        seen = self._dates.latest()
        if seen is None:
            self.call("reading the provider's clock", lambda: self._client.get("/regions"))
            seen = self._dates.latest()
        if seen is None:
            moment = datetime.now(timezone.utc)
        else:
            date, arrived = seen
            moment = date + timedelta(seconds=max(0.0, time.monotonic() - arrived))
        with self._clock_lock:
            if self._last_now is not None and moment < self._last_now:
                moment = self._last_now
            self._last_now = moment
        return moment


class AccessOps(ClockOps):
    """Firewall and Object Storage key verbs of ``LinodeCloud``."""

    # -- firewalls ----------------------------------------------------------------------

    def create_firewall(self, label: str, *, ssh_from: Sequence[str], tags: Sequence[str]) -> FirewallInfo:
        """Create a firewall dropping all inbound traffic but SSH (TCP 22) from ``ssh_from``, or return the
        one an earlier attempt made with this label (its rules brought to these).

        Give it to ``InstanceSpec.firewall_id`` so an instance is behind it from its first boot.

        Raises:
            UsageError: the label is not 3-32 characters, or an address is not an IP address or CIDR.
            CloudError: the label is used by a firewall stager did not create or another run's; or
                Linode refused the create.
            CredentialsError: the token lacks the Firewalls scope, or is invalid.
        """
        if not isinstance(label, str) or not 3 <= len(label) <= FIREWALL_LABEL_MAX:
            raise UsageError(f"firewall label {label!r} must be 3-{FIREWALL_LABEL_MAX} characters "
                             "(see stager.cloud.access.firewall_label)")
        rules = ssh_rules(ssh_from)
        tags = tuple(tags)

        def claim(existing: tuple[FirewallInfo, dict]) -> tuple[FirewallInfo, dict]:
            info, current = existing
            if not is_stager(info.tags) or run_of(info.tags) != run_of(tags):
                raise CloudError(f"label {label} in use by firewall {info.id}, which stager did not create for run "
                                 f"{run_of(tags) or '(none)'}; delete it or use another run id")
            if _rules_shape(current) != _rules_shape(rules):
                self.call(f"updating the rules of firewall {label} ({info.id})",
                          lambda: self._client.put(f"/networking/firewalls/{info.id}/rules", data=rules))
            return existing

        def post() -> tuple[FirewallInfo, dict]:
            created = self._client.networking.firewall_create(label, rules, tags=list(tags))
            return firewall_info(created), rules

        info, _ = self.create_idempotent(f"creating firewall {label}", find=lambda: self._find_firewall(label),
                                         post=post, claim=claim)
        return info

    def admit_peers(self, firewall_id: int, *, ssh_from: Sequence[str], peers: Sequence[str]) -> None:
        """Set the firewall's rules to ``run_rules(ssh_from, peers)``: SSH from the controller as before, and
        all TCP between the run's nodes (their private and public addresses), for torchrun and the collectives.

        Raises:
            UsageError: an address is malformed.
            CloudError: Linode refused the update.
        """
        rules = run_rules(ssh_from, peers)
        self.call(f"admitting the run's nodes through firewall {firewall_id}",
                  lambda: self._client.put(f"/networking/firewalls/{firewall_id}/rules", data=rules))

    def _find_firewall(self, label: str) -> tuple[FirewallInfo, dict] | None:
        def fetch() -> tuple[FirewallInfo, dict] | None:
            for found in self._client.networking.firewalls(Firewall.label == label):
                data = raw_json(found)
                if data.get("label") == label:
                    return firewall_info(data), dict(data.get("rules") or {})
            return None

        return self.call(f"looking up firewall {label}", fetch)

    def list_firewalls(self, tag: str | None = None) -> list[FirewallInfo]:
        """Every firewall on the account, or those tagged ``tag``.

        Raises:
            CloudError: the API call failed.
        """
        def fetch() -> list[FirewallInfo]:
            found = [firewall_info(f) for f in self._client.networking.firewalls()]
            return [f for f in found if tag is None or tag in f.tags]

        return self.call("listing firewalls" + (f" tagged {tag}" if tag else ""), fetch)

    def delete_firewall(self, firewall_id: int) -> bool:
        """Delete the firewall (its devices are released); True when deleted now, False when already gone (404).

        429 and 5xx answers are retried a few times with backoff.

        Raises:
            CloudError: the delete still failed; the message says how to finish it by hand.
        """
        return self.delete_or_say_how(f"firewall {firewall_id}", Firewall(self._client, firewall_id).delete,
                                      _FIREWALL_HINT.format(id=firewall_id))

    # -- Object Storage keys ----------------------------------------------------------------

    def create_object_key(self, label: str, access: Sequence[BucketAccess]) -> ObjectKey:
        """Create a key limited to ``access`` (its buckets, each read_only or read_write); its secret is in
        the answer only. Keys already labelled ``label`` are deleted first (see the module docstring).

        Raises:
            UsageError: the label is not stager's (``stager-...``, at most 50 characters), ``access`` is
                empty, or a permission is not read_only or read_write.
            CloudError: a bucket does not exist in its region, the account has 100 keys, or the API failed.
            CredentialsError: the token lacks the Object Storage scope, or is invalid.
        """
        if not isinstance(label, str) or not label.startswith(KEY_LABEL_PREFIX) or len(label) > KEY_LABEL_MAX:
            raise UsageError(f"Object Storage key label {label!r} must start with {KEY_LABEL_PREFIX!r} and have at "
                             f"most {KEY_LABEL_MAX} characters (see stager.cloud.tags.resource_label)")
        access = tuple(access)
        if not access:
            raise UsageError(f"key {label}: name at least one bucket; stager never makes an unlimited key")
        for entry in access:
            if entry.permissions not in PERMISSIONS:
                raise UsageError(f"key {label}: permissions for bucket {entry.bucket} must be read_only or "
                                 f"read_write, not {entry.permissions!r}")
        body = [{"bucket_name": a.bucket, "region": a.region, "permissions": a.permissions} for a in access]

        def clear() -> None:
            for stale in self._keys_labelled(label):
                self.delete_object_key(stale.id)
            return None

        def post() -> ObjectKey:
            return object_key(self._client.object_storage.keys_create(label, bucket_access=body), secret=True)

        created = self.create_idempotent(f"creating Object Storage key {label}", find=clear, post=post,
                                         claim=lambda found: found)
        for duplicate in self._keys_labelled(label):  # made by a POST linode_api4 retried after a lost answer
            if duplicate.id != created.id:
                self.delete_object_key(duplicate.id)
        return created

    def _keys_labelled(self, label: str) -> list[ObjectKey]:
        return [k for k in self.list_object_keys() if k.label == label]

    def list_object_keys(self) -> list[ObjectKey]:
        """Every Object Storage key on the account; ``secret_key`` is "" (Linode never shows it again).

        Raises:
            CloudError: the API call failed.
        """
        return self.call("listing Object Storage keys",
                         lambda: [object_key(k) for k in self._client.object_storage.keys()])

    def delete_object_key(self, key_id: int) -> bool:
        """Revoke the key; True when deleted now, False when already gone (404). 429 and 5xx are retried.

        Raises:
            CloudError: the delete still failed; the message says how to finish it by hand.
        """
        return self.delete_or_say_how(f"Object Storage key {key_id}", ObjectStorageKeys(self._client, key_id).delete,
                                      _KEY_HINT.format(id=key_id))
