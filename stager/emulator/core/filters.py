"""Linode's ``X-Filter`` header: parse it once, then filter and order list results.

The header is a JSON object (see "Filtering and sorting" in Linode's API docs and
``linode_api4.objects.filtering``)::

    {"label": "web-1"}                               equality
    {"tags": "gpu"}                                  a list field: "contains"
    {"entity.id": 5} or {"entity": {"id": 5}}        dotted or nested fields
    {"vcpus": {"+gte": 4, "+lt": 16}}                operators, ANDed together
    {"created": {"+gt": "2024-01-01T00:00:00"}}      date-times compare as strings
    {"label": {"+contains": "web"}}                  substring (list: membership)
    {"region": {"+neq": "us-east"}}
    {"status": {"+or": ["running", "booting"]}}      any of several values
    {"+or": [{"group": "a"}, {"group": "b"}]}        any of several sub-filters
    {"+and": [{"group": "a"}, {"region": "b"}]}
    {"+order_by": "label", "+order": "desc"}         sort (asc by default)
    {"+limit": 5}                                    what ``linode_api4.limit()`` sends

Top-level keys are ANDed. ``linode_api4`` sends ``and_(a, b)`` as ``{"+and": [a, b]}``,
so passing a filter and ``order_by(...)`` to one list call puts ``+order_by`` inside a
``+and``: it is taken from there too (never from inside a ``+or``).

Everything wrong with a header raises :class:`FilterError`, which the API turns into
``400 {"errors": [{"reason": ..., "field": "X-Filter"}]}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Filter", "FilterError", "parse_filter"]

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "+gt": lambda a, b: a > b,
    "+gte": lambda a, b: a >= b,
    "+lt": lambda a, b: a < b,
    "+lte": lambda a, b: a <= b,
}
_FIELD_OPERATORS = frozenset({*_COMPARISONS, "+neq", "+contains", "+or", "+and"})
_TOP_OPERATORS = frozenset({"+and", "+or", "+order_by", "+order", "+limit"})


class FilterError(ValueError):
    """A bad ``X-Filter`` header.

    ``reason`` is the message for the user; ``field`` is the request field the API
    names in its error (always ``"X-Filter"``); ``filter_field`` is the data field
    the problem is about (``"entity.id"``), when there is one.
    """

    status = 400

    def __init__(self, reason: str, *, filter_field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = "X-Filter"
        self.filter_field = filter_field

    @property
    def errors(self) -> list[dict[str, str]]:
        """The ``errors`` list of Linode's 400 response body."""
        return [{"reason": self.reason, "field": self.field}]

    def to_response(self) -> dict[str, list[dict[str, str]]]:
        """The whole 400 response body: ``{"errors": [{"reason": ..., "field": "X-Filter"}]}``."""
        return {"errors": self.errors}


# --------------------------------------------------------------------------- values


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from 0 and 1 (``True == 1`` in Python)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _resolve(obj: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path``; None when it is missing. Walking through a list of
    objects gives the list of the values found in them."""
    current = obj
    for part in path:
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list):
            found = []
            for element in current:
                if isinstance(element, dict) and part in element:
                    value = element[part]
                    found.extend(value if isinstance(value, list) else [value])
            current = found
        else:
            return None
    return current


def _compare(value: Any, operator: str, operand: Any) -> bool:
    if isinstance(value, list):
        return any(_compare(element, operator, operand) for element in value)
    same_kind = (_is_number(value) and _is_number(operand)) or (
        isinstance(value, str) and isinstance(operand, str)
    )
    return same_kind and _COMPARISONS[operator](value, operand)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Orders values of mixed kinds without a TypeError: nulls first, then booleans,
    numbers, strings, and anything else by its JSON text."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if _is_number(value):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, json.dumps(value, sort_keys=True, default=str))


# ---------------------------------------------------------------------- conditions
# A condition tests the value found at a field; a node tests a whole object.


@dataclass(frozen=True)
class _Equals:
    expected: Any

    def test(self, value: Any) -> bool:
        if isinstance(value, list) and not isinstance(self.expected, list):
            return any(_equal(element, self.expected) for element in value)
        return _equal(value, self.expected)


@dataclass(frozen=True)
class _NotEquals:
    unexpected: Any

    def test(self, value: Any) -> bool:
        return not _Equals(self.unexpected).test(value)


@dataclass(frozen=True)
class _Compare:
    operator: str
    operand: Any

    def test(self, value: Any) -> bool:
        return _compare(value, self.operator, self.operand)


@dataclass(frozen=True)
class _Contains:
    needle: Any

    def test(self, value: Any) -> bool:
        if isinstance(value, list):
            return any(_equal(element, self.needle) for element in value)
        if isinstance(value, str):
            return str(self.needle) in value
        return False


@dataclass(frozen=True)
class _AllOf:
    conditions: tuple[Any, ...]

    def test(self, value: Any) -> bool:
        return all(condition.test(value) for condition in self.conditions)


@dataclass(frozen=True)
class _AnyOf:
    conditions: tuple[Any, ...]

    def test(self, value: Any) -> bool:
        return any(condition.test(value) for condition in self.conditions)


@dataclass(frozen=True)
class _FieldNode:
    name: str
    path: tuple[str, ...]
    condition: Any

    def matches(self, obj: dict) -> bool:
        return self.condition.test(_resolve(obj, self.path))


@dataclass(frozen=True)
class _AndNode:
    children: tuple[Any, ...]

    def matches(self, obj: dict) -> bool:
        return all(child.matches(obj) for child in self.children)


@dataclass(frozen=True)
class _OrNode:
    children: tuple[Any, ...]

    def matches(self, obj: dict) -> bool:
        return any(child.matches(obj) for child in self.children)


# -------------------------------------------------------------------------- parser


def _field_path(name: str, *, where: str) -> tuple[str, ...]:
    path = tuple(name.split("."))
    if not name or any(not part for part in path):
        raise FilterError(f"Invalid field name {name!r} in {where}", filter_field=name or None)
    return path


def _check_scalar(operator: str, value: Any, field_name: str) -> None:
    if operator in _COMPARISONS:
        if not (_is_number(value) or isinstance(value, str)):
            raise FilterError(
                f"{operator} on {field_name} needs a number or a date-time string, "
                f"not {json.dumps(value)}",
                filter_field=field_name,
            )
    elif operator == "+contains":
        if not (isinstance(value, str) or _is_number(value)):
            raise FilterError(
                f"+contains on {field_name} needs a string, not {json.dumps(value)}",
                filter_field=field_name,
            )
    elif operator == "+neq" and isinstance(value, (dict, list)):
        raise FilterError(
            f"+neq on {field_name} needs a single value, not {json.dumps(value)}",
            filter_field=field_name,
        )


class _Parser:
    def __init__(self) -> None:
        self.fields: set[str] = set()
        self.order_by: str | None = None
        self.order: str | None = None
        self.limit: int | None = None

    # -- objects: {"field": ..., "+and": [...], ...}

    def node(self, spec: Any, *, prefix: tuple[str, ...] = (), can_order: bool, where: str) -> Any:
        if not isinstance(spec, dict):
            raise FilterError(f"{where} must be a JSON object, not {json.dumps(spec)}")
        children = []
        for key, value in spec.items():
            if not isinstance(key, str):  # pragma: no cover - JSON keys are strings
                raise FilterError(f"Invalid key {key!r} in {where}")
            if key.startswith("+"):
                children.extend(self.top_operator(key, value, prefix=prefix, can_order=can_order, where=where))
            else:
                children.append(self.field(prefix + _field_path(key, where=where), value))
        return children[0] if len(children) == 1 else _AndNode(tuple(children))

    def top_operator(self, key: str, value: Any, *, prefix: tuple[str, ...], can_order: bool, where: str) -> list:
        if key in ("+and", "+or"):
            if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                raise FilterError(f"{key} needs a list of filter objects, not {json.dumps(value)}")
            children = tuple(
                self.node(item, prefix=prefix, can_order=can_order and key == "+and", where=f"{key}[{i}]")
                for i, item in enumerate(value)
            )
            return [_AndNode(children) if key == "+and" else _OrNode(children)]
        if key in ("+order_by", "+order", "+limit"):
            if not can_order or prefix:
                raise FilterError(f"{key} is only allowed at the top level of X-Filter")
            self.sort_option(key, value)
            return []
        if key in _FIELD_OPERATORS:
            raise FilterError(f"{key} must be applied to a field, e.g. {{\"vcpus\": {{\"{key}\": ...}}}}")
        raise FilterError(f"Unknown filter operator {key!r}")

    def sort_option(self, key: str, value: Any) -> None:
        if key == "+order_by":
            if not isinstance(value, str):
                raise FilterError(f"+order_by needs a field name, not {json.dumps(value)}")
            if self.order_by is not None:
                raise FilterError("+order_by may only be given once")
            _field_path(value, where="+order_by")
            self.order_by = value
        elif key == "+order":
            if not isinstance(value, str) or value.lower() not in ("asc", "desc"):
                raise FilterError(f"+order must be \"asc\" or \"desc\", not {json.dumps(value)}")
            if self.order is not None:
                raise FilterError("+order may only be given once")
            self.order = value.lower()
        else:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FilterError(f"+limit needs a positive integer, not {json.dumps(value)}")
            if self.limit is not None:
                raise FilterError("+limit may only be given once")
            self.limit = value

    # -- fields: {"field": value | {"+op": ...} | {"nested": ...}}

    def field(self, path: tuple[str, ...], value: Any) -> Any:
        name = ".".join(path)
        if isinstance(value, dict):
            operators = [key for key in value if key.startswith("+")]
            if not value:
                raise FilterError(f"Empty filter object for {name}", filter_field=name)
            if operators and len(operators) != len(value):
                raise FilterError(
                    f"Cannot mix operators and nested fields in the filter on {name}", filter_field=name
                )
            if not operators:  # {"entity": {"id": 5}} is {"entity.id": 5}
                return self.node(value, prefix=path, can_order=False, where=name)
        self.fields.add(name)
        return _FieldNode(name, path, self.condition(value, name))

    def condition(self, value: Any, name: str) -> Any:
        if not isinstance(value, dict):
            return _Equals(value)
        conditions = []
        for operator, operand in value.items():
            if not operator.startswith("+"):
                raise FilterError(f"Cannot mix operators and nested fields in the filter on {name}", filter_field=name)
            if operator not in _FIELD_OPERATORS:
                raise FilterError(f"Unknown filter operator {operator!r} on {name}", filter_field=name)
            if operator in ("+or", "+and"):
                if not isinstance(operand, list):
                    raise FilterError(f"{operator} on {name} needs a list, not {json.dumps(operand)}", filter_field=name)
                parts = tuple(self.condition(item, name) for item in operand)
                conditions.append(_AnyOf(parts) if operator == "+or" else _AllOf(parts))
                continue
            _check_scalar(operator, operand, name)
            if operator == "+neq":
                conditions.append(_NotEquals(operand))
            elif operator == "+contains":
                conditions.append(_Contains(operand))
            else:
                conditions.append(_Compare(operator, operand))
        return conditions[0] if len(conditions) == 1 else _AllOf(tuple(conditions))


# -------------------------------------------------------------------------- public


@dataclass(frozen=True)
class Filter:
    """A parsed ``X-Filter``. Build it with :func:`parse_filter`."""

    root: Any = None
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None
    fields: frozenset[str] = field(default_factory=frozenset)
    """The data fields filtered on (dotted), not counting ``order_by``."""

    @property
    def match_all(self) -> bool:
        return self.root is None

    def check_filterable(self, filterable: Collection[str] | None) -> None:
        """Raise ``FilterError("Cannot filter on <field>")`` for the first field (in
        sorted order) that ``filterable`` does not allow. A dotted field is allowed
        when it or any of its prefixes is listed ("entity" allows "entity.id")."""
        if filterable is None:
            return
        allowed = set(filterable)
        used = set(self.fields)
        if self.order_by is not None:
            used.add(self.order_by)
        for name in sorted(used):
            parts = name.split(".")
            if not any(".".join(parts[:n]) in allowed for n in range(1, len(parts) + 1)):
                raise FilterError(f"Cannot filter on {name}", filter_field=name)

    def matches(self, obj: dict) -> bool:
        if self.root is None:
            return True
        return isinstance(obj, dict) and self.root.matches(obj)

    def order(self, items: list[dict]) -> list[dict]:
        """A new list sorted by ``+order_by`` (stable; ascending unless ``+order`` is
        "desc"; nulls first when ascending). Without ``+order_by``, the items as given."""
        if self.order_by is None:
            return list(items)
        path = tuple(self.order_by.split("."))
        return sorted(items, key=lambda item: _sort_key(_resolve(item, path)), reverse=self.descending)

    def apply(self, items: Iterable[dict], filterable: Collection[str] | None = None) -> list[dict]:
        """Filter, order, then cut to ``+limit``."""
        self.check_filterable(filterable)
        result = self.order([item for item in items if self.matches(item)])
        return result if self.limit is None else result[: self.limit]


def parse_filter(header: str | bytes | dict | None, filterable: Collection[str] | None = None) -> Filter:
    """Parse an ``X-Filter`` header value (its JSON text; an already decoded dict is
    accepted too). None or blank gives a filter that matches everything.

    ``filterable``: the fields this collection can be filtered and ordered on; any
    other raises ``FilterError("Cannot filter on <field>")``. None allows all.
    """
    if header is None:
        return Filter()
    if isinstance(header, dict):
        spec: Any = header
    else:
        if isinstance(header, bytes):
            try:
                header = header.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FilterError(f"X-Filter is not valid UTF-8: {exc}") from None
        if not header.strip():
            return Filter()
        try:
            spec = json.loads(header)
        except json.JSONDecodeError as exc:
            raise FilterError(f"X-Filter is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise FilterError(f"X-Filter must be a JSON object, not {type(spec).__name__}")
    parser = _Parser()
    root = parser.node(spec, can_order=True, where="X-Filter") if spec else None
    if isinstance(root, _AndNode) and not root.children:
        root = None  # only sort options
    if parser.order is not None and parser.order_by is None:
        raise FilterError("+order needs +order_by")
    result = Filter(
        root=root,
        order_by=parser.order_by,
        descending=parser.order == "desc",
        limit=parser.limit,
        fields=frozenset(parser.fields),
    )
    result.check_filterable(filterable)
    return result
