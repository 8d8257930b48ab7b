"""Rate limits for the API, counted in the cache (Redis in production, so all processes share
them). 429 with ``Retry-After``.

DRF's ``SimpleRateThrottle`` reads a request history, decides, then writes it back: two
concurrent requests both read the old history and both pass, so a burst of parallel requests
gets through a limit it should not. These throttles count with one atomic increment per
request in a fixed window (one Redis round trip), so a limit of N lets exactly N requests through per window however
many arrive at once.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (environment variables, see
README.md), in DRF's format, read at request time.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import time
import weakref

import redis
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import UntypedToken

logger = logging.getLogger(__name__)


class _Rate(SimpleRateThrottle):
    """DRF's parsing of a rate string ('10/min': 10 requests in 60 s). The rates themselves are
    read from the settings when asked: ``SimpleRateThrottle`` keeps the rates it saw at import,
    and tests and deployments change the settings."""

    def __init__(self, rate: str):
        self.rate = rate  # (given: SimpleRateThrottle then parses it instead of looking it up)
        super().__init__()


def configured_rate(scope: str) -> tuple[int, int] | None:
    """``(requests, seconds)`` of the scope's rate in ``DEFAULT_THROTTLE_RATES`` ('10/min' →
    (10, 60)); None when the scope has no rate (not limited)."""
    return _parsed_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope) or None)


@functools.lru_cache(maxsize=64)
def _parsed_rate(rate: str | None) -> tuple[int, int] | None:
    """``configured_rate``'s parsing, once per rate string."""
    if rate is None:
        return None
    parsed = _Rate(rate)
    return parsed.num_requests, parsed.duration


class AtomicRateThrottle(BaseThrottle):
    """Fixed-window counter keyed by ``get_key(request)``; ``None`` means "don't count this".

    With ``refunded_on_success`` the count is of failures: every attempt is counted as it
    arrives (so parallel attempts cannot slip past the limit together) and ``refund_success``
    takes the attempt back once it succeeded."""

    scope: str = ""
    refunded_on_success = False

    def get_key(self, request, view) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = configured_rate(self.scope)
        if rate is None:
            return True
        key = self.get_key(request, view)
        if key is None:
            return True
        limit, period = rate
        now = time.time()
        window = int(now // period)
        # hashed: keys carry user input (an email) and must be safe for any cache backend
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        cache_key = f"throttle:{self.scope}:{digest}:{window}"
        try:
            count = _count(cache_key, period + 1)
        except Exception:
            # The cache (Redis) is down. Fail open: a message posted now must still be stored
            # (a client's retry must never be what loses it), and login stays slowed by password
            # hashing.
            logger.warning("rate limit %s not applied: cache unavailable", self.scope, exc_info=True)
            return True
        if self.refunded_on_success:
            _counted_on(request).append(cache_key)
        self._retry_after = (window + 1) * period - now
        if count == limit + 1:
            self.on_limit_reached(request, key)
        return count <= limit

    def on_limit_reached(self, request, key: str) -> None:
        """Called once per window, by the first request over the limit."""

    def wait(self) -> float | None:
        return math.ceil(getattr(self, "_retry_after", 1))


# INCR, and start the window's expiry with the first count: one round trip, atomic.
_INCR_SCRIPT = (
    "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n"
)


def _count(key: str, timeout: int) -> int:
    """Add one to the window's counter and return it: on Redis one script call, elsewhere
    (the in-memory cache of ``make run``) add + incr."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    scripts = _redis_scripts(cache)
    if scripts is not None:
        return int(scripts.incr(keys=[cache.make_and_validate_key(key)], args=[timeout]))
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: start the window again
        cache.add(key, 1, timeout=timeout)
        return 1


def _uncount(key: str) -> None:
    """Take one off the window's counter, if the window still exists (a DECR of an expired key
    would make a new one that never expires)."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    scripts = _redis_scripts(cache)
    if scripts is not None:
        scripts.decr(keys=[cache.make_and_validate_key(key)])
        return
    try:
        cache.decr(key)
    except ValueError:  # the window ended meanwhile: nothing left to take back
        pass


_DECR_SCRIPT = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0"


class _Scripts:
    """The two counter scripts, registered on a client of the cache's own Redis."""

    def __init__(self, client: redis.Redis):
        self.incr = client.register_script(_INCR_SCRIPT)
        self.decr = client.register_script(_DECR_SCRIPT)


_scripts: weakref.WeakKeyDictionary[RedisCache, _Scripts] = weakref.WeakKeyDictionary()


def _redis_scripts(cache) -> _Scripts | None:
    """The counter scripts for a Redis cache (None for other caches), made once per cache object.

    Django's cache API has no atomic increment-with-expiry and no public handle on its Redis
    client, so the scripts run on a client of their own, made from the cache's own ``LOCATION``
    and ``OPTIONS`` (redis-py connection arguments, the same timeouts): one round trip a count,
    under the cache's key prefix (``make_and_validate_key``)."""
    if not isinstance(cache, RedisCache):
        return None
    scripts = _scripts.get(cache)
    if scripts is None:
        config = settings.CACHES[DEFAULT_CACHE_ALIAS]
        location = config["LOCATION"]
        url = location[0] if isinstance(location, list | tuple) else re.split("[;,]", location)[0]  # as RedisCache
        scripts = _scripts[cache] = _Scripts(redis.Redis.from_url(url, **config.get("OPTIONS", {})))
    return scripts


class IPThrottle(AtomicRateThrottle):
    def get_key(self, request, view) -> str | None:
        return self.get_ident(request)


class UserThrottle(AtomicRateThrottle):
    def get_key(self, request, view) -> str | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return str(user.pk)
        return self.get_ident(request)


class LoginBurstAudit:
    """A burst of failed logins is a safeguarding event: recorded once per window."""

    def on_limit_reached(self, request, key: str) -> None:
        from k12.audit import audit_record
        from k12.models import AuditAction

        audit_record(
            action=AuditAction.LOGIN_FAILURE_BURST,
            target_type="login",
            target_id=key,
            data={"limit": self.scope, "rate": api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)},
            request=request,
        )


class LoginIPThrottle(LoginBurstAudit, IPThrottle):
    scope = "login_ip"


def login_email(request) -> str | None:
    email = request.data.get("email") if isinstance(request.data, dict) else None
    if not isinstance(email, str) or not email.strip():
        return None
    return email.strip().lower()[:254]


class LoginAccountThrottle(LoginBurstAudit, AtomicRateThrottle):
    """Failed logins per (account, address), django-axes' combination lock-out: someone guessing
    a password from one address is stopped without locking the real user (at another address)
    out of their own account."""

    scope = "login_account"
    refunded_on_success = True

    def email(self, request) -> str | None:
        return login_email(request)

    def get_key(self, request, view) -> str | None:
        email = self.email(request)
        return None if email is None else f"{email}|{self.get_ident(request)}"


class LoginAccountTotalThrottle(LoginBurstAudit, AtomicRateThrottle):
    """Failed logins per account from all addresses together, at a much higher limit: guessing
    spread over many addresses still stops, and it takes that many to lock the owner out."""

    scope = "login_account_total"
    refunded_on_success = True

    def email(self, request) -> str | None:
        return login_email(request)

    def get_key(self, request, view) -> str | None:
        return self.email(request)


def _counted_on(request) -> list[str]:
    """The cache keys this request added one to, for ``refund_success``."""
    request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    if not hasattr(request, "_k12_throttle_counts"):
        request._k12_throttle_counts = []
    return request._k12_throttle_counts


def refund_success(request) -> None:
    """The request's login succeeded: take its attempt back from the failure counters."""
    for cache_key in _counted_on(request):
        try:
            _uncount(cache_key)
        except Exception:
            logger.warning("login counter not refunded: cache unavailable", exc_info=True)
    _counted_on(request).clear()


class RefreshIPThrottle(IPThrottle):
    scope = "refresh_ip"


class RefreshAccountThrottle(AtomicRateThrottle):
    """Per account, taken from the (verified) refresh token; forged tokens count nowhere."""

    scope = "refresh_account"

    def get_key(self, request, view) -> str | None:
        raw = request.data.get("refresh") if isinstance(request.data, dict) else None
        if not isinstance(raw, str):
            return None
        try:
            return str(UntypedToken(raw).get("user_id"))
        except TokenError:
            return None


class MessagePostThrottle(UserThrottle):
    scope = "message_post"

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        return super().allow_request(request, view)
