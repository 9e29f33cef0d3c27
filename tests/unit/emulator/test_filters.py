"""X-Filter parsing and matching, on plain dicts and on the exact JSON linode_api4 sends."""

from __future__ import annotations

import json

import pytest
from linode_api4 import Event, Image, Instance, LinodeClient, Type, and_, or_
from linode_api4.objects.filtering import limit, order_by
from linode_api4.polling import EventPoller

from stager.emulator.core.filters import Filter, FilterError, parse_filter

INSTANCES = [
    {"id": 1, "label": "web-1", "group": "prod", "region": "us-east", "tags": ["gpu", "train"],
     "status": "running", "specs": {"vcpus": 8, "memory": 32768}, "created": "2024-01-02T10:00:00",
     "image": "linode/ubuntu22.04", "watchdog_enabled": True},
    {"id": 2, "label": "web-2", "group": "staging", "region": "us-ord", "tags": [],
     "status": "offline", "specs": {"vcpus": 2, "memory": 4096}, "created": "2023-12-31T23:59:59",
     "image": None, "watchdog_enabled": False},
    {"id": 3, "label": "db-1", "group": "prod", "region": "us-ord", "tags": ["db"],
     "status": "running", "specs": {"vcpus": 4, "memory": 8192}, "created": "2024-01-01T00:00:00",
     "image": "linode/debian12", "watchdog_enabled": True},
]

EVENTS = [
    {"id": 10, "action": "linode_create", "entity": {"id": 5, "type": "linode", "label": "a"},
     "created": "2024-01-01T00:00:02", "status": "finished"},
    {"id": 11, "action": "linode_boot", "entity": {"id": 5, "type": "linode", "label": "a"},
     "created": "2024-01-01T00:00:01", "status": "started"},
    {"id": 12, "action": "linode_boot", "entity": {"id": 6, "type": "linode", "label": "b"},
     "created": "2024-01-01T00:00:00", "status": "finished"},
    {"id": 13, "action": "volume_create", "entity": {"id": 5, "type": "volume", "label": "v"},
     "created": "2024-01-01T00:00:03", "status": "finished"},
    {"id": 14, "action": "account_update", "entity": None, "created": "2024-01-01T00:00:04",
     "status": "notification"},
]

IMAGES = [
    {"id": "linode/ubuntu22.04", "is_public": True, "label": "Ubuntu 22.04"},
    {"id": "private/100", "is_public": False, "label": "stager-gold"},
    {"id": "private/101", "is_public": False, "label": "stager-gold-old"},
]

TYPES = [
    {"id": "g6-nanode-1", "vcpus": 1, "gpus": 0, "class": "nanode"},
    {"id": "g6-standard-4", "vcpus": 4, "gpus": 0, "class": "standard"},
    {"id": "g1-gpu-rtx6000-1", "vcpus": 8, "gpus": 1, "class": "gpu"},
]


def ids(items):
    return [item["id"] for item in items]


def run(header, items, **kwargs):
    text = header if isinstance(header, str) or header is None else json.dumps(header)
    return ids(parse_filter(text, **kwargs).apply(items))


# ------------------------------------------------------------------ plain dicts


@pytest.mark.parametrize("header", [None, "", "   ", "{}"])
def test_empty_header_matches_all_in_order(header):
    flt = parse_filter(header)
    assert flt.match_all
    assert ids(flt.apply(INSTANCES)) == [1, 2, 3]


def test_equality_and_top_level_keys_are_anded():
    assert run({"group": "prod"}, INSTANCES) == [1, 3]
    assert run({"group": "prod", "region": "us-ord"}, INSTANCES) == [3]
    assert run({"group": "nope"}, INSTANCES) == []


def test_equality_keeps_booleans_apart_from_numbers():
    assert run({"watchdog_enabled": True}, INSTANCES) == [1, 3]
    assert run({"watchdog_enabled": 1}, INSTANCES) == []
    assert run({"specs.vcpus": 4.0}, INSTANCES) == [3]


def test_null_equality_matches_null_and_missing():
    assert run({"image": None}, INSTANCES) == [2]
    assert run({"no_such_field": None}, INSTANCES) == [1, 2, 3]


def test_dotted_and_nested_fields_are_the_same():
    assert run({"entity.id": 5}, EVENTS) == [10, 11, 13]
    assert run({"entity": {"id": 5}}, EVENTS) == [10, 11, 13]
    assert run({"entity": {"id": 5, "type": "linode"}}, EVENTS) == [10, 11]
    assert run({"specs": {"vcpus": {"+gte": 4}}}, INSTANCES) == [1, 3]
    # an event without an entity has no entity.id
    assert run({"entity.id": {"+neq": 5}}, EVENTS) == [12, 14]


def test_list_field_equality_means_contains():
    assert run({"tags": "gpu"}, INSTANCES) == [1]
    assert run({"tags": "nope"}, INSTANCES) == []
    assert run({"tags": ["db"]}, INSTANCES) == [3]  # a list compares as a whole


@pytest.mark.parametrize(
    "condition,expected",
    [
        ({"+gt": 4}, [1]),
        ({"+gte": 4}, [1, 3]),
        ({"+lt": 4}, [2]),
        ({"+lte": 4}, [2, 3]),
        ({"+gt": 1, "+lt": 8}, [2, 3]),  # several operators on one field are ANDed
        ({"+neq": 4}, [1, 2]),
        ({"+or": [2, 8]}, [1, 2]),
        ({"+or": [2, {"+gt": 4}]}, [1, 2]),
        ({"+gt": "4"}, []),  # a string never compares with a number
    ],
)
def test_comparison_operators(condition, expected):
    assert run({"specs.vcpus": condition}, INSTANCES) == expected


def test_datetimes_compare_as_strings():
    assert run({"created": {"+gte": "2024-01-01T00:00:00"}}, INSTANCES) == [1, 3]
    assert run({"created": {"+lt": "2024-01-01T00:00:00"}}, INSTANCES) == [2]
    assert run({"created": "2024-01-01T00:00:00"}, INSTANCES) == [3]


def test_contains_is_substring_for_strings_and_membership_for_lists():
    assert run({"label": {"+contains": "web"}}, INSTANCES) == [1, 2]
    assert run({"label": {"+contains": "WEB"}}, INSTANCES) == []
    assert run({"tags": {"+contains": "train"}}, INSTANCES) == [1]
    assert run({"tags": {"+contains": "trai"}}, INSTANCES) == []
    assert run({"specs": {"+contains": "x"}}, INSTANCES) == []


def test_neq_on_a_list_means_does_not_contain():
    assert run({"tags": {"+neq": "gpu"}}, INSTANCES) == [2, 3]


def test_and_or_nest():
    assert run({"+or": [{"group": "staging"}, {"region": "us-east"}]}, INSTANCES) == [1, 2]
    assert run({"+and": [{"group": "prod"}, {"region": "us-ord"}]}, INSTANCES) == [3]
    nested = {"+or": [{"group": "staging"}, {"+and": [{"group": "prod"}, {"region": "us-east"}]}]}
    assert run(nested, INSTANCES) == [1, 2]
    assert run({"+or": []}, INSTANCES) == []
    assert run({"+and": []}, INSTANCES) == [1, 2, 3]


def test_order_asc_desc_and_stable():
    assert run({"+order_by": "label"}, INSTANCES) == [3, 1, 2]
    assert run({"+order_by": "label", "+order": "asc"}, INSTANCES) == [3, 1, 2]
    assert run({"+order_by": "label", "+order": "desc"}, INSTANCES) == [2, 1, 3]
    # equal keys keep their input order, both ways
    assert run({"+order_by": "group"}, INSTANCES) == [1, 3, 2]
    assert run({"+order_by": "group", "+order": "desc"}, INSTANCES) == [2, 1, 3]
    assert run({"+order_by": "specs.vcpus", "group": "prod"}, INSTANCES) == [3, 1]


def test_order_puts_nulls_first_and_survives_mixed_kinds():
    items = [{"id": 1, "v": "b"}, {"id": 2, "v": None}, {"id": 3, "v": 5}, {"id": 4}, {"id": 5, "v": "a"}]
    assert run({"+order_by": "v"}, items) == [2, 4, 3, 5, 1]
    assert run({"+order_by": "v", "+order": "desc"}, items) == [1, 5, 3, 2, 4]


def test_order_alone_keeps_everything_and_order_returns_a_new_list():
    flt = parse_filter('{"+order_by": "id", "+order": "desc"}')
    assert flt.match_all and flt.order_by == "id" and flt.descending
    items = list(INSTANCES)
    assert ids(flt.order(items)) == [3, 2, 1]
    assert ids(items) == [1, 2, 3]
    assert parse_filter('{"label": "x"}').order(items) == items


def test_limit():
    assert run({"+limit": 2}, INSTANCES) == [1, 2]
    assert run({"+limit": 1, "+order_by": "id", "+order": "desc"}, INSTANCES) == [3]


def test_matches_rejects_non_objects():
    flt = parse_filter('{"id": 1}')
    assert flt.matches({"id": 1})
    assert not flt.matches(["id", 1])
    assert Filter().matches("anything")


def test_accepts_bytes_and_dicts():
    assert ids(parse_filter(b'{"group": "prod"}').apply(INSTANCES)) == [1, 3]
    assert ids(parse_filter({"group": "prod"}).apply(INSTANCES)) == [1, 3]


def test_fields_lists_what_is_filtered_on():
    flt = parse_filter('{"+or": [{"entity": {"id": 5}}, {"action": {"+neq": "x"}}], "+order_by": "created"}')
    assert flt.fields == {"entity.id", "action"}
    assert flt.order_by == "created"


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "header,reason",
    [
        ("{not json", "X-Filter is not valid JSON"),
        ('["label"]', "X-Filter must be a JSON object, not list"),
        ('"label"', "X-Filter must be a JSON object, not str"),
        ('{"+foo": 1}', "Unknown filter operator '+foo'"),
        ('{"label": {"+like": "x"}}', "Unknown filter operator '+like' on label"),
        ('{"+gt": 5}', "+gt must be applied to a field"),
        ('{"+and": {"label": "x"}}', "+and needs a list of filter objects"),
        ('{"+or": ["x"]}', "+or needs a list of filter objects"),
        ('{"label": {"+gt": 1, "x": 2}}', "Cannot mix operators and nested fields in the filter on label"),
        ('{"label": {}}', "Empty filter object for label"),
        ('{"vcpus": {"+gt": true}}', "+gt on vcpus needs a number or a date-time string"),
        ('{"vcpus": {"+lt": [1]}}', "+lt on vcpus needs a number or a date-time string"),
        ('{"tags": {"+contains": ["a"]}}', "+contains on tags needs a string"),
        ('{"tags": {"+neq": {"a": 1}}}', "+neq on tags needs a single value"),
        ('{"tags": {"+neq": [1]}}', "+neq on tags needs a single value"),
        ('{"status": {"+or": "running"}}', "+or on status needs a list"),
        ('{"+order_by": 3}', "+order_by needs a field name"),
        ('{"+order_by": "label", "+order": "up"}', '+order must be "asc" or "desc"'),
        ('{"+order": "desc"}', "+order needs +order_by"),
        ('{"+limit": 0}', "+limit needs a positive integer"),
        ('{"+limit": true}', "+limit needs a positive integer"),
        ('{"+or": [{"+order_by": "label"}]}', "+order_by is only allowed at the top level"),
        ('{"+and": [{"+order_by": "a"}, {"+order_by": "b"}]}', "+order_by may only be given once"),
        ('{"a..b": 1}', "Invalid field name 'a..b'"),
        ('{"": 1}', "Invalid field name ''"),
    ],
)
def test_bad_headers_raise_filter_error(header, reason):
    with pytest.raises(FilterError) as caught:
        parse_filter(header)
    assert reason in caught.value.reason
    assert caught.value.field == "X-Filter"
    assert caught.value.to_response() == {"errors": [{"reason": caught.value.reason, "field": "X-Filter"}]}
    assert isinstance(caught.value, ValueError)


def test_filterable_restricts_fields_and_order_by():
    allowed = {"label", "region", "entity", "tags"}
    assert parse_filter('{"label": "x", "entity.id": 1, "entity": {"type": "linode"}}', filterable=allowed)
    with pytest.raises(FilterError) as caught:
        parse_filter('{"+or": [{"label": "x"}, {"specs.vcpus": 2}]}', filterable=allowed)
    assert caught.value.reason == "Cannot filter on specs.vcpus"
    assert caught.value.filter_field == "specs.vcpus"
    with pytest.raises(FilterError, match="Cannot filter on created"):
        parse_filter('{"+order_by": "created"}', filterable=allowed)
    flt = parse_filter('{"status": "running"}')
    with pytest.raises(FilterError, match="Cannot filter on status"):
        flt.apply(INSTANCES, filterable=allowed)
    assert ids(flt.apply(INSTANCES, filterable={"status"})) == [1, 3]


# ---------------------------------------------- the JSON that linode_api4 sends


@pytest.fixture
def sent_filter():
    """Run a linode_api4 call without HTTP and return the X-Filter header it would send."""
    client = LinodeClient("token")
    headers: list[str | None] = []

    def fake_api_call(endpoint, model=None, method=None, data=None, filters=None):
        # the same serialisation as BaseClient._api_call
        headers.append(json.dumps(filters) if filters else None)
        return {"data": [], "page": 1, "pages": 1, "results": 0}

    client._api_call = fake_api_call

    def send(call):
        headers.clear()
        result = call(client)
        if not isinstance(result, EventPoller):
            list(result)
        assert len(headers) == 1, headers
        return headers[0]

    return send


def test_linode_api4_equality(sent_filter):
    header = sent_filter(lambda c: c.linode.instances(Instance.label == "web-2"))
    assert header == '{"label": "web-2"}'
    assert ids(parse_filter(header).apply(INSTANCES)) == [2]


def test_linode_api4_boolean_false(sent_filter):
    header = sent_filter(lambda c: c.images(Image.is_public == False))
    assert header == '{"is_public": false}'
    assert ids(parse_filter(header).apply(IMAGES)) == ["private/100", "private/101"]


def test_linode_api4_tags_contains(sent_filter):
    header = sent_filter(lambda c: c.linode.instances(Instance.tags.contains("gpu")))
    assert header == '{"tags": {"+contains": "gpu"}}'
    assert ids(parse_filter(header).apply(INSTANCES)) == [1]


def test_linode_api4_nested_entity(sent_filter):
    # Event.entity.id cannot be written (entity is one attribute); a dict value can
    header = sent_filter(lambda c: c.account.events(Event.entity == {"id": 5}))
    assert header == '{"entity": {"id": 5}}'
    assert ids(parse_filter(header).apply(EVENTS)) == [10, 11, 13]


def test_linode_api4_event_poller(sent_filter):
    header = sent_filter(lambda c: EventPoller(c, "linode", "linode_boot", entity_id=5))
    assert json.loads(header) == {
        "+order": "asc", "+order_by": "created", "entity.id": 5, "entity.type": "linode", "action": "linode_boot",
    }
    assert ids(parse_filter(header).apply(EVENTS)) == [11]
    header = header.replace('"linode_boot"', '{"+contains": "linode_"}')
    assert ids(parse_filter(header).apply(EVENTS)) == [11, 10]


def test_linode_api4_comparisons_and_neq(sent_filter):
    header = sent_filter(lambda c: c.linode.types(Type.vcpus >= 4))
    assert header == '{"vcpus": {"+gte": 4}}'
    assert ids(parse_filter(header).apply(TYPES)) == ["g6-standard-4", "g1-gpu-rtx6000-1"]
    header = sent_filter(lambda c: c.linode.types(Type.vcpus < 4))
    assert ids(parse_filter(header).apply(TYPES)) == ["g6-nanode-1"]
    header = sent_filter(lambda c: c.linode.instances(Instance.region != "us-ord"))
    assert header == '{"region": {"+neq": "us-ord"}}'
    assert ids(parse_filter(header).apply(INSTANCES)) == [1]


def test_linode_api4_or_and(sent_filter):
    header = sent_filter(lambda c: c.linode.instances(or_(Instance.group == "staging", Instance.region == "us-east")))
    assert header == '{"+or": [{"group": "staging"}, {"region": "us-east"}]}'
    assert ids(parse_filter(header).apply(INSTANCES)) == [1, 2]
    header = sent_filter(
        lambda c: c.linode.instances(
            or_(Instance.group == "staging", and_(Instance.group == "prod", Instance.region == "us-ord"))
        )
    )
    assert ids(parse_filter(header).apply(INSTANCES)) == [2, 3]
    # two filters in one call are sent as +and
    header = sent_filter(lambda c: c.linode.instances(Instance.group == "prod", Instance.region == "us-ord"))
    assert header == '{"+and": [{"group": "prod"}, {"region": "us-ord"}]}'
    assert ids(parse_filter(header).apply(INSTANCES)) == [3]


def test_linode_api4_order_by(sent_filter):
    header = sent_filter(lambda c: c.linode.instances(order_by(Instance.label, desc=True)))
    assert header == '{"+order_by": "label", "+order": "desc"}'
    assert ids(parse_filter(header).apply(INSTANCES)) == [2, 1, 3]
    header = sent_filter(lambda c: c.linode.instances((Instance.group == "prod").order_by(Instance.label)))
    assert header == '{"group": "prod", "+order_by": "label"}'
    assert ids(parse_filter(header).apply(INSTANCES)) == [3, 1]


def test_linode_api4_order_by_next_to_a_filter_arrives_inside_and(sent_filter):
    header = sent_filter(lambda c: c.linode.instances(Instance.group == "prod", order_by(Instance.label, desc=True)))
    assert header == '{"+and": [{"group": "prod"}, {"+order_by": "label", "+order": "desc"}]}'
    flt = parse_filter(header)
    assert (flt.order_by, flt.descending) == ("label", True)
    assert ids(flt.apply(INSTANCES)) == [1, 3]


def test_linode_api4_limit(sent_filter):
    header = sent_filter(lambda c: c.linode.instances(limit(2)))
    assert header == '{"+limit": 2}'
    assert ids(parse_filter(header).apply(INSTANCES)) == [1, 2]
