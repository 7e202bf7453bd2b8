"""Leases: which agent runs a channel's job (DESIGN.md §9).

Several agents may serve the same channels; before a job runs for a
channel its agent takes the (channel, job) lease here, for a time to live,
and takes it again (renews it) each run. Another agent finding it held
skips that job until it lapses, so a killed agent is replaced within the
lease's time. One row per (channel, job), unique in the database; the row
stays after a release or an expiry (showing who held it last)."""
import datetime as dt

from sql import Null
from sql.conditionals import Case

from trytond import backend
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import PoolMeta
from trytond.transaction import Transaction

from oms_contract.models import LEASE_JOBS


def utcnow():
    "Now in UTC, naive: how Tryton stores timestamps"
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class Held(Exception):
    "The lease is another holder's: who, and until when"

    def __init__(self, holder, expires_at):
        super().__init__(holder, expires_at)
        self.holder, self.expires_at = holder, expires_at


class ChannelLease(ModelSQL, ModelView):
    __name__ = 'oms.channel.lease'
    __string__ = "Agent Lease"

    channel = fields.Many2One(
        'oms.channel', "Channel", required=True, readonly=True,
        ondelete='CASCADE')
    job = fields.Selection(
        [(j, j.capitalize()) for j in LEASE_JOBS], "Job", required=True,
        readonly=True)
    holder = fields.Char(
        "Holder", readonly=True,
        help="The agent that holds (or last held) the lease: its host, "
        "process id and a random part.")
    acquired_at = fields.Timestamp(
        "Acquired At", readonly=True,
        help="When the holder first took the lease (UTC).")
    expires_at = fields.Timestamp(
        "Expires At", readonly=True,
        help="When the lease lapses unless its holder renews it (UTC); "
        "another agent may take it then.")
    ttl = fields.Integer(
        "Time to Live", readonly=True,
        help="The seconds the holder asks for at each renewal.")
    renewals = fields.Integer(
        "Renewals", readonly=True,
        help="How many times the holder renewed it since taking it.")
    held = fields.Function(fields.Boolean(
            "Held", help="Not expired: its holder runs the job."),
        'get_held')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('channel_job_unique', Unique(t, t.channel, t.job),
                'oms_connector.msg_channel_lease_unique'),
            ]
        cls._order = [('channel', 'ASC'), ('job', 'ASC'), ('id', 'ASC')]

    def get_held(self, name):
        return bool(self.expires_at and self.expires_at > utcnow())

    @classmethod
    def acquire(cls, channel, job, holder, ttl, now=None):
        """Take or renew the lease of (channel, job) for holder, for ttl
        seconds: granted when free, expired or already the holder's, else
        raises Held. Plain SQL: one conditional UPDATE, then an INSERT when
        there is no row yet. Of two agents racing, the unique constraint or
        the row's update lets one through; PostgreSQL fails the other's
        transaction (a serialization error or a duplicate key, turned into
        DatabaseOperationalError), which the route runs again afresh and
        then answers as held."""
        now = now or utcnow()
        expires = now + dt.timedelta(seconds=ttl)
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        mine = table.holder == holder
        cursor.execute(*table.update(
                [table.holder, table.expires_at, table.ttl,
                    table.acquired_at, table.renewals,
                    table.write_date, table.write_uid],
                [holder, expires, ttl,
                    Case((mine, table.acquired_at), else_=now),
                    Case((mine, table.renewals + 1), else_=0),
                    now, transaction.user],
                where=(table.channel == channel.id) & (table.job == job)
                & (mine | (table.expires_at == Null)
                    | (table.expires_at <= now))))
        if cursor.rowcount != 1:
            cursor.execute(*table.select(
                    table.holder, table.expires_at,
                    where=(table.channel == channel.id)
                    & (table.job == job)))
            row = cursor.fetchone()
            if row:
                raise Held(*row)
            try:
                cursor.execute(*table.insert(
                        [table.channel, table.job, table.holder,
                            table.acquired_at, table.expires_at, table.ttl,
                            table.renewals, table.create_date,
                            table.create_uid],
                        [[channel.id, job, holder, now, expires, ttl, 0,
                                now, transaction.user]]))
            except backend.DatabaseIntegrityError as error:
                # Another agent inserted it since this transaction began:
                # run again, to meet its row.
                raise backend.DatabaseOperationalError(str(error)) from error
        return cls.search([
                ('channel', '=', channel.id),
                ('job', '=', job),
                ], limit=1)[0]

    @classmethod
    def release(cls, channel, job, holder, now=None):
        """Let the lease lapse now if holder holds it; True when it did.
        Raises Held when another holder has it (unexpired)."""
        now = now or utcnow()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        where = (table.channel == channel.id) & (table.job == job)
        cursor.execute(*table.update(
                [table.expires_at, table.write_date, table.write_uid],
                [now, now, transaction.user],
                where=where & (table.holder == holder)
                & (table.expires_at > now)))
        if cursor.rowcount == 1:
            return True
        cursor.execute(*table.select(table.holder, table.expires_at,
                where=where & (table.holder != holder)
                & (table.expires_at > now)))
        row = cursor.fetchone()
        if row:
            raise Held(*row)
        return False

    def answer(self, granted=None):
        "The lease as the agent reads it (oms_contract.models.Lease)"
        return {
            'channel': self.channel.code,
            'job': self.job,
            'holder': self.holder,
            'granted': self.held if granted is None else granted,
            'acquired_at': _utc(self.acquired_at),
            'expires_at': _utc(self.expires_at),
            'ttl': self.ttl,
            'renewals': self.renewals or 0,
            }


def _utc(value):
    return value.isoformat() + 'Z' if value else None


class Channel(metaclass=PoolMeta):
    __name__ = 'oms.channel'

    leases = fields.One2Many(
        'oms.channel.lease', 'channel', "Agent Leases", readonly=True,
        help="Which agent runs each of the channel's jobs, and until when.")
