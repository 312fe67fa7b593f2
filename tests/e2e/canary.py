"""Search everything the server keeps for values it must never hold."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.e2e.server import ServerProcess, _pg_uri_with_database


def encodings(value: bytes | str) -> dict[str, bytes]:
    """The forms a leaked value could take in a table, a file or a log."""
    if isinstance(value, str):
        raw = value.encode("utf-8")
        forms = {
            "utf-8": raw,
            "json-escaped": json.dumps(value)[1:-1].encode("ascii"),
        }
    else:
        raw = value
        forms = {"raw": raw}
    forms.update(
        base64=base64.b64encode(raw).rstrip(b"="),
        base64url=base64.urlsafe_b64encode(raw).rstrip(b"="),
        hex=raw.hex().encode("ascii"),
    )
    return forms


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


def database_cells(server: ServerProcess) -> Iterator[tuple[str, bytes]]:
    """Every cell of every table, as ``("table.column", bytes)``."""
    if server.sqlite_path is not None:
        conn = sqlite3.connect(server.sqlite_path)
        try:
            tables = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            ]
            for table in tables:
                cursor = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608
                columns = [d[0] for d in cursor.description]
                for row in cursor:
                    for column, cell in zip(columns, row, strict=True):
                        yield f"{table}.{column}", _as_bytes(cell)
        finally:
            conn.close()
        return
    import psycopg

    uri = _pg_uri_with_database(server.pg_admin_uri, server.pg_database)
    uri = uri.replace("+psycopg2", "").replace("+psycopg", "")
    with psycopg.connect(uri) as pg:
        tables = [
            row[0]
            for row in pg.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public'"
            )
        ]
        for table in tables:
            pg_cursor = pg.execute(f'SELECT * FROM "{table}"')  # noqa: S608
            names = [d.name for d in pg_cursor.description or []]
            for row in pg_cursor:
                for column, cell in zip(names, row, strict=True):
                    yield f"{table}.{column}", _as_bytes(cell)


def server_files(server: ServerProcess) -> Iterator[tuple[str, bytes]]:
    """Every file in the server's folder: database files, blobs, its log."""
    for path in sorted(Path(server.workdir).rglob("*")):
        if path.is_file():
            yield str(path.relative_to(server.workdir)), path.read_bytes()


def find_leaks(
    canaries: dict[str, bytes | str], places: Iterator[tuple[str, bytes]]
) -> list[str]:
    needles = [
        (f"{name} ({form})", needle)
        for name, value in canaries.items()
        for form, needle in encodings(value).items()
        if len(needle) >= 8
    ]
    leaks = []
    for where, haystack in places:
        for label, needle in needles:
            if needle in haystack:
                leaks.append(f"{label} in {where}")
    return leaks
