"""Redis connections: URL and credentials from config or the environment, TLS with rediss://, retries with
backoff, and errors that never carry the password."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from recpipe.config import PublishConfig, Settings
from recpipe.errors import RecpipeError

PASSWORD_ENV, USERNAME_ENV, URL_ENV = "REDIS_PASSWORD", "REDIS_USERNAME", "REDIS_URL"


class RedisSetupError(RecpipeError, RuntimeError):
    """Redis is misconfigured or unreachable; the message names the (redacted) URL and the cause."""


def redact(text: str) -> str:
    """Replace credentials in any URL inside ``text`` with ``***``."""
    return re.sub(r"([a-zA-Z][a-zA-Z0-9+.-]*://)([^@/\s]*)@", r"\1***@", text)


@dataclass(frozen=True)
class RedisTarget:
    """Where to write or read: a URL plus credentials kept out of the URL, printable without secrets."""

    url: str
    password: str | None = field(default=None, repr=False)
    username: str | None = None
    retries: int = 3
    timeout_s: float = 10.0
    retry_budget_s: float = 30.0  # a write that cannot get through within this many seconds gives up

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise RedisSetupError(
                f"invalid Redis URL {redact(self.url)!r}: expected redis://host:port/db or rediss://host:port/db"
            )

    def backoff_s(self, attempt: int) -> float:
        """Delay before retry ``attempt`` (0-based): exponential from 50 ms, capped at 2 s."""
        return min(2.0, 0.05 * 2**attempt)

    @property
    def safe_url(self) -> str:
        return redact(self.url)

    def client(self) -> redis.Redis:
        """A client with exponential-backoff retries on connection errors and timeouts."""
        retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), self.retries)  # the same schedule as backoff_s
        kwargs = {"password": self.password} if self.password else {}
        if self.username:
            kwargs["username"] = self.username
        return redis.Redis.from_url(
            self.url,
            retry=retry,
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError],
            socket_timeout=self.timeout_s,
            socket_connect_timeout=self.timeout_s,
            **kwargs,
        )

    def check(self) -> redis.Redis:
        """Connect and PING; raise ``RedisSetupError`` with a redacted, actionable message."""
        client = self.client()
        try:
            client.ping()
        except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as exc:
            raise RedisSetupError(self._refusal(exc)) from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise RedisSetupError(f"cannot reach Redis at {self.safe_url}: {redact(str(exc))}") from None
        return client

    def _refusal(self, exc: Exception) -> str:
        """One line for a server that refused the connection: no password given, a wrong one, or another error."""
        text = str(exc)
        auth = isinstance(exc, redis.exceptions.AuthenticationError) or any(
            word in text for word in ("NOAUTH", "WRONGPASS", "Authentication required", "invalid password")
        )
        if auth and not (self.password or urlsplit(self.url).password):
            return (
                f"Redis at {self.safe_url} requires a password and none was given: set {PASSWORD_ENV} "
                "(or redis-password in the secret scope)"
            )
        if auth:
            return f"Redis at {self.safe_url} refused the credentials (wrong password or user): check {PASSWORD_ENV}"
        return f"Redis at {self.safe_url} answered with an error: {redact(text.splitlines()[0] if text else '')}"


def secret_from_scope(scope: str, key: str) -> str | None:
    """A secret from a Databricks secret scope, when running on Databricks."""
    try:
        from pyspark.dbutils import DBUtils
        from pyspark.sql import SparkSession

        return DBUtils(SparkSession.builder.getOrCreate()).secrets.get(scope=scope, key=key)
    except ImportError:
        return None


def resolve_target(
    url: str | None,
    secret_scope: str | None = None,
    retries: int = 3,
    environ=None,
    retry_budget_s: float | None = None,
) -> RedisTarget:
    """The Redis target from config or ``REDIS_URL``; password and user from the environment or the secret scope;
    ``retry_budget_s`` when the caller's config sets one (publish's), else the target's default."""
    environ = os.environ if environ is None else environ
    url = url or environ.get(URL_ENV)
    if not url and secret_scope:
        url = secret_from_scope(secret_scope, "redis-url")
    if not url:
        raise RedisSetupError(
            f"no Redis configured: set {URL_ENV} (or RECPIPE_REDIS_URL), or a secret scope in RECPIPE_REDIS_SECRET_SCOPE"
        )
    password = environ.get(PASSWORD_ENV) or (
        secret_from_scope(secret_scope, "redis-password") if secret_scope else None
    )
    target = RedisTarget(url=url, password=password, username=environ.get(USERNAME_ENV), retries=retries)
    return target if retry_budget_s is None else replace(target, retry_budget_s=retry_budget_s)


def target_for(settings: Settings, publishing: PublishConfig, url: str | None = None) -> RedisTarget:
    """The run's Redis, resolved one way for every job that reads or writes it: ``url`` (a job's --redis-url), else
    the settings' URL (``RECPIPE_REDIS_URL``, ``REDIS_URL``), else the secret scope; retries and the retry budget
    from the publish config."""
    return resolve_target(
        url or settings.redis_url,
        settings.redis_secret_scope,
        retries=publishing.retries,
        retry_budget_s=publishing.retry_budget_s,
    )
