"""Orders: the channel's orders as Tryton sales, their lifecycle and
history, the import, the customers, and what the customer sees and asks
(status lookup, messages)."""
