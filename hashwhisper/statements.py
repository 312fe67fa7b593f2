"""Statements written out once, for the few queries every request runs.

The ORM builds a query anew each time it runs: for the login check and the
history page that took longer than the database took to answer. A
``Columns`` list names the model fields a hand-written statement selects,
in order; it writes their quoted names and turns each row's values into
what the ORM would have loaded (the database backend's converters, then
the field's own), so the same code serves PostgreSQL and SQLite.
"""

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from django.db import connections
from django.db.models import Field, Model

BIGINT_RANGE = range(-(2**63), 2**63)

T = TypeVar("T")
_written: dict[tuple[Hashable, str], Any] = {}


def written_once(key: Hashable, alias: str, write: Callable[[Any], T]) -> T:
    """What ``write`` makes of the connection ``alias``, made once per
    process (statements depend on the models and the database backend,
    neither of which changes while it runs)."""
    found = _written.get((key, alias))
    if found is None:
        found = _written[(key, alias)] = write(connections[alias])
    return found


def fits_bigint(value: int) -> bool:
    """Whether an id can be sent to the database at all; a larger number
    (only a tampered session or cookie could hold one) would make the
    driver raise rather than find nothing."""
    return value in BIGINT_RANGE


class Columns:
    """Fields selected from tables by alias, e.g.
    ``[("m", Message, ["id", "epoch"]), ("u", User, ["username"])]``."""

    def __init__(
        self,
        connection: Any,
        parts: Sequence[tuple[str, type[Model], Sequence[str]]],
    ) -> None:
        quote = connection.ops.quote_name
        self.fields: list[Field[Any, Any]] = []
        names: list[str] = []
        for alias, model, field_names in parts:
            for name in field_names:
                field = model._meta.get_field(name)
                if not isinstance(field, Field):
                    raise TypeError(f"{model.__name__}.{name} is not a column")
                self.fields.append(field)
                names.append(f"{alias}.{quote(field.column)}")
        self.sql = ", ".join(names)
        self.converters: list[tuple[int, list[Any], Any]] = []
        for index, field in enumerate(self.fields):
            col = field.get_col(field.model._meta.db_table)
            found = connection.ops.get_db_converters(col) + col.get_db_converters(
                connection
            )
            if found:
                self.converters.append((index, found, col))

    def convert(self, row: Sequence[Any], connection: Any) -> list[Any]:
        values = list(row)
        for index, converters, col in self.converters:
            for converter in converters:
                values[index] = converter(values[index], col, connection)
        return values
