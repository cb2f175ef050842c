"""Analytics endpoints at /api/analytics/: staff only, except a doctor's own performance."""
