"""How the agent paces and retries marketplace calls: the rate limiter per
channel account, the waits a marketplace asks for (Retry-After as seconds
or as an HTTP date) and the jittered backoff otherwise, and the errors
that end a call. No real sleep: waits are recorded."""
import email.utils
import logging
import random
import time

import pytest
import requests
import responses

from sync_agent.channels.shopify import ShopifyAdapter
from sync_agent.channels.transport import (
    AuthError,
    GaveUp,
    RateLimiter,
    Transport,
    retry_after,
)
from sync_agent.config import ChannelConfig

URL = 'https://shop.example/api/thing'


class FakeClock:
    "A monotonic clock that moves only when something sleeps on it"

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def fresh_limiters(monkeypatch):
    "Each test its own registry of per-account limiters"
    monkeypatch.setattr(RateLimiter, '_shared', {})


def transport(sleeps, **settings):
    return Transport('SHOP', RateLimiter(0), sleep=sleeps.append,
        **settings)


def read_json(response):
    return response.json()


# -- Rate limiter -------------------------------------------------------

def test_rate_limiter_spaces_calls_at_its_rate():
    clock = FakeClock()
    limiter = RateLimiter(2, burst=1, clock=clock, sleep=clock.sleep)

    waits = [limiter.acquire() for _ in range(4)]

    assert waits == [0, 0.5, 0.5, 0.5]
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_rate_limiter_allows_a_burst_then_its_rate():
    clock = FakeClock()
    limiter = RateLimiter(2, burst=3, clock=clock, sleep=clock.sleep)

    waits = [limiter.acquire() for _ in range(5)]
    clock.now += 10  # idle: the bucket refills, but only up to the burst
    after_idle = [limiter.acquire() for _ in range(4)]

    assert waits == [0, 0, 0, 0.5, 0.5]
    assert after_idle == [0, 0, 0, 0.5]


def test_rate_limiter_without_a_rate_never_waits():
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)

    assert [limiter.acquire() for _ in range(20)] == [0.0] * 20
    assert clock.sleeps == []


def test_one_limiter_per_channel_account():
    shop = RateLimiter.for_account('shopify:https://a.example', 2, 4)

    assert RateLimiter.for_account('shopify:https://a.example', 2, 4) is shop
    assert RateLimiter.for_account(
        'shopify:https://b.example', 2, 4) is not shop
    assert (shop.rate, shop.burst) == (2, 4)


def test_adapters_of_one_account_share_its_limiter():
    "Two jobs (or two channel codes) on one shop count against one budget"
    def adapter(code, token_name='OMS_SHOP_TOKEN',
            base_url='https://shop.example'):
        config = ChannelConfig(code=code, kind='shopify', base_url=base_url,
            credentials={'token': token_name},
            rate_limit={'per_second': 3, 'burst': 2})
        return ShopifyAdapter(config, {'token': 'x'})

    first, second = adapter('SHOP'), adapter('SHOP-BIS')
    other_shop = adapter('OTHER', base_url='https://other.example')

    assert first.transport.limiter is second.transport.limiter
    assert other_shop.transport.limiter is not first.transport.limiter
    assert first.transport.limiter.rate == 3
    assert first.transport.limiter.burst == 2


def test_transport_takes_a_token_for_each_attempt():
    clock = FakeClock()
    limiter = RateLimiter(2, burst=1, clock=clock, sleep=clock.sleep)
    sleeps = []
    http = Transport('SHOP', limiter, sleep=sleeps.append)
    with responses.RequestsMock() as mock:
        mock.get(URL, status=503)
        mock.get(URL, json={'ok': True})

        assert http.call('GET', URL, read_json) == {'ok': True}

    assert http.calls == 2
    assert clock.sleeps == [0.5]  # the retry waited for its token too


# -- Retry-After --------------------------------------------------------

def response_with(retry_after_value):
    response = requests.Response()
    response.status_code = 429
    if retry_after_value is not None:
        response.headers['Retry-After'] = retry_after_value
    return response


def test_retry_after_in_seconds():
    assert retry_after(response_with('3')) == 3
    assert retry_after(response_with('2.0')) == 2.0
    assert retry_after(response_with('-5')) == 0
    assert retry_after(response_with(None)) is None
    assert retry_after(response_with('soon')) is None


def test_retry_after_as_an_http_date():
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    earlier = email.utils.formatdate(time.time() - 30, usegmt=True)

    # HTTP dates have whole seconds.
    assert retry_after(response_with(later)) == pytest.approx(30, abs=1.1)
    assert retry_after(response_with(earlier)) == 0


def test_transport_waits_until_the_http_date_asked():
    sleeps = []
    http = transport(sleeps)
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    with responses.RequestsMock() as mock:
        mock.get(URL, status=429, headers={'Retry-After': when})
        mock.get(URL, json={'ok': True})

        assert http.call('GET', URL, read_json) == {'ok': True}

    assert len(sleeps) == 1
    assert sleeps[0] == pytest.approx(20, abs=1.2)


def test_transport_waits_the_seconds_asked_plus_a_margin():
    sleeps = []
    http = transport(sleeps)
    with responses.RequestsMock() as mock:
        mock.get(URL, status=429, headers={'Retry-After': '3'})
        mock.get(URL, status=503, headers={'Retry-After': '1'})
        mock.get(URL, json={'ok': True})

        assert http.call('GET', URL, read_json) == {'ok': True}

    assert sleeps == [pytest.approx(3.05), pytest.approx(1.05)]


# -- Backoff and giving up ---------------------------------------------

def test_backoff_is_jittered_exponential_and_bounded_by_max_wait():
    random.seed(1)
    sleeps = []
    http = transport(sleeps, attempts=10, max_wait=1)
    with responses.RequestsMock() as mock:
        mock.get(URL, status=500)

        with pytest.raises(GaveUp):
            http.call('GET', URL, read_json)

    assert len(sleeps) == 9  # between 10 attempts
    for attempt, wait in enumerate(sleeps, 1):
        # Uniform in [0, 0.25 × 2^(attempt-1)], never above max_wait.
        assert 0 <= wait <= min(1, 0.25 * 2 ** (attempt - 1)), attempt
    assert len(set(sleeps)) == len(sleeps)  # jittered, not lock-step
    assert max(sleeps[3:]) > 0.25  # and growing past the first steps


def test_dropped_connections_are_retried():
    sleeps = []
    http = transport(sleeps)
    with responses.RequestsMock() as mock:
        mock.get(URL, body=requests.ConnectionError("reset by peer"))
        mock.get(URL, body=requests.Timeout("read timed out"))
        mock.get(URL, json={'ok': True})

        assert http.call('GET', URL, read_json) == {'ok': True}

    assert http.calls == 3
    assert len(sleeps) == 2


def test_gives_up_loudly_after_the_attempt_bound(caplog):
    sleeps = []
    http = transport(sleeps, attempts=3)
    with responses.RequestsMock() as mock:
        mock.get(URL, status=502, body='bad gateway')

        with caplog.at_level(logging.WARNING):
            with pytest.raises(GaveUp) as raised:
                http.call('GET', URL + '?consumer_secret=cs_hidden',
                    read_json)

    assert http.calls == 3
    assert len(sleeps) == 2
    assert 'HTTP 502' in str(raised.value)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert 'gave up on GET https://shop.example/api/thing' in (
        errors[0].getMessage())
    # Query strings may carry credentials: never in messages or logs.
    assert 'cs_hidden' not in str(raised.value) + caplog.text


def test_gives_up_after_the_time_bound():
    "A run of long asked-for waits ends at give_up_after, not at attempts"
    clock = [0.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        clock[0] += seconds

    http = Transport('SHOP', RateLimiter(0), attempts=100,
        give_up_after=10, sleep=sleep)
    with responses.RequestsMock() as mock:
        mock.get(URL, status=429, headers={'Retry-After': '4'})
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(time, 'monotonic', lambda: clock[0])
            with pytest.raises(GaveUp):
                http.call('GET', URL, read_json)

    assert http.calls < 5
    assert sum(sleeps) < 20


@pytest.mark.parametrize('status', [401, 403])
def test_refused_credentials_fail_at_once(status):
    sleeps = []
    http = transport(sleeps)
    with responses.RequestsMock() as mock:
        mock.get(URL, status=status, json={'errors': 'Invalid API key'})

        with pytest.raises(AuthError, match=f'HTTP {status}'):
            http.call('GET', URL, read_json)

    assert http.calls == 1
    assert sleeps == []
