"""After-sales: return requests (RMAs), their policies and reasons, and the
channels' refunds and returns."""
