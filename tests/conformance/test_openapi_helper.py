"""The OpenAPI response checker itself: on a small hand-written spec, then on Linode's."""

from __future__ import annotations

import copy
import hashlib
import time

import pytest

from .openapi import ENV_VAR, REPO_ROOT, SPEC_FILENAME, OpenApiSpec, locate_spec

# ------------------------------------------------------------ a small spec of our own

_THING = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "secret", "label"],
    "x-linode-cli-display": 1,
    "properties": {
        "id": {"type": "integer", "readOnly": True, "x-linode-filterable": True},
        "label": {"type": "string", "nullable": True, "minLength": 1},
        "secret": {"type": "string", "writeOnly": True},
        "parent": {"$ref": "#/components/schemas/Thing", "nullable": True},
        "kind": {"type": "string", "enum": ["a", "b"], "nullable": True},
        "when": {"type": "string", "format": "date-time"},
        "ip": {"type": "string", "format": "ip"},
        "name": {"type": "string", "pattern": r"^\p{L}+$"},
        "shape": {
            "oneOf": [
                {"type": "object", "properties": {"r": {"type": "number"}}},
                {"type": "object", "properties": {"r": {"type": "number"}, "w": {"type": "number"}}},
            ],
            "discriminator": {"propertyName": "r"},
        },
    },
}
_PAGE = {
    "allOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"page": {"type": "integer"}, "pages": {"type": "integer"}, "results": {"type": "integer"}},
        },
        {"properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}},
    ]
}
_ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {
        "type": "object",
        "properties": {"errors": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "properties": {"reason": {"type": "string"}, "field": {"type": "string"}},
        }}},
    }}},
}
MINI = {
    "openapi": "3.0.1",
    "components": {"schemas": {"Thing": _THING}, "responses": {"Error": _ERROR}},
    "paths": {
        "/{apiVersion}/things": {
            "get": {"responses": {"200": {"content": {"application/json": {"schema": _PAGE}}},
                                  "default": {"$ref": "#/components/responses/Error"}}},
        },
        "/{apiVersion}/things/{thingId}": {
            "get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                                  "default": {"$ref": "#/components/responses/Error"}}},
            "delete": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}},
        },
        "/{apiVersion}/things/special": {
            "post": {"responses": {"204": {"description": "no body"}}},
        },
    },
}


@pytest.fixture(scope="module")
def mini():
    return OpenApiSpec(copy.deepcopy(MINI))


def thing(**overrides):
    return {"id": 1, "label": "one", **overrides}


def violations(spec, method, path, status, body, **kwargs):
    with pytest.raises(AssertionError) as caught:
        spec.validate_response(method, path, status, body, **kwargs)
    return str(caught.value)


def test_mini_valid_bodies_pass(mini):
    mini.validate_response("GET", "/v4/things/1", 200, thing())
    mini.validate_response("GET", "/v4/things/1", 200, thing(
        label=None, kind=None, parent=thing(id=2, parent=None, kind="b"), when="2024-01-01T00:00:00",
        ip="not checked", name="not checked either", shape={"r": 1},  # matches both oneOf branches
    ))
    mini.validate_response("GET", "/v4beta/things", 200, {"data": [thing()], "page": 1, "pages": 1, "results": 1})
    mini.validate_response("GET", "/v4/things/1", 404, {"errors": [{"reason": "Not found"}]})
    mini.validate_response("DELETE", "/v4/things/1", 200, {})
    mini.validate_response("POST", "/v4/things/special", 204, None)


def test_mini_conversion(mini):
    schema = mini.response_schema("GET", "/v4/things/1", 200)
    thing_schema = schema["definitions"]["components.schemas.Thing"]
    assert thing_schema["required"] == ["id", "label"]  # the writeOnly "secret" is gone
    assert "secret" not in thing_schema["properties"]
    assert thing_schema["properties"]["label"] == {"type": ["string", "null"], "minLength": 1}
    assert thing_schema["properties"]["kind"] == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert thing_schema["properties"]["name"] == {"type": "string"}  # an ECMA-only pattern is dropped
    assert "anyOf" in thing_schema["properties"]["shape"]
    assert not any(key.startswith("x-") or key == "readOnly" for key in thing_schema["properties"]["id"])
    page = mini.response_schema("GET", "/v4/things", 200)["allOf"][0]
    assert set(page["properties"]) == {"data", "page", "pages", "results"}
    assert page["additionalProperties"] is False
    assert mini.response_schema("POST", "/v4/things/special", 204) == {}


def test_mini_violations_are_all_listed_with_paths(mini):
    message = violations(mini, "GET", "/v4/things/1", 200, {
        "label": 5, "kind": "c", "when": "2024-01-01T00:00:00Z", "bogus": 1, "parent": {"id": "x", "label": "p"},
    })
    assert "GET /v4/things/1 -> 200" in message and "/{apiVersion}/things/{thingId}" in message
    assert "6 violation(s)" in message
    for line in (
        "$: 'id' is a required property",
        "$: Additional properties are not allowed ('bogus' was unexpected)",
        "$.label: 5 is not of type ['string', 'null']",
        "$.kind: 'c' is not one of ['a', 'b', None]",
        "$.when: '2024-01-01T00:00:00Z' is not a 'date-time'",
        "$.parent: matches none of the 2 alternatives",
        "$.parent.id: 'x' is not of type 'integer'",
    ):
        assert line in message, message


def test_mini_allow_extra(mini):
    body = thing(site_type="core", parent=thing(monitors={}))
    assert "'monitors' was unexpected" in violations(mini, "GET", "/v4/things/1", 200, body, allow_extra={"site_type"})
    mini.validate_response("GET", "/v4/things/1", 200, body, allow_extra={"site_type", "monitors"})


def test_mini_page_fields_are_required(mini):
    body = {"data": [thing()], "page": 1, "results": 1, "extra": 0}
    message = violations(mini, "GET", "/v4/things", 200, body)
    assert "$: a list page needs 'pages'" in message
    assert "('extra' was unexpected)" in message
    assert "2 violation(s)" in message
    mini.validate_response("GET", "/v4/things", 200, {"data": []}, require_page_fields=False)


def test_mini_lookup_errors(mini):
    with pytest.raises(KeyError, match="no path in Linode's OpenAPI spec matches '/v4/nothing/here'"):
        mini.response_schema("GET", "/v4/nothing/here", 200)
    with pytest.raises(KeyError, match="no path"):
        mini.response_schema("GET", "/v5/things", 200)  # not an API version
    with pytest.raises(KeyError, match=r"no PUT operation for '/v4/things/1' \(/\{apiVersion\}/things/\{thingId\} has GET, DELETE\)"):
        mini.response_schema("PUT", "/v4/things/1", 200)
    with pytest.raises(KeyError, match="no response 500"):
        mini.response_schema("DELETE", "/v4/things/1", 500)


def test_mini_path_matching(mini):
    assert mini.match_path("post", "/v4/things/special")[0] == "/{apiVersion}/things/special"
    assert mini.match_path("GET", "/v4/things/special")[0] == "/{apiVersion}/things/{thingId}"
    assert mini.match_path("GET", "http://localhost:8080/v4/things/7?page=2")[0] == "/{apiVersion}/things/{thingId}"
    assert mini.match_path("GET", "/{apiVersion}/things")[0] == "/{apiVersion}/things"
    assert sorted(mini.operations()) == [
        ("DELETE", "/{apiVersion}/things/{thingId}"), ("GET", "/{apiVersion}/things"),
        ("GET", "/{apiVersion}/things/{thingId}"), ("POST", "/{apiVersion}/things/special"),
    ]


def test_rejects_other_documents():
    with pytest.raises(ValueError, match="expected an OpenAPI 3.0 document"):
        OpenApiSpec({"swagger": "2.0", "paths": {}})


# --------------------------------------------------------------- locating and loading


def test_locate_spec_from_env(monkeypatch, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("openapi: 3.0.1\n")
    monkeypatch.setenv(ENV_VAR, str(spec))
    assert locate_spec(tmp_path / "anywhere") == (spec, f"${ENV_VAR}")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.yaml"))
    path, why = locate_spec()
    assert path is None and ENV_VAR in why and "missing.yaml" in why


def test_locate_spec_walks_up_to_a_shared_sibling(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    repo = tmp_path / "work" / "main"
    repo.mkdir(parents=True)
    path, why = locate_spec(repo)
    assert path is None and "not found" in why and ENV_VAR in why
    spec = tmp_path / "work" / "shared" / "reference" / SPEC_FILENAME
    spec.parent.mkdir(parents=True)
    spec.write_text("openapi: 3.0.1\n")
    assert locate_spec(repo)[0] == spec


def test_load_caches_json_by_hash(tmp_path):
    source = tmp_path / "tiny.yaml"
    source.write_text(
        "openapi: 3.0.1\n"
        "paths:\n"
        "  /{apiVersion}/x:\n"
        "    get:\n"
        "      responses:\n"
        "        200:\n"  # an int key in YAML
        "          content:\n"
        "            application/json:\n"
        "              schema: {type: object, properties: {t: {type: string, example: 2020-01-01T00:00:00}}}\n"
    )
    cache = tmp_path / "cache"
    first = OpenApiSpec.load(source, cache_dir=cache)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert first.loaded_from == str(source)
    assert (cache / f"stager-openapi-{digest}.json").is_file()
    second = OpenApiSpec.load(source, cache_dir=cache)
    assert second.loaded_from == str(cache / f"stager-openapi-{digest}.json")
    assert first.document == second.document
    second.validate_response("GET", "/v4/x", 200, {"t": "2020-01-01T00:00:00"})
    assert OpenApiSpec.load(source, cache_dir=False).loaded_from == str(source)


# ------------------------------------------------------------------- Linode's spec

TYPES_PAGE = {
    "data": [
        {
            "id": "g6-nanode-1", "label": "Nanode 1GB", "class": "nanode",
            "disk": 25600, "memory": 1024, "vcpus": 1, "gpus": 0, "network_out": 1000, "transfer": 1000,
            "price": {"hourly": 0.0075, "monthly": 5.0},
            "region_prices": [{"id": "id-cgk", "hourly": 0.009, "monthly": 6.0}],
            "addons": {"backups": {"price": {"hourly": 0.003, "monthly": 2.0},
                                   "region_prices": [{"id": "id-cgk", "hourly": 0.0036, "monthly": 2.4}]}},
            "successor": None,
        },
        {
            "id": "g1-gpu-rtx6000-1", "label": "Dedicated 32GB + RTX6000 GPU x1", "class": "gpu",
            "disk": 655360, "memory": 32768, "vcpus": 8, "gpus": 1, "network_out": 10000, "transfer": 16000,
            "price": {"hourly": 1.5, "monthly": 1000.0}, "region_prices": [],
            "addons": {"backups": {"price": {"hourly": 0.06, "monthly": 40.0}, "region_prices": []}},
            "successor": None,
        },
    ],
    "page": 1, "pages": 1, "results": 2,
}

REGIONS_PAGE = {
    "data": [
        {
            "id": "us-east", "label": "Newark, NJ", "country": "us",
            "capabilities": ["Linodes", "GPU Linodes", "Block Storage", "Object Storage", "Placement Groups"],
            "status": "ok",
            "resolvers": {"ipv4": "127.0.0.53", "ipv6": "::1"},
            "placement_group_limits": {"maximum_pgs_per_customer": None, "maximum_linodes_per_pg": 5},
            "site-type": "core",  # sic: the spec's spelling
        },
        {
            "id": "us-ord", "label": "Chicago, IL", "country": "us", "capabilities": ["Linodes"],
            "status": "outage", "resolvers": {"ipv4": "127.0.0.53", "ipv6": "::1"},
        },
    ],
    "page": 1, "pages": 1, "results": 2,
}


def test_linode_types_page_passes(openapi_spec):
    openapi_spec.validate_response("GET", "/v4/linode/types", 200, TYPES_PAGE)


def test_regions_page_passes(openapi_spec):
    openapi_spec.validate_response("GET", "/v4/regions", 200, REGIONS_PAGE)


def test_wrong_types_are_named_by_field(openapi_spec):
    body = copy.deepcopy(TYPES_PAGE)
    body["data"][1]["vcpus"] = "eight"
    body["data"][0]["class"] = "tiny"
    with pytest.raises(AssertionError) as caught:
        openapi_spec.validate_response("GET", "/v4/linode/types", 200, body)
    message = str(caught.value)
    assert "GET /v4/linode/types -> 200" in message and "2 violation(s)" in message
    assert "$.data[1].vcpus: 'eight' is not of type 'integer'" in message
    assert "$.data[0].class: 'tiny' is not one of" in message


def test_the_spec_lags_the_api_on_regions(openapi_spec):
    """The real API (and linode_api4's Region) say site_type and monitors; the spec
    says site-type and forbids anything else, hence allow_extra."""
    body = copy.deepcopy(REGIONS_PAGE)
    region = body["data"][0]
    region["site_type"] = region.pop("site-type")
    region["monitors"] = {"alerts": [], "metrics": []}
    with pytest.raises(AssertionError, match=r"\$\.data\[0\]: Additional properties are not allowed \('monitors', 'site_type' were unexpected\)"):
        openapi_spec.validate_response("GET", "/v4/regions", 200, body)
    openapi_spec.validate_response("GET", "/v4/regions", 200, body, allow_extra={"site_type", "monitors"})


def test_list_pages_are_data_page_pages_results(openapi_spec):
    for path in ("/v4/linode/types", "/v4/regions", "/v4/linode/instances", "/v4/account/events", "/v4/images"):
        schema = openapi_spec.response_schema("GET", path, 200)
        assert set(schema["properties"]) == {"data", "page", "pages", "results"}, path
        assert schema["properties"]["data"]["type"] == "array"
    body = {key: value for key, value in TYPES_PAGE.items() if key != "pages"}
    with pytest.raises(AssertionError, match="a list page needs 'pages'"):
        openapi_spec.validate_response("GET", "/v4/linode/types", 200, body)


def test_instance_nullable_and_date_time(openapi_spec):
    instance = {"id": 123, "label": "stager-1", "image": None, "status": "running", "created": "2024-01-01T00:00:00"}
    openapi_spec.validate_response("GET", "/v4/linode/instances/123", 200, instance)
    bad = {**instance, "created": "2024-01-01T00:00:00Z", "status": "exploded"}
    with pytest.raises(AssertionError) as caught:
        openapi_spec.validate_response("GET", "/v4/linode/instances/123", 200, bad)
    assert "$.created: '2024-01-01T00:00:00Z' is not a 'date-time'" in str(caught.value)
    assert "$.status: 'exploded' is not one of" in str(caught.value)


def test_errors_fall_back_to_default(openapi_spec):
    schema = openapi_spec.response_schema("GET", "/v4/regions/us-east", 404)
    assert set(schema["properties"]) == {"errors"}
    openapi_spec.validate_response("GET", "/v4/regions/nowhere", 404, {"errors": [{"reason": "Not found"}]})
    openapi_spec.validate_response("GET", "/v4/linode/instances", 400,
                                   {"errors": [{"reason": "Cannot filter on foo", "field": "X-Filter"}]})
    with pytest.raises(AssertionError, match=r"\$\.errors\[0\]\.reason: 5 is not of type 'string'"):
        openapi_spec.validate_response("GET", "/v4/regions/nowhere", 404, {"errors": [{"reason": 5}]})


def test_unknown_paths_and_methods_raise_key_error(openapi_spec):
    with pytest.raises(KeyError, match="no path in Linode's OpenAPI spec matches '/v4/gpu/clusters'"):
        openapi_spec.response_schema("GET", "/v4/gpu/clusters", 200)
    with pytest.raises(KeyError, match="no DELETE operation for '/v4/regions'"):
        openapi_spec.validate_response("DELETE", "/v4/regions", 200, {})


@pytest.mark.slow
def test_load_times_cold_and_warm(tmp_path, capsys):
    path, why = locate_spec()
    if path is None:
        pytest.skip(why)
    start = time.perf_counter()
    cold = OpenApiSpec.load(path, cache_dir=tmp_path)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    warm = OpenApiSpec.load(path, cache_dir=tmp_path)
    warm_s = time.perf_counter() - start
    assert cold.loaded_from == str(path) and warm.loaded_from != str(path)
    assert cold.document == warm.document
    with capsys.disabled():
        print(f"\nLinode OpenAPI spec load: cold (YAML) {cold_s:.2f} s, warm (JSON cache) {warm_s:.3f} s")
    assert warm_s < 1.0


def test_the_fixture_caches_under_the_repo(openapi_spec):
    digest = hashlib.sha256(openapi_spec.source.read_bytes()).hexdigest()
    assert (REPO_ROOT / ".pytest_cache" / f"stager-openapi-{digest}.json").is_file()
