"""Bare Django views: the product's queries without its middleware.

The baselines of the post-rate and history benchmarks: the same settings,
database and connection pool as the product, no middleware, no session or
login check, no input validation beyond decoding.
"""
