"""Django's Redis cache backend, with one redis-py client per connection pool.

Django's RedisCacheClient builds a new ``redis.Redis`` object for every cache
call. With redis-py 5+ that constructor costs about half a millisecond of CPU,
more than the round trip it wraps; a read-heavy page makes several cache calls
(catalog version, cached listing, throttle history), so it showed up as the
largest single cost of a cached product list in the benchmark's profile.
A ``redis.Redis`` over a shared connection pool is thread-safe, so one per pool
is enough.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
