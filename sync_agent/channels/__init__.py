"""One module per marketplace kind: its adapter (all of that marketplace's
HTTP detail) and its pure ``normalize_order(raw) -> Order``."""
