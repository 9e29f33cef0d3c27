"""Fixtures for checking the emulator against Linode's OpenAPI spec."""

from __future__ import annotations

import pytest

from .openapi import OpenApiSpec, locate_spec


@pytest.fixture(scope="session")
def openapi_spec() -> OpenApiSpec:
    """Linode's OpenAPI v4.189.0 spec, parsed once per session (JSON-cached across
    sessions); skips the test when the spec cannot be found."""
    path, how = locate_spec()
    if path is None:
        pytest.skip(how)
    return OpenApiSpec.load(path)


# Fields linode_api4 reads that this (older) spec does not list, and the spec's
# own misspelling of one of them (``site-type``): accepted wherever they appear.
EXTRA_FIELDS = ("site_type", "disk_encryption", "ssh_port", "endpoint_type", "s3_endpoint")


class ResponseRecorder:
    """Collects every API response a client receives, through requests' public hook."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, str, int, object]] = []

    def __call__(self, response, *args, **kwargs):
        from urllib.parse import urlsplit

        path = urlsplit(response.request.url).path
        if path.startswith("/v4") and response.headers.get("Content-Type", "").startswith("application/json"):
            self.responses.append((response.request.method, path, response.status_code, response.json()))
        return response

    def violations(self, spec: OpenApiSpec) -> list[str]:
        problems = []
        for method, path, status, body in self.responses:
            try:
                spec.validate_response(method, path, status, body, allow_extra=EXTRA_FIELDS)
            except AssertionError as exc:
                problems.append(f"{method} {path} -> {status}: {exc}")
            except KeyError:
                pass  # an endpoint newer than this spec (e.g. /object-storage/endpoints): nothing to check against
        return problems


@pytest.fixture(scope="session")
def spec_if_present() -> OpenApiSpec | None:
    """The spec when this checkout sits beside it; the behaviour tests run either way."""
    path, _ = locate_spec()
    return OpenApiSpec.load(path) if path is not None else None


@pytest.fixture
def client(emulator, spec_if_present):
    """A real linode_api4 client on the emulator; every response it got is checked against the spec."""
    recorder = ResponseRecorder()
    linode = emulator.client(retry_rate_limit_interval=0.2)
    linode.session.hooks["response"].append(recorder)
    yield linode
    if spec_if_present is None:
        return
    problems = recorder.violations(spec_if_present)
    assert not problems, "responses that do not match Linode's OpenAPI spec:\n" + "\n".join(problems)
