"""The Redis backend of the ports whose state several adapter processes share without a
database: `rate_limits.py` (RateLimitStore)."""

from adapter.stores.redis.rate_limits import RedisRateLimitStore

__all__ = ["RedisRateLimitStore"]
