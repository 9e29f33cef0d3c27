"""Helpers of the `stager runs verify` tests: an S3 client on the session's emulator, the command, ledger edits."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from typer.testing import CliRunner

from stager.cli.runs_verify import verify


def s3_client(world, bucket: str = "stager-data-runs"):
    """A boto3 client on the emulator's S3 endpoint, with the key `stager run` used."""
    from stager.storage.credentials import resolve_settings
    from stager.storage.s3 import S3Location, make_client

    settings, _ = resolve_settings("local", S3Location.parse(f"s3://{bucket}"), home=world.home,
                                   state_dir=world.home / "emulator")
    return make_client(settings)


def client_for(world):
    """An ``s3_client_for`` for the library calls: one client on the emulator, whatever the bucket."""
    client = s3_client(world)
    return lambda target, bucket: client


def verify_command(world, *args: str):
    """``stager runs verify ARGS`` in process, against the world's STAGER_HOME; the CliRunner result."""
    app = typer.Typer()
    app.command()(verify)
    env = {"STAGER_HOME": str(world.home), "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    return CliRunner().invoke(app, list(args), env=env)


@contextmanager
def edited_event(ledger_path: Path, run_id: str, kind: str, data: str) -> Iterator[int]:
    """Set the data of the run's first ``kind`` event behind stager's back; yields its seq, then puts it back."""
    conn = sqlite3.connect(ledger_path)
    try:
        trigger = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_no_update'"
                               ).fetchone()[0]
        row_id, seq, original = conn.execute("SELECT id, seq, data FROM events WHERE run_id = ? AND kind = ? "
                                             "ORDER BY seq LIMIT 1", (run_id, kind)).fetchone()
        with conn:
            conn.execute("DROP TRIGGER events_no_update")
            conn.execute("UPDATE events SET data = ? WHERE id = ?", (data, row_id))
        try:
            yield seq
        finally:
            with conn:
                conn.execute("UPDATE events SET data = ? WHERE id = ?", (original, row_id))
                conn.execute(trigger)
    finally:
        conn.close()


@contextmanager
def replaced_object(client, location: str, body: bytes | None) -> Iterator[None]:
    """Replace (or with None, delete) the object at ``location`` (s3://bucket/key); put the original back after."""
    bucket, _, key = location[len("s3://"):].partition("/")
    original = client.get_object(Bucket=bucket, Key=key)
    content, metadata = original["Body"].read(), original.get("Metadata") or {}
    if body is None:
        client.delete_object(Bucket=bucket, Key=key)
    else:
        client.put_object(Bucket=bucket, Key=key, Body=body)
    try:
        yield
    finally:
        client.put_object(Bucket=bucket, Key=key, Body=content, Metadata=metadata)


@contextmanager
def moved_away(path: Path) -> Iterator[None]:
    """The file at ``path`` gone for a while (renamed beside it), then back."""
    aside = path.with_name(f".{path.name}.aside")
    path.rename(aside)
    try:
        yield
    finally:
        aside.rename(path)
