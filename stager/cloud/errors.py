"""What goes wrong when stager talks to the cloud, as types the CLI maps to exit codes.

Every message is one line naming what stager was doing and Linode's reason. None
of them ever carries the API token, a root password or an upload URL: they are
built from Linode's error reasons only, and raised without the underlying
linode_api4 exception attached (its request still holds the body that was sent).
"""

from __future__ import annotations

from collections.abc import Sequence

from stager.cloud.types import Alternative
from stager.errors import JobFailed, UsageError


class CloudError(JobFailed):
    """An API call failed; the message names the action and Linode's reason."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status Linode answered, when there was one


class CapacityError(CloudError):
    """The plan cannot be had in the region right now; ``alternatives`` says where it can, cheapest first."""

    def __init__(self, plan: str, region: str, alternatives: Sequence[Alternative], *, reason: str = "",
                 status: int | None = 400) -> None:
        self.plan = plan
        self.region = region
        self.alternatives = list(alternatives)
        self.reason = reason  # Linode's own words
        super().__init__(self._render(), status=status)

    def _render(self) -> str:
        head = f"no capacity for {self.plan} in {self.region}"
        if self.reason:
            head += f" (Linode: {self.reason})"
        if not self.alternatives:
            return head + "; no alternative plan or region is known: retry later"
        offers = ", ".join(f"{a.plan} in {a.region} at ${a.hourly_usd:.2f}/h" for a in self.alternatives)
        return f"{head}; alternatives, cheapest first: {offers}"


class CloudTimeout(CloudError):
    """Waiting exceeded its timeout; the message says what was awaited and the last status seen."""

    def __init__(self, what: str, *, timeout: float, last: str | None = None) -> None:
        self.what = what
        self.timeout = timeout
        self.last = last
        seen = f"; last seen: {last}" if last else ""
        super().__init__(f"timed out after {timeout:g} s waiting for {what}{seen}")


class CredentialsError(UsageError):
    """LINODE_TOKEN is missing, or Linode refused it (401) or its scopes (403); the message says how to fix it."""
