"""Channels: the marketplaces sold on, their listings (the SKU mapping and
the stock formula) and the agent's API keys."""
