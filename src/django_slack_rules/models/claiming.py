"""A delivery's statements on every send: recorded already claimed in one statement, when it
may go now (PostgreSQL), and its outcome written with an UPDATE compiled once (any database).

A first attempt that may send at once is recorded claimed (``sending``, attempt 1). On
PostgreSQL, outside a transaction, that is one statement: a data-modifying CTE opens the
gate (takes the destination's slot; without pacing, sees that no destination may be
paused), INSERTs the row only through an open gate, and skips a row recorded already
(same idempotency key). Elsewhere the caller does it in steps
(:mod:`django_slack_rules.services.recording`).

Its values are typed and it asks whether the gate opened with ``EXISTS``, not
``count(*)``: on a fresh backend (one per task at ``CONN_MAX_AGE = 0``) each untyped
comparison costs a search of the operator catalog, and an aggregate its functions' lookup.

Its commit does not wait for the disk (``synchronous_commit`` off for that one
transaction): the send's outcome, committed after it, waits for the disk, and that flush
covers this commit too, as PostgreSQL flushes its log in order. So a delivery is durable,
claim and outcome, when the task ends. Only a crash of PostgreSQL itself while the
message is being sent can lose the claim; the outcome's UPDATE then fails with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

from django.db import connections, transaction
from django.db.models import Field, Q
from django.db.models.sql import InsertQuery
from django.db.models.sql.subqueries import UpdateQuery

from .coordination import DestinationPace, RuleSetVersion
from .deliveries import SlackDelivery

logger = logging.getLogger(__name__)
#: Whether this process has said that it cannot use the one-statement claim.
_warned: list[bool] = []
#: A delivery's UPDATE by pk, as Django compiled it, per database and fields written (in
#: order); None where the values Django passed differ from :func:`_update_params`'s.
_updates: dict[tuple[str, tuple[str, ...]], str | None] = {}


@dataclass(frozen=True)
class Gate:
    """The destination's slot to take: its pace (seconds per message, and how far ahead of
    now its bucket may run)."""

    destination: str
    interval: float
    tolerance: float


@dataclass(frozen=True)
class Claimed:
    """What :func:`insert_claimed` did: whether the gate was open (the slot was taken, or
    no destination may be paused), and whether the row was inserted (False when the gate
    was closed, or the key was recorded already). Neither when the statement could not be
    built: the caller takes the steps."""

    gate_open: bool
    inserted: bool


def can_insert_claimed(using: str) -> bool:
    """Whether :func:`insert_claimed` works here: PostgreSQL, and no transaction open
    (the statement is its own transaction, and its commit is the one not waited for)."""
    connection = connections[using]
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def insert_claimed(record: SlackDelivery, *, using: str, slot: Gate | None, now: float) -> Claimed:
    """INSERT ``record``, claimed by the caller (sending, attempt 1), through its gate, in one
    statement: ``slot``, the destination's slot at ``now`` (seconds since the epoch); None: no
    slot to take, the gate is that no destination may be paused at ``now``. Sets
    ``record.pk`` when it inserted it."""
    connection = connections[using]
    quote = connection.ops.quote_name
    meta = SlackDelivery._meta
    key = quote(SlackDelivery.idempotency_key.field.column)
    if slot is not None:
        update, update_params = DestinationPace.slot_sql(
            slot.destination,
            interval=slot.interval,
            tolerance=slot.tolerance,
            now=now,
            using=using,
        )
        # A key recorded already (a redelivered message) takes no slot: it is sent as it is.
        gate = (
            f"{update} AND NOT EXISTS (SELECT 1 FROM {quote(meta.db_table)} WHERE {key} = %s::text) "
            "RETURNING 1"
        )
        gate_params = (*update_params, record.idempotency_key)
    else:
        version = RuleSetVersion._meta
        gate = (
            f"SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM {quote(version.db_table)} "
            f"WHERE {quote(version.pk.column)} = %s "
            f"AND {quote(RuleSetVersion.pauses_end_at.field.column)} > %s::float8)"
        )
        gate_params = (RuleSetVersion.SINGLETON_ID, now)
    built = _insert_sql(record, using)
    if built is None:
        if not _warned:
            _warned.append(True)
            logger.warning(
                "This Django version writes an INSERT the one-statement claim cannot use; "
                "deliveries are recorded in steps (a query more). Please report it."
            )
        return Claimed(gate_open=False, inserted=False)
    insert, values, insert_params = built
    pk = quote(meta.pk.column)
    sql = (
        f"WITH gate AS ({gate}), "
        f"inserted AS ({insert} SELECT {values} FROM gate "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {pk}) "
        f"SELECT EXISTS (SELECT 1 FROM gate), (SELECT {pk} FROM inserted), "
        "set_config('synchronous_commit', 'off', true)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*gate_params, *insert_params))
        opened, new_pk, _ = cursor.fetchone()
    if new_pk is not None:
        record.pk = new_pk
        record._state.adding = False
        record._state.db = using
    return Claimed(gate_open=bool(opened), inserted=new_pk is not None)


def _insert_sql(record: SlackDelivery, using: str) -> tuple[str, str, tuple[Any, ...]] | None:
    """Django's INSERT of ``record`` (``auto_now`` fields set, values as the database takes
    them), split into ``INSERT INTO t (columns)``, the placeholders, and the parameters;
    None when Django wrote it in another shape."""
    meta = SlackDelivery._meta
    fields = [field for field in meta.concrete_fields if field is not meta.auto_field]
    query = InsertQuery(SlackDelivery)
    query.insert_values(fields, [record])
    statements = query.get_compiler(using).as_sql()
    if len(statements) != 1:
        return None
    sql, params = statements[0]
    insert, found, values = sql.partition(" VALUES (")
    if not found or not values.endswith(")"):
        return None
    return insert, values[:-1], tuple(params)


def write_fields(pk: Any, fields: dict[str, Any], *, using: str) -> None:
    """``SlackDelivery.objects.filter(pk=pk).update(**fields)`` on ``using``, with the SQL
    Django compiled for the first write of the same fields: later writes only prepare their
    values, as Django does (every outcome is one such write). Expressions and model instances
    take the ORM."""
    plain = not any(
        hasattr(value, "resolve_expression") or hasattr(value, "prepare_database_save")
        for value in fields.values()
    )
    # "": not compiled yet; None: the ORM (an expression, or values Django prepares otherwise).
    sql = _updates.get((using, tuple(fields)), "") if plain else None
    if sql is None:
        SlackDelivery.objects.using(using).filter(pk=pk).update(**fields)
        return
    if sql:
        params = _update_params(pk, fields, using)
    else:
        query = UpdateQuery(SlackDelivery)
        query.add_q(Q(pk=pk))
        query.add_update_values(fields)
        sql, params = query.get_compiler(using).as_sql()
        cached = list(params) == _update_params(pk, fields, using)
        _updates[(using, tuple(fields))] = sql if cached else None
    with transaction.mark_for_rollback_on_error(using), connections[using].cursor() as cursor:
        cursor.execute(sql, params)


def _update_params(pk: Any, fields: dict[str, Any], using: str) -> list[Any]:
    """The values of :func:`write_fields`'s UPDATE, prepared as Django's compiler does."""
    connection = connections[using]
    meta = SlackDelivery._meta
    values = [
        cast(Field, meta.get_field(name)).get_db_prep_save(value, connection)
        for name, value in fields.items()
    ]
    pk_field = meta.pk
    return [
        *values,
        pk_field.get_db_prep_value(pk_field.get_prep_value(pk), connection, prepared=True),
    ]
