"""Checking a dataset's ``sources`` list where it was written."""

from __future__ import annotations

import textwrap

import pytest

from stager.data.sources import Source, parse_sources
from stager.errors import ConfigError
from stager.yamlio import loads

SHA = "ab" * 32


def pipeline(sources: str):
    """A pipeline document whose data.mnist.sources is ``sources`` (YAML flow text)."""
    text = textwrap.dedent(f"""\
        name: exp
        data:
          mnist:
            path: data/mnist
            sources: {sources}
        """)
    doc = loads(text, "pipelines/exp.yaml")
    return doc, doc.data["data"]["mnist"]["sources"]


def test_valid_sources_are_typed_with_lower_case_pins_and_default_paths():
    items = [{"url": "https://example.org/d/train.npz", "sha256": SHA.upper(), "path": "raw/./train.npz"},
             {"url": "https://example.org/d/test.npz?download=1", "sha256": SHA}]
    assert parse_sources(items) == [Source("https://example.org/d/train.npz", SHA, "raw/train.npz"),
                                    Source("https://example.org/d/test.npz?download=1", SHA, "test.npz")]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/f.bin", "http://localhost/f.bin", "http://[::1]/f.bin"])
def test_plain_http_is_allowed_to_loopback_only(url):
    assert parse_sources([{"url": url, "sha256": SHA, "path": "f.bin"}])[0].url == url


def test_plain_http_elsewhere_is_a_located_config_error():
    doc, items = pipeline(f"[{{url: 'http://example.org/f.bin', sha256: {SHA}, path: f.bin}}]")
    with pytest.raises(ConfigError) as caught:
        parse_sources(items, doc=doc, where="data.mnist.sources")
    error = caught.value
    assert (error.file, error.line, error.field) == ("pipelines/exp.yaml", 5, "data.mnist.sources.0.url")
    assert "plain http" in error.problem and "https" in error.hint
    assert str(error).startswith("pipelines/exp.yaml:5: `data.mnist.sources.0.url`: ")


@pytest.mark.parametrize(
    ("item", "field", "words"),
    [
        ({"url": "ftp://example.org/f", "sha256": SHA, "path": "f"}, "url", "not an https URL"),
        ({"url": "https:///f", "sha256": SHA, "path": "f"}, "url", "not an https URL"),
        ({"sha256": SHA, "path": "f"}, "url", "missing"),
        ({"url": "https://user:secret@example.org/f", "sha256": SHA, "path": "f"}, "url", "credentials"),
        ({"url": "https://example.org/f", "path": "f"}, "sha256", "missing"),
        ({"url": "https://example.org/f", "sha256": "abc", "path": "f"}, "sha256", "64 hexadecimal"),
        ({"url": "https://example.org/f", "sha256": "zz" * 32, "path": "f"}, "sha256", "64 hexadecimal"),
        ({"url": "https://example.org/f", "sha256": SHA, "path": "/etc/f"}, "path", "relative"),
        ({"url": "https://example.org/f", "sha256": SHA, "path": "a/../../f"}, "path", "`..`"),
        ({"url": "https://example.org/f", "sha256": SHA, "path": "a/.hidden"}, "path", "starting with '.'"),
        ({"url": "https://example.org/", "sha256": SHA}, "path", "does not end in a file name"),
        ({"url": "https://example.org/f", "sha256": SHA, "paht": "f"}, "paht", "unknown field"),
    ],
)
def test_bad_items_name_the_field(item, field, words):
    with pytest.raises(ConfigError) as caught:
        parse_sources([item], where="data.x.sources")
    assert caught.value.field == f"data.x.sources.0.{field}"
    assert words in str(caught.value)
    assert "secret" not in str(caught.value)


def test_unknown_field_suggests_the_right_one():
    with pytest.raises(ConfigError, match="did you mean `path`"):
        parse_sources([{"url": "https://example.org/f", "sha256": SHA, "paht": "f"}])


@pytest.mark.parametrize(("first", "second"), [("raw/f.bin", "raw/./f.bin"), ("raw", "raw/f.bin")])
def test_a_path_used_twice_is_refused_at_the_second(first, second):
    doc, items = pipeline(f"[{{url: 'https://a.example/1', sha256: {SHA}, path: {first}}},\n"
                          f"              {{url: 'https://a.example/2', sha256: {SHA}, path: {second}}}]")
    with pytest.raises(ConfigError) as caught:
        parse_sources(items, doc=doc, where="data.mnist.sources")
    assert caught.value.field == "data.mnist.sources.1.path" and caught.value.line == 6
    assert "clashes" in caught.value.problem


@pytest.mark.parametrize("items", [{"url": "https://a.example/f"}, "https://a.example/f", [["x"]]])
def test_wrong_shapes_are_refused(items):
    with pytest.raises(ConfigError):
        parse_sources(items)
