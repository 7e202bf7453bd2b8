"""The order point suggested from sales, without a database."""
import datetime as dt

from oms_connector.models.stock.replenishment import suggest_order_point

DAY = dt.timedelta(days=1)


def test_minimum_covers_the_lead_time_and_target_one_review_more():
    "1.5 a day: 7.5 over 5 days is 8; two weeks more are 21"
    assert suggest_order_point(1.5, 5 * DAY, 14 * DAY) == (8, 29)


def test_whole_sales_are_not_rounded_up_by_float_noise():
    "70 sales in 30 days over 27 days are 63, not 64"
    velocity = 70 / 30
    assert velocity * 27 > 63
    assert suggest_order_point(velocity, 27 * DAY, 3 * DAY) == (63, 70)


def test_part_days_count():
    "Half a day's lead time at 4 a day is 2"
    assert suggest_order_point(4, DAY / 2, DAY) == (2, 6)


def test_nothing_sold_suggests_nothing():
    assert suggest_order_point(0, 5 * DAY, 14 * DAY) == (None, None)
    assert suggest_order_point(None, 5 * DAY, 14 * DAY) == (None, None)
