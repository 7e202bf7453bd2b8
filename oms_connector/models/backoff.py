"""How long a failed send waits before its next try, shared by what the
module sends out (fulfilments to channels, notifications to customers)."""
import datetime as dt

FIRST = dt.timedelta(minutes=1)


def backoff(attempts, longest):
    """The wait after `attempts` failures in a row: 1, 2, 4 ... minutes, at
    most `longest`"""
    # The exponent is bounded: 2 ** 20 minutes outlasts any `longest`.
    return min(FIRST * 2 ** min(max(attempts, 1) - 1, 20), longest)
