"""Stock: what each channel may sell and what it shows (levels), low-stock
and drift alerts, replenishment."""
