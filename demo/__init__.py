"""`make demo`: an ERP on SQLite with believable demo data, on loopback."""
