"""A WooCommerce shop: the REST API v3 subset the agent uses
(marketplace-apis.md §2) under ``{base}/wp-json/wc/v3``, plus the
Shipment Tracking extension's route (``{base}/wp-json/wc-shipment-
tracking/v3/orders/{id}/shipment-trackings``) when ``shipment_tracking``.

WordPress behaviours kept on purpose: page/per_page paging with
``X-WP-Total``, ``X-WP-TotalPages`` and ``Link`` (rows may shift between
pages); ``modified_after``/``modified_before`` are exclusive and read in the
site's time zone unless ``dates_are_gmt=true``; dates are served without an
offset (``*_gmt`` in UTC, the others in the site's zone, UTC-5 by
default); ``line_items[].price`` is a JSON number; line names are
HTML-escaped; ``stock_quantity`` is ignored (and cleared) unless the product
manages stock; batches over 100 items are refused with 413.

Parts: ``shop`` (WooCommerceShop: routing, auth), ``catalog``,
``orders``, ``notes``, ``refunds``, and ``model`` (what they share).
"""
from .shop import WooCommerceShop

__all__ = ['WooCommerceShop']
