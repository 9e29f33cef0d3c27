"""Check the emulator's JSON responses against Linode's own OpenAPI 3.0 spec.

The spec (``linode-openapi-v4.189.0.yaml``, ~74k lines) is not part of the repo. It is
found through ``$STAGER_LINODE_OPENAPI`` or, walking up from the repo root, at
``<dir>/shared/reference/linode-openapi-v4.189.0.yaml``; see :func:`locate_spec`. Tests
get it from the session fixture ``openapi_spec`` (``conftest.py``), which skips them
when it cannot be found.

Parsing the YAML takes over a second, so the parsed document is cached as JSON in
``<repo>/.pytest_cache/stager-openapi-<sha256 of the yaml>.json``.

Each response schema is converted to a JSON Schema (Draft 4, whose boolean
``exclusiveMinimum`` matches OpenAPI 3.0) the first time it is asked for:

* ``nullable: true`` -> ``type: [t, "null"]`` (and ``null`` added to an ``enum``);
  without a ``type``, ``anyOf: [{"type": "null"}, ...]``.
* ``writeOnly`` properties are dropped from responses (and from ``required``).
* ``allOf`` whose branches are partial objects is merged into one object (properties
  and ``required`` united, ``additionalProperties: false`` kept if any branch has it):
  the spec writes its list pages as ``allOf: [{page, pages, results,
  additionalProperties: false}, {data}]``, which no body could pass branch by branch.
* ``oneOf`` is checked as ``anyOf``: the spec's alternatives overlap.
* ``$ref`` (local, ``#/...``) becomes a shared definition, so recursion is fine.
* ``readOnly``, ``discriminator``, ``example``, ``x-linode-*`` and other annotations are
  dropped. ``format`` is not checked, except ``date-time``, which must be Linode's
  ``YYYY-MM-DDTHH:MM:SS`` (what linode_api4 parses with ``strptime``).
* ``required`` and ``additionalProperties: false`` are enforced as the spec writes
  them. The spec sets ``additionalProperties: false`` almost everywhere and lags the
  real API (``regions`` says ``site-type`` where the API and linode_api4 use
  ``site_type``), so :meth:`OpenApiSpec.validate_response` takes ``allow_extra``:
  property names accepted anywhere on top of the spec's.
* A list page (an object whose schema has ``data``, ``page``, ``pages`` and
  ``results``) must carry all four: the spec marks none of them required, but
  linode_api4 only paginates when ``pages`` is there.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from jsonschema import Draft4Validator, FormatChecker, ValidationError, validators

__all__ = [
    "ENV_VAR",
    "PAGE_FIELDS",
    "REPO_ROOT",
    "SPEC_FILENAME",
    "OpenApiSpec",
    "locate_spec",
]

ENV_VAR = "STAGER_LINODE_OPENAPI"
SPEC_FILENAME = "linode-openapi-v4.189.0.yaml"
REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE_FIELDS = ("data", "page", "pages", "results")
_API_VERSIONS = frozenset({"v4", "v4beta"})
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
_LINODE_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")

# JSON Schema keywords kept from an OpenAPI schema object; everything else
# (nullable, readOnly, writeOnly, discriminator, example, x-*, ...) is handled or dropped.
_KEEP = frozenset({
    "type", "enum", "format", "properties", "additionalProperties", "items", "required",
    "allOf", "anyOf", "oneOf", "not", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "minItems",
    "maxItems", "uniqueItems", "minProperties", "maxProperties",
})
# Keys that may differ between allOf branches without stopping a merge.
_ANNOTATIONS = frozenset({
    "description", "title", "example", "examples", "externalDocs", "readOnly", "writeOnly",
    "deprecated", "default", "xml",
})


# ------------------------------------------------------------------------ locating


def locate_spec(start: Path | None = None) -> tuple[Path | None, str]:
    """Where the spec is: ``(path, how it was found)`` or ``(None, why not)``.

    ``$STAGER_LINODE_OPENAPI`` wins when set (a missing file is then an error, not a
    reason to look elsewhere); otherwise ``start`` (the repo root) and each of its
    parents is tried for ``shared/reference/linode-openapi-v4.189.0.yaml``.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser()
        if path.is_file():
            return path, f"${ENV_VAR}"
        return None, f"${ENV_VAR}={override} is not a file"
    start = (start or REPO_ROOT).resolve()
    for directory in (start, *start.parents):
        candidate = directory / "shared" / "reference" / SPEC_FILENAME
        if candidate.is_file():
            return candidate, f"found above {start}"
    return None, (
        f"Linode's OpenAPI spec not found: set ${ENV_VAR} or put it at "
        f"<a parent of {start}>/shared/reference/{SPEC_FILENAME}"
    )


def _json_default(value: Any) -> str:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _parse_yaml(data: bytes) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(data, Loader=loader)


# ---------------------------------------------------------------------- converting


def _linode_datetime(value: Any) -> bool:
    return not isinstance(value, str) or _LINODE_DATETIME.fullmatch(value) is not None


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(_linode_datetime)


def _pointer_get(document: Any, ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, not {ref!r}")
    node = document
    for raw in ref[2:].split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(f"$ref {ref!r} points at nothing")
    return node


class _Converter:
    """OpenAPI 3.0 schema objects -> Draft 4 JSON Schema, for one direction."""

    def __init__(self, document: dict, *, response: bool = True) -> None:
        self.document = document
        self.response = response
        self.definitions: dict[str, Any] = {}
        self._keys: dict[str, str] = {}

    def convert_root(self, node: Any) -> dict:
        schema = self.convert(node)
        if self.definitions:
            return {"allOf": [schema], "definitions": dict(self.definitions)}
        return schema

    def resolve(self, node: Any, seen: frozenset[str] = frozenset()) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                return None
            seen = seen | {ref}
            node = _pointer_get(self.document, ref)
        return node

    def _definition(self, ref: str) -> str:
        key = self._keys.get(ref)
        if key is None:
            key = re.sub(r"[^A-Za-z0-9_.-]", "_", ref[2:].replace("/", ".")) or "root"
            while key in self.definitions:
                key += "_"
            self._keys[ref] = key
            self.definitions[key] = {}  # placeholder: a recursive $ref stops here
            self.definitions[key] = self.convert(_pointer_get(self.document, ref))
        return key

    def _hidden(self, node: Any) -> bool:
        """writeOnly in a response (readOnly in a request): not part of the body."""
        flag = "writeOnly" if self.response else "readOnly"
        node = self.resolve(node)
        if not isinstance(node, dict):
            return False
        branches = [self.resolve(branch) for branch in node.get("allOf", ())]
        return any(isinstance(each, dict) and each.get(flag) is True for each in (node, *branches))

    def convert(self, node: Any) -> Any:
        if isinstance(node, bool):
            return {} if node else {"not": {}}
        if not isinstance(node, dict):
            return {}
        if "$ref" in node:
            schema: dict = {"$ref": f"#/definitions/{self._definition(node['$ref'])}"}
            return {"anyOf": [{"type": "null"}, schema]} if node.get("nullable") is True else schema
        if "allOf" in node:
            node = self._merge_all_of(node) or node
        out: dict[str, Any] = {}
        hidden: set[str] = set()
        for key, value in node.items():
            if key not in _KEEP:
                continue
            if key == "properties" and isinstance(value, dict):
                props = {}
                for name, sub in value.items():
                    if self._hidden(sub):
                        hidden.add(name)
                    else:
                        props[name] = self.convert(sub)
                out["properties"] = props
            elif key in ("items", "not"):
                out[key] = self.convert(value)
            elif key == "additionalProperties":
                out[key] = value if isinstance(value, bool) else self.convert(value)
            elif key == "allOf":
                out.setdefault("allOf", []).extend(self.convert(sub) for sub in value)
            elif key in ("anyOf", "oneOf"):
                branches = [self.convert(sub) for sub in value]
                if "anyOf" in out:
                    out.setdefault("allOf", []).append({"anyOf": branches})
                else:
                    out["anyOf"] = branches
            elif key == "pattern":
                try:
                    re.compile(value)
                except (re.error, TypeError):
                    continue  # an ECMA-only pattern: not checked
                out[key] = value
            else:
                out[key] = value
        if "required" in out:
            required = [name for name in out["required"] if name not in hidden]
            if required:
                out["required"] = required
            else:
                del out["required"]
        if node.get("nullable") is True:
            if isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
                if isinstance(out.get("enum"), list) and None not in out["enum"]:
                    out["enum"] = [*out["enum"], None]
            elif out:
                out = {"anyOf": [{"type": "null"}, out]}
        return out

    def _flat(self, node: Any, seen: frozenset[str]) -> dict | None:
        """A branch of an allOf, $refs followed and its own allOf merged; None when
        it cannot be merged."""
        refs = seen
        while isinstance(node, dict) and "$ref" in node:
            if node["$ref"] in refs:
                return None
            refs = refs | {node["$ref"]}
            node = _pointer_get(self.document, node["$ref"])
        if not isinstance(node, dict):
            return None
        if "allOf" in node:
            return self._merge_all_of(node, refs)
        return node

    def _merge_all_of(self, node: dict, seen: frozenset[str] = frozenset()) -> dict | None:
        base = {key: value for key, value in node.items() if key != "allOf"}
        merged = dict(base)
        branches = []
        for raw in node["allOf"]:
            branch = self._flat(raw, seen)
            if branch is None:
                return None
            branches.append(branch)
            for key, value in branch.items():
                if key == "nullable":
                    continue
                if key not in merged:
                    merged[key] = value
                    continue
                current = merged[key]
                if key == "properties":
                    combined = dict(current)
                    for name, sub in value.items():
                        combined[name] = {"allOf": [combined[name], sub]} if name in combined else sub
                    merged[key] = combined
                elif key == "required":
                    merged[key] = [*current, *(name for name in value if name not in current)]
                elif key == "additionalProperties":
                    if current is False or value is False:
                        merged[key] = False
                    elif current != value:
                        return None
                elif key in _ANNOTATIONS or key.startswith("x-") or current == value:
                    continue
                else:
                    return None  # conflicting constraints: keep the allOf
        if "nullable" not in base:
            merged["nullable"] = bool(branches) and all(b.get("nullable") is True for b in branches)
        return merged


def _additional_properties_allowing(names: frozenset[str]):
    def additional_properties(validator, allowed, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        known = schema.get("properties", {})
        extras = [name for name in instance if name not in known]
        if validator.is_type(allowed, "object"):
            for name in extras:
                yield from validator.descend(instance[name], allowed, path=name)
        elif allowed is False:
            extras = sorted(name for name in extras if name not in names)
            if extras:
                listed = ", ".join(repr(name) for name in extras)
                verb = "was" if len(extras) == 1 else "were"
                yield ValidationError(f"Additional properties are not allowed ({listed} {verb} unexpected)")

    return additional_properties


_VALIDATOR_CLASSES: dict[frozenset[str], type] = {}


def _validator_class(allow_extra: frozenset[str]) -> type:
    cls = _VALIDATOR_CLASSES.get(allow_extra)
    if cls is None:
        cls = validators.extend(
            Draft4Validator, {"additionalProperties": _additional_properties_allowing(allow_extra)}
        )
        _VALIDATOR_CLASSES[allow_extra] = cls
    return cls


def _root_properties(schema: dict) -> dict:
    """The ``properties`` of a converted schema's top object, through its wrapper and $refs."""
    node = schema["allOf"][0] if "definitions" in schema else schema
    for _ in range(len(schema.get("definitions", ())) + 1):
        ref = node.get("$ref", "") if isinstance(node, dict) else ""
        if not ref.startswith("#/definitions/"):
            break
        node = schema["definitions"][ref[len("#/definitions/"):]]
    return node.get("properties", {}) if isinstance(node, dict) else {}


# ---------------------------------------------------------------------- reporting


def _json_path(parts: Iterable[Any]) -> str:
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(error: ValidationError, indent: str = "  ") -> Iterator[str]:
    where = _json_path(error.absolute_path)
    if error.validator in ("anyOf", "oneOf") and error.context:
        by_branch: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        yield f"{indent}{where}: matches none of the {len(error.validator_value)} alternatives"
        # closest: a branch whose type fits (its errors lie deeper), then the fewest errors
        branch, errors = min(
            by_branch.items(),
            key=lambda item: (
                any(e.validator == "type" and e.absolute_path == error.absolute_path for e in item[1]),
                len(item[1]),
            ),
        )
        yield f"{indent}  closest, alternative #{branch}:"
        for sub in sorted(errors, key=lambda e: _json_path(e.absolute_path)):
            yield from _describe(sub, indent + "    ")
        return
    if error.validator == "type":
        message = f"{_short(repr(error.instance), 80)} is not of type {error.validator_value!r}"
    elif error.validator == "enum":
        message = f"{_short(repr(error.instance), 80)} is not one of {_short(repr(error.validator_value), 160)}"
    elif error.validator == "format" and error.validator_value == "date-time":
        message = f"{_short(error.message)} (Linode writes YYYY-MM-DDTHH:MM:SS, no zone)"
    else:
        message = _short(error.message)
    yield f"{indent}{where}: {message}"


# ---------------------------------------------------------------------------- spec


class OpenApiSpec:
    """Linode's OpenAPI document, answering "does this response body conform?"."""

    def __init__(self, document: dict, *, source: Path | None = None) -> None:
        version = str(document.get("openapi", ""))
        if not version.startswith("3.0"):
            raise ValueError(f"expected an OpenAPI 3.0 document, got openapi={version!r}")
        self.document = document
        self.source = source
        self.loaded_from: str = "document"
        self._templates = [
            (template, tuple(template.strip("/").split("/"))) for template in document.get("paths", {})
        ]
        self._schemas: dict[tuple[str, str, str], dict] = {}
        self._validators: dict[tuple[str, str, str, frozenset[str]], Any] = {}

    # -- loading

    @classmethod
    def load(cls, path: Path | str, *, cache_dir: Path | str | None | bool = None) -> OpenApiSpec:
        """Parse the YAML at ``path``, through a JSON cache keyed by its sha256.

        ``cache_dir``: where the cache lives (default ``<repo>/.pytest_cache``);
        ``False`` for no cache. A cache that cannot be written is skipped silently.
        """
        path = Path(path)
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        cache_file = None
        if cache_dir is not False:
            directory = REPO_ROOT / ".pytest_cache" if cache_dir in (None, True) else Path(cache_dir)
            cache_file = directory / f"stager-openapi-{digest}.json"
            try:
                document = json.loads(cache_file.read_bytes())
            except (OSError, ValueError):
                pass
            else:
                spec = cls(document, source=path)
                spec.loaded_from = str(cache_file)
                return spec
        text = json.dumps(_parse_yaml(data), default=_json_default, separators=(",", ":"))
        if cache_file is not None:
            try:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                partial = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
                partial.write_text(text, encoding="utf-8")
                os.replace(partial, cache_file)
            except OSError:
                pass
        spec = cls(json.loads(text), source=path)
        spec.loaded_from = str(path)
        return spec

    # -- looking up

    def operations(self) -> Iterator[tuple[str, str]]:
        """Every ``(METHOD, template)`` the spec defines."""
        for template, item in self.document.get("paths", {}).items():
            for method in _METHODS:
                if method in item:
                    yield method.upper(), template

    def match_path(self, method: str, path: str) -> tuple[str, dict]:
        """``(template, operation)`` for a concrete path such as ``/v4/linode/instances/123``
        (scheme, host and query are ignored; a template itself is accepted too). The
        template with the most literal segments, leftmost first, wins."""
        method = method.lower()
        paths = self.document.get("paths", {})
        if path in paths and method in paths[path]:
            return path, paths[path][method]
        bare = urlsplit(path).path if "://" in path or "?" in path else path
        segments = tuple(unquote(part) for part in bare.strip("/").split("/"))
        if len(segments) > 3 and segments[1] == "images" and segments[2] in ("private", "linode"):
            # An image id ("private/12", "linode/debian12") is one path parameter spanning two segments.
            segments = (*segments[:2], "/".join(segments[2:4]), *segments[4:])
        candidates = []
        for template, parts in self._templates:
            if len(parts) != len(segments):
                continue
            literal = []
            for part, segment in zip(parts, segments):
                is_param = part.startswith("{") and part.endswith("}")
                if is_param:
                    if not segment or (part == "{apiVersion}" and segment not in _API_VERSIONS):
                        break
                elif part != segment:
                    break
                literal.append(not is_param)
            else:
                candidates.append((tuple(literal), template))
        if not candidates:
            raise KeyError(f"no path in Linode's OpenAPI spec matches {path!r}")
        candidates.sort(reverse=True)
        for _, template in candidates:
            if method in paths[template]:
                return template, paths[template][method]
        template = candidates[0][1]
        methods = ", ".join(m.upper() for m in _METHODS if m in paths[template])
        raise KeyError(f"no {method.upper()} operation for {path!r} ({template} has {methods})")

    def _response(self, operation: dict, status: int) -> tuple[str, dict]:
        responses = operation.get("responses", {})
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                return key, _pointer_get(self.document, responses[key]["$ref"]) if "$ref" in responses[key] else responses[key]
        raise KeyError(f"no response {status} (nor a default) in {operation.get('operationId', '?')}; has {sorted(responses)}")

    def _lookup(self, method: str, path: str, status: int) -> tuple[str, str, dict]:
        template, operation = self.match_path(method, path)
        status_key, response = self._response(operation, status)
        key = (method.upper(), template, status_key)
        if key not in self._schemas:
            content = response.get("content") or {}
            media = "application/json" if "application/json" in content else next(
                (name for name in content if "json" in name), None
            )
            raw = content[media].get("schema") if media else None
            self._schemas[key] = _Converter(self.document).convert_root(raw) if raw else {}
        return template, status_key, self._schemas[key]

    def response_schema(self, method: str, path: str, status: int) -> dict:
        """The JSON Schema (Draft 4) a ``status`` response body of ``METHOD path`` must
        match: the spec's exact status, else ``NXX``, else ``default``. ``{}`` when the
        response has no JSON body. Cached: do not modify it. KeyError when the spec has
        no such operation or response."""
        return self._lookup(method, path, status)[2]

    def validate_response(
        self,
        method: str,
        path: str,
        status: int,
        body: Any,
        *,
        allow_extra: Iterable[str] = (),
        require_page_fields: bool = True,
    ) -> None:
        """Raise AssertionError listing every way ``body`` breaks the spec, each with
        its JSON path (``$.data[0].vcpus: 'eight' is not of type 'integer'``).

        ``allow_extra``: property names accepted wherever the spec forbids extra
        properties (fields the real API has and the spec lacks, e.g. ``site_type``).
        ``require_page_fields``: a list page must have data, page, pages and results.
        """
        template, status_key, schema = self._lookup(method, path, status)
        allowed = frozenset(allow_extra)
        key = (method.upper(), template, status_key, allowed)
        validator = self._validators.get(key)
        if validator is None:
            validator = _validator_class(allowed)(schema, format_checker=_FORMATS)
            self._validators[key] = validator
        errors = sorted(validator.iter_errors(body), key=lambda e: (_json_path(e.absolute_path), e.message))
        problems = [line for error in errors for line in _describe(error)]
        count = len(errors)
        if require_page_fields and isinstance(body, dict) and set(PAGE_FIELDS) <= set(_root_properties(schema)):
            missing = [name for name in PAGE_FIELDS if name not in body]
            if missing:
                count += 1
                problems.append(f"  $: a list page needs {', '.join(map(repr, missing))} (data, page, pages, results)")
        if problems:
            raise AssertionError(
                f"{method.upper()} {path} -> {status} does not match Linode's OpenAPI spec "
                f"({method.upper()} {template}, response {status_key!r}); {count} violation(s):\n"
                + "\n".join(problems)
            )
