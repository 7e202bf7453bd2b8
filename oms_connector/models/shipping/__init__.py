"""Shipping: carriers and tracking on shipments, and the fulfilments the
channels are told of."""
