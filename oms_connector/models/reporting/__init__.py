"""Reports: sales, customers, stock, supply, fulfilment and returns, on the
filters they share."""
