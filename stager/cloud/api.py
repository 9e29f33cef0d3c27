"""The plumbing every part of ``LinodeCloud`` shares: the client, error translation, retries, events.

linode_api4 already retries 408, 429 and 502 itself, POST included, at a constant
interval. What escapes it arrives here as an ``ApiError``; this module turns it
into one of stager's error types with a one-line message, and for calls that
are safe to repeat (reads, deletes, idempotent actions) waits what ``Retry-After``
says, or the polling backoff, and tries again a few times first.

A linode_api4 ``ApiError`` keeps the request it answered, and with it the
``Authorization`` header and the body sent (a root password, user data). So the
ApiError is reduced to an ``ApiFailure`` (status, reasons, Retry-After) at once,
and stager's own error is raised *outside* the ``except`` block: it carries no
``__context__`` through which the token could be reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from linode_api4 import ApiError, LinodeClient, UnexpectedResponseError

from stager.cloud.errors import CloudError, CredentialsError
from stager.cloud.waiting import Backoff, retry_after_seconds, wait_until

T = TypeVar("T")

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
TOKEN_HELP = ("create a personal access token at https://cloud.linode.com/profile/tokens with read/write "
              "access to Linodes, Images, Volumes, Firewalls and Object Storage, then `export LINODE_TOKEN=...`")


@dataclass(frozen=True)
class ApiFailure:
    """What stager keeps of a failed call: nothing of the request."""

    status: int  # HTTP status
    errors: tuple[tuple[str | None, str], ...]  # Linode's (field, reason) pairs
    retry_after: str | None  # the Retry-After header, as sent

    @classmethod
    def of(cls, exc: ApiError) -> ApiFailure:
        """Keep the status, reasons and Retry-After of ``exc``; drop the request.

        Raises:
            Nothing.
        """
        body = exc.json if isinstance(exc.json, dict) else {}
        errors = []
        for error in body.get("errors") or []:
            if isinstance(error, dict):
                reason = " ".join(str(error.get("reason") or "").split())  # one line, always
                errors.append((error.get("field") or None, reason))
        headers = exc.response.headers if exc.response is not None else {}
        return cls(exc.status, tuple(errors), headers.get("Retry-After"))

    @property
    def reasons(self) -> str:
        """``field: reason`` pairs on one line; the HTTP status when Linode gave none."""
        parts = [f"{field}: {reason}" if field else reason for field, reason in self.errors if reason]
        return "; ".join(parts) or f"HTTP {self.status}"

    def mentions(self, *words: str, field: str | None = None) -> bool:
        """Whether a reason (on ``field``, when given) contains one of ``words``, case-insensitively."""
        for error_field, reason in self.errors:
            if field is not None and error_field != field:
                continue
            if any(w.lower() in reason.lower() for w in words):
                return True
        return False


def translate(action: str, failure: ApiFailure) -> CloudError | CredentialsError:
    """The stager error for a failed API call (returned, not raised).

    Raises:
        Nothing.
    """
    reasons = failure.reasons
    if failure.status == 401:
        return CredentialsError(f"{action}: Linode refused the API token ({reasons}); {TOKEN_HELP}")
    if failure.status == 403:
        return CredentialsError(f"{action}: the API token is not allowed to do this ({reasons}); {TOKEN_HELP}")
    if failure.status == 429:
        return CloudError(f"{action} failed: Linode's rate limit was hit ({reasons}); wait a minute and retry",
                          status=429)
    return CloudError(f"{action} failed: {reasons} (HTTP {failure.status})", status=failure.status)


def unreachable(action: str, base_url: str, exc: Exception) -> CloudError:
    """The error for a call that never got an answer (returned, not raised); names the exception type only.

    Raises:
        Nothing.
    """
    return CloudError(f"{action} failed: could not reach the Linode API at {base_url} ({type(exc).__name__})")


class ApiSession:
    """A linode_api4 client plus how stager polls and retries with it."""

    def __init__(self, client: LinodeClient, *, poll: Backoff, retries: int = 3,
                 retry_after_cap: float = 60.0) -> None:
        self._client = client
        self._poll = poll
        self._retries = retries  # extra attempts for a call safe to repeat, after linode_api4's own
        self._retry_after_cap = retry_after_cap  # the longest single wait a Retry-After can ask for

    @property
    def base_url(self) -> str:
        return self._client.base_url

    @property
    def api(self) -> LinodeClient:
        """The linode_api4 client itself, for services this layer does not wrap (Object Storage keys)."""
        return self._client

    @property
    def poll(self) -> Backoff:
        return self._poll

    def __repr__(self) -> str:  # the client holds the token: never show it
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # -- calling ------------------------------------------------------------------

    def attempt(self, fn: Callable[[], T]) -> tuple[T | None, ApiFailure | None]:
        """Run ``fn`` once: its result, or the failure Linode answered.

        Raises:
            Whatever ``fn`` raises other than linode_api4's ``ApiError``.
        """
        try:
            return fn(), None
        except ApiError as exc:
            return None, ApiFailure.of(exc)

    def pause(self, failure: ApiFailure | None, delays) -> None:
        """Sleep before a retry: what Retry-After asks (capped), else the next polling interval.

        Raises:
            Nothing.
        """
        headers = {"Retry-After": failure.retry_after} if failure and failure.retry_after is not None else None
        time.sleep(retry_after_seconds(headers, default=next(delays), cap=self._retry_after_cap))

    def call(self, action: str, fn: Callable[[], T], *, repeatable: bool = True,
             missing: Callable[[], T] | None = None) -> T:
        """Run ``fn`` (one or a few linode_api4 calls) on behalf of ``action`` ("creating volume x").

        ``repeatable`` calls are retried on 408/429/5xx after waiting what
        ``Retry-After`` says (capped) or the polling backoff. When ``missing`` is
        given, a 404 returns what it returns instead of raising.

        Raises:
            CredentialsError: Linode answered 401 or 403.
            CloudError: any other failure, or the retries ran out.
        """
        delays = self._poll.delays()
        tries = 0
        while True:
            error: Exception | None = None
            try:
                result, failure = self.attempt(fn)
            except UnexpectedResponseError:
                failure, error = None, CloudError(f"{action} failed: Linode's answer was not what linode_api4 expects")
            except requests.RequestException as exc:
                failure, error = None, unreachable(action, self.base_url, exc)
            if error is not None:
                raise error
            if failure is None:
                return result
            if failure.status == 404 and missing is not None:
                return missing()
            if not (repeatable and failure.status in RETRYABLE and tries < self._retries):
                raise translate(action, failure)
            tries += 1
            self.pause(failure, delays)

    def delete_or_say_how(self, what: str, remove: Callable[[], None], hint: str) -> bool:
        """Delete ``what`` with ``remove``; True when deleted now, False when already gone (404).

        429 and 5xx answers are retried with backoff: a leaked resource may cost money.

        Raises:
            CloudError: the delete still failed; the message ends with ``hint``, how to finish it by hand.
        """
        def delete() -> bool:
            remove()
            return True

        try:
            return self.call(f"deleting {what}", delete, missing=lambda: False)
        except CloudError as exc:
            failed = exc
        raise CloudError(f"{failed}; {hint}", status=failed.status)

    def create_idempotent(self, action: str, *, find: Callable[[], T | None], post: Callable[[], T],
                          claim: Callable[[T], T], refuse: Callable[[ApiFailure], None] | None = None) -> T:
        """Create something keyed by a unique label, without ever making two.

        ``find`` looks the label up first; ``claim`` decides whether what it found
        is ours (returning it) or raises. A "label must be unique" answer (a POST
        that linode_api4 retried after its first answer was lost) leads to the
        same lookup. ``refuse`` may raise a better error for a failure (capacity).
        Failures that may be passing (408, 429, 5xx, a broken connection) are tried
        again, the lookup first, so the retry cannot duplicate.

        Raises:
            CloudError: Linode refused, or the retries ran out.
            CredentialsError: Linode answered 401 or 403.
        """
        delays = self._poll.delays()
        tries = 0
        while True:
            existing = find()
            if existing is not None:
                return claim(existing)
            error: Exception | None = None
            created, failure = None, None
            try:
                created, failure = self.attempt(post)
            except UnexpectedResponseError:
                error = CloudError(f"{action} failed: Linode's answer was not what linode_api4 expects")
            except requests.RequestException as exc:
                error = unreachable(action, self.base_url, exc)  # the POST may have landed: look again first
            if created is not None:
                return created
            if failure is not None:
                if failure.status == 400 and failure.mentions("unique", "already", field="label"):
                    existing = find()
                    if existing is not None:
                        return claim(existing)
                if refuse is not None:
                    refuse(failure)
                error = translate(action, failure)
                if failure.status not in RETRYABLE:
                    raise error
            if tries >= self._retries:
                raise error
            tries += 1
            self.pause(failure, delays)

    def wait(self, check: Callable[[], T | None], *, timeout: float, what: str,
             describe_last: Callable[[], str] | None = None) -> T:
        """``wait_until`` with this session's polling backoff.

        Raises:
            CloudTimeout: ``timeout`` passed; or whatever ``check`` raises.
        """
        return wait_until(check, timeout=timeout, what=what, backoff=self._poll, describe_last=describe_last)

    # -- events -------------------------------------------------------------------

    def events(self, filters: dict, *, about: str) -> list[dict]:
        """The most recent events (one page) matching an ``X-Filter``, newest first.

        Raises:
            CloudError: the events could not be read.
        """
        def fetch() -> list[dict]:
            page = self._client.get("/account/events", filters=filters)
            return list(page.get("data") or [])

        events = self.call(f"reading the events of {about}", fetch)
        return sorted(events, key=lambda e: e.get("id") or 0, reverse=True)

    def recent_events(self, entity_type: str, entity_id: int | str) -> list[dict]:
        """The most recent events (one page) about an entity, newest first.

        Raises:
            CloudError: the events could not be read.
        """
        return self.events({"entity.id": entity_id, "entity.type": entity_type}, about=f"{entity_type} {entity_id}")

    def pending_events(self, entity_type: str, entity_id: int | str, actions: tuple[str, ...]) -> list[dict]:
        """Events among ``actions`` on the entity that have not finished yet.

        Raises:
            CloudError: the events could not be read.
        """
        return [e for e in self.recent_events(entity_type, entity_id)
                if e.get("action") in actions and e.get("status") in ("scheduled", "started")]
