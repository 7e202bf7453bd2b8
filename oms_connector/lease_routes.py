"""The lease routes of the ERP contract (DESIGN.md §9): several agents
share the channels, one running each channel's job at a time. Kept apart
from routes.py, whose route stack (oms_route: JSON, transaction, key and
channel scope) they use."""
from http import HTTPStatus

import pydantic

from oms_contract.models import LEASE_JOBS, Holder, LeaseRequest

from .models.channels.lease import Held
from .routes import ApiError, oms_route, read_json, read_query


class ReleaseQuery(pydantic.BaseModel):
    "The query string of DELETE .../leases/{job}"
    holder: Holder


def checked_job(job):
    if job not in LEASE_JOBS:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, 'unknown_job',
            f"'{job}' is not a job of the agent: one of "
            f"{', '.join(LEASE_JOBS)}.", {'job': job, 'jobs': LEASE_JOBS})
    return job


def held_error(channel, job, held):
    until = held.expires_at.isoformat() + 'Z'
    return ApiError(
        HTTPStatus.CONFLICT, 'lease_held',
        f"The {job} lease of channel '{channel.code}' is held by "
        f"{held.holder} until {until}.",
        {'channel': channel.code, 'job': job, 'holder': held.holder,
            'expires_at': until})


@oms_route('/channels/<channel_code>/leases/<job>', ['POST'])
def acquire_lease(request, pool, application, channel, job):
    """Take the channel's lease for a job, or renew it: granted when no
    one holds it, it expired, or the caller already holds it; 409 when
    another holder has it"""
    Lease = pool.get('oms.channel.lease')
    job = checked_job(job)
    asked = read_json(request, LeaseRequest)
    try:
        lease = Lease.acquire(channel, job, asked.holder, asked.ttl)
    except Held as held:
        raise held_error(channel, job, held) from None
    return lease.answer(granted=True)


@oms_route('/channels/<channel_code>/leases/<job>', ['DELETE'])
def release_lease(request, pool, application, channel, job):
    """Release the caller's lease (it lapses now) so that another agent
    takes the job at once; 409 when another holder has it"""
    Lease = pool.get('oms.channel.lease')
    job = checked_job(job)
    query = read_query(request, ReleaseQuery)
    try:
        released = Lease.release(channel, job, query.holder)
    except Held as held:
        raise held_error(channel, job, held) from None
    return {'channel': channel.code, 'job': job, 'released': released}


@oms_route('/channels/<channel_code>/leases', ['GET'])
def list_leases(request, pool, application, channel):
    "The channel's leases: who holds (or last held) each job, until when"
    Lease = pool.get('oms.channel.lease')
    leases = Lease.search([('channel', '=', channel.id)])
    return {'leases': [lease.answer() for lease in leases]}
