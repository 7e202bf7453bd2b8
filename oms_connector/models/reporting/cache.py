"""A short-lived cache of a report's rows, so that a screen computes its
report once rather than three times.

The client opens a list with three requests, each its own transaction:
search (a page of ids), search_count (when the page is full) and read (the
page's fields). A report is a `table_query`, so each of them would compute
the whole report again. Here the first computes the rows once and keeps
them, as one JSON array, for `[oms] report_cache_ttl` seconds (60 by
default, 0 to turn it off) under a key made of the report, the user and
every filter of the context (company, language, dates, channel, ...); the
others read them back. So staff see figures at most that old, and the
list, its count and its rows agree with each other.

Only read-only transactions (the client's calls) use it: a transaction
that writes (a wizard, a test, the cron) sees its own changes, computed."""
import datetime as dt
import hashlib
import json
import weakref
from collections.abc import Sequence

from sql import Cast, Column, CombiningQuery, Literal, Select
from sql.conditionals import Case
from sql.functions import Function

import trytond.config as config
from trytond import backend
from trytond.model import Index, ModelSQL, fields
from trytond.pool import Pool
from trytond.transaction import Transaction

# The context keys that say nothing about the rows: the client's own
# (the screen adds context_model to search and count, not to read) and
# the server's, all starting with "_".
IGNORED_CONTEXT = {'context_model', 'active_test', 'client'}

# The rows this transaction uses, by key: a transaction keeps them whatever
# is stored meanwhile, and a read-only one could not read what another
# connection stored after it started (PostgreSQL's repeatable read).
_used: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def ttl() -> int:
    "The seconds the rows are kept, 0 to compute every time"
    return config.getint('oms', 'report_cache_ttl', default=60)


class _JsonToRecordset(Function):
    __slots__ = ()
    _function = 'JSON_TO_RECORDSET'


class _JsonbToRecordset(Function):
    __slots__ = ()
    _function = 'JSONB_TO_RECORDSET'


class _JsonEach(Function):
    __slots__ = ()
    _function = 'JSON_EACH'


class _JsonExtract(Function):
    __slots__ = ()
    _function = 'JSON_EXTRACT'


class _JsonType(Function):
    __slots__ = ()
    _function = 'JSON_TYPE'


class ReportCache(ModelSQL):
    "The rows of a report for a key, as a JSON array"
    __name__ = 'oms.reporting.cache'

    key = fields.Char("Key", required=True)
    created = fields.Timestamp("Created", required=True)
    # JSONB on PostgreSQL: read back without parsing the text again
    # (0.1 s rather than 0.25 for 37,000 customers), TEXT on SQLite
    rows = fields.Dict(None, "Rows")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        table = cls.__table__()
        cls._sql_indexes.add(
            Index(table, (table.key, Index.Equality()),
                (table.created, Index.Range())))

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        if backend.name == 'postgresql':
            # A cache: not worth the write-ahead log (emptied by a crash).
            cursor = Transaction().connection.cursor()
            cursor.execute(f'ALTER TABLE "{cls._table}" SET UNLOGGED')

    @classmethod
    def rows_for(cls, key: str, query, floats: Sequence[str] = ()
            ) -> int | str:
        """The rows of `query` for `key`, kept ones not older than the TTL
        else computed now and kept: the id of the kept rows when this
        transaction can read them, else the rows as a JSON array
        (`floats`: the columns of floats, see _compute)"""
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        cursor.execute(*cls._lookup(table, key, table.id))
        found = cursor.fetchone()
        if found:
            return found[0]
        if transaction.readonly and backend.name == 'postgresql':
            return cls._store_beside(key, query, floats)
        rows = cls._compute(query, floats)
        if transaction.readonly:
            return rows
        # With the transaction: gone if it rolls back
        cls._store(cursor, key, rows)
        cursor.execute(*cls._lookup(table, key, table.id))
        return cursor.fetchone()[0]

    @classmethod
    def _lookup(cls, table, key: str, column):
        "The column of the table's newest rows of `key` within the TTL"
        since = now() - dt.timedelta(seconds=ttl())
        return table.select(column,
            where=(table.key == key) & (table.created >= since),
            order_by=[table.created.desc], limit=1)

    @classmethod
    def _store(cls, cursor, key: str, rows: str):
        "Keep `rows` for `key`, forgetting what has expired (any key's)"
        table = cls.__table__()
        moment = now()
        cursor.execute(*table.delete(
                where=(table.key == key)
                | (table.created < moment - dt.timedelta(seconds=ttl()))))
        value = Literal(rows)
        if backend.name == 'postgresql':
            value = Cast(value, 'JSONB')
        cursor.execute(*table.insert(
                [table.key, table.created, table.rows,
                    table.create_uid, table.create_date],
                [[key, moment, value, Transaction().user, moment]]))

    @classmethod
    def _store_beside(cls, key: str, query, floats: Sequence[str]) -> str:
        """Compute the rows in this read-only transaction (its snapshot:
        committed data only, true for anyone with the key) and keep them
        through a connection of their own, committed for the next calls.
        The key is locked meanwhile, so concurrent first calls compute
        once: the others wait, then read what the first kept."""
        database = Transaction().database
        connection = database.get_connection()
        try:
            cursor = connection.cursor()
            # Each statement sees what committed before it: once the lock
            # is ours, the rows a peer kept while we waited.
            cursor.execute('SET TRANSACTION ISOLATION LEVEL READ COMMITTED')
            cursor.execute(
                'SELECT pg_advisory_xact_lock(hashtext(%s))', (key,))
            table = cls.__table__()
            cursor.execute(*cls._lookup(table, key, Cast(table.rows, 'TEXT')))
            found = cursor.fetchone()
            if found:
                rows = found[0]
            else:
                rows = cls._compute(query, floats)
                cls._store(cursor, key, rows)
            connection.commit()
        except Exception:
            connection.rollback()
            raise
        finally:
            database.put_connection(connection)
        return rows

    @classmethod
    def _compute(cls, query, floats: Sequence[str] = ()) -> str:
        """The rows of `query` as a JSON array of objects, by column name.
        (SQLite writes a float in JSON with 15 digits, not always enough
        to read it back the same: the `floats` go as text of 17.)"""
        cursor = Transaction().connection.cursor()
        sql, params = tuple(query)
        if backend.name == 'postgresql':
            cursor.execute(
                f"SELECT COALESCE(json_agg(r), '[]')::text FROM ({sql}) AS r",
                params)
        else:
            def value(name):
                if name in floats:
                    return (f'CASE typeof(r."{name}") WHEN \'real\''
                        f" THEN printf('%!.17g', r.\"{name}\")"
                        f' ELSE r."{name}" END')
                return f'r."{name}"'
            pairs = ', '.join(f"'{n}', {value(n)}" for n in names(query))
            cursor.execute(
                f'SELECT json_group_array(json_object({pairs}))'
                f' FROM ({sql}) AS r', params)
        return cursor.fetchone()[0] or '[]'


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def names(query) -> list[str | None]:
    "The names of the query's columns (None for one without)"
    while isinstance(query, CombiningQuery):  # a UNION's are its first's
        query = query.queries[0]
    if not isinstance(query, Select):
        return [None]
    return [getattr(column, 'output_name', None)
        or (column.name if isinstance(column, Column) else None)
        for column in query.columns]


class ReportCacheMixin:
    """A report whose rows are computed once for the calls of a screen
    (see the module's doc): the report defines `report_query`, what its
    `table_query` would be uncached; `table_query` reads the rows back"""
    __slots__ = ()

    @classmethod
    def table_query(cls):
        query = cls.report_query()
        if not cls._report_cached(query):
            return query
        key = cls._report_cache_key()
        used = _used.setdefault(Transaction(), {})
        if key not in used:
            used[key] = Pool().get('oms.reporting.cache').rows_for(
                key, query, cls._report_floats(query))
        return cls._report_rows(query, used[key])

    @classmethod
    def _report_cached(cls, query) -> bool:
        """Whether to read the rows from the cache: in a read-only
        transaction (or with the context's _oms_report_cache, for tests)
        while the TTL is positive, for a query whose columns are named"""
        transaction = Transaction()
        if not (transaction.readonly
                or transaction.context.get('_oms_report_cache')):
            return False
        return ttl() > 0 and None not in names(query)

    @classmethod
    def _report_columns(cls, query) -> list[str]:
        "The columns the model reads: id and its fields"
        return [name for name in names(query)
            if name == 'id' or (name in cls._fields
                and cls._fields[name].sql_type())]

    @classmethod
    def _report_cache_key(cls) -> str:
        """What the rows depend on: the report, the user, and the context
        (company, language, the filters), never the client's bookkeeping"""
        transaction = Transaction()
        context = {name: value for name, value in transaction.context.items()
            if not name.startswith('_') and name not in IGNORED_CONTEXT}
        context['_datetime'] = transaction.context.get('_datetime')
        text = json.dumps([cls.__name__, transaction.user, context],
            sort_keys=True, default=str)
        return f'{cls.__name__}:{hashlib.sha256(text.encode()).hexdigest()}'

    @classmethod
    def _report_floats(cls, query) -> list[str]:
        return [name for name in cls._report_columns(query)
            if name != 'id' and cls._fields[name]._type == 'float']

    @classmethod
    def _report_rows(cls, query, rows: int | str):
        """A query of the rows kept as `rows` (their id in the cache, or
        the JSON array itself), with the columns the model reads"""
        columns = cls._report_columns(query)
        floats = cls._report_floats(query)
        kept = isinstance(rows, int)
        if kept:
            table = Pool().get('oms.reporting.cache').__table__()
            array = table.rows
        elif backend.name == 'postgresql':
            array = Cast(Literal(rows), 'JSON')
        else:
            array = Literal(rows)
        if backend.name == 'postgresql':
            definitions = [('id', 'BIGINT')] + [
                (name, cls._fields[name].sql_type().base)
                for name in columns if name != 'id']
            Recordset = _JsonbToRecordset if kept else _JsonToRecordset
            source = Recordset(array, columns_definitions=definitions)
            selected = [Column(source, name).as_(name) for name in columns]
        else:
            source = _JsonEach(array)

            def value(name):
                path = f'$."{name}"'
                value = _JsonExtract(source.value, path)
                if name not in floats:
                    return value
                # A float kept as text (see _compute); an integer as it was
                return Case((_JsonType(source.value, path) == 'text',
                        Cast(value, 'REAL')), else_=value)
            selected = [value(name).as_(name) for name in columns]
        if not kept:
            return source.select(*selected)
        # The function reads the row of the table before it (lateral)
        return (table.join(source, condition=Literal(True))
            .select(*selected, where=table.id == rows))
