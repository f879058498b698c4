"""The optional Redis connection. A cache is never a reason for an error: every caller treats a
Redis failure as a miss.

Reads and writes fail differently on purpose. After a failed command, reads leave Redis alone for
a moment rather than paying a timeout on every request (they go to the database). Writes are never
skipped: a write that is not sent cannot be applied when a stalled Redis resumes, and a reader
would then find the old entry (consents/cache.py explains what writes carry and repair).

A command that times out does not close its connection. The command waits in the socket of a
connection Redis accepted long ago, and the next command sent on it queues behind it; when Redis
resumes it runs them in that order, before anything sent after. Closing it would make the next
write open a new connection, whose handshake a stalled Redis cannot answer: that write would never
leave this process, and a reader would meet the old entry once Redis resumed. The replies owed on
the connection are read and dropped before the next command's own.

Every connection learns the `run_id` of the server it reached when it connects, and each reply
comes with it: a restarted or failed-over Redis has a new run_id, so a cache can tell entries
written before the restart (possibly older than an acknowledged write that could not reach it)
from entries written since.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .outage import OutageLog

log = logging.getLogger(__name__)
#: A server's run_id is 40 hex characters (a connection that could not learn it uses zeros).
RUN_ID_LENGTH = 40
UNKNOWN_RUN_ID = "0" * RUN_ID_LENGTH
#: Builds a command's arguments from the run_id of the server it will run on.
Command = Callable[[str], tuple[Any, ...]]


def _connect_learning_run_id(connection: Any) -> None:
    """What a new connection runs once connected (redis-py's `redis_connect_func`): the usual
    handshake, then ask the server for its run_id and keep it on the connection."""
    connection.on_connect()
    connection.send_command("INFO", "server")
    info = connection.read_response()
    text = info.decode() if isinstance(info, bytes) else str(info)
    run_id = next((line[7:].strip() for line in text.splitlines() if line.startswith("run_id:")), "")
    connection.run_id = run_id[:RUN_ID_LENGTH].ljust(RUN_ID_LENGTH, "0")  # always 40 characters
    connection.owed_replies = 0  # replies to commands that timed out, still to come on this connection


def _next_reply(connection: Any) -> Any:
    """The next reply on the connection (an error reply is returned, not raised: it is read). A
    timeout leaves the connection open and the reply owed."""
    try:
        reply = connection.read_response(disconnect_on_error=False)
    except redis.ResponseError as error:
        reply = error
    connection.owed_replies -= 1
    return reply


class RedisStore:
    """A Redis client with a short read back-off after failures; `client` is None when not configured."""

    def __init__(self, url: str | None = None, prefix: str = "cs:", backoff_seconds: float = 2.0,
                 timeout_seconds: float = 0.25) -> None:
        self.prefix = prefix
        self.backoff_seconds = backoff_seconds
        self._down_until = 0.0
        self.outage = OutageLog("redis", log)
        self.client: redis.Redis | None = None
        if url:
            # No client-side retries: a failed read falls back to the database at once.
            self.client = redis.Redis.from_url(
                url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds,
                retry=Retry(NoBackoff(), 0), redis_connect_func=_connect_learning_run_id,
            )

    @property
    def enabled(self) -> bool:
        return self.client is not None

    @property
    def backing_off(self) -> bool:
        """True for a moment after a failed command: reads are skipped meanwhile (writes never are)."""
        return time.monotonic() < self._down_until

    # -- commands that report the server they ran on ---------------------------------------------
    def _execute(self, command: Command) -> tuple[str, Any]:
        """One command on a pooled connection, built from the run_id of the server that connection
        reached: (that run_id, the reply)."""
        assert self.client is not None
        pool = self.client.connection_pool
        connection = pool.get_connection()  # connects (and so learns the run_id) if it must
        try:
            run_id = getattr(connection, "run_id", UNKNOWN_RUN_ID)
            connection.send_command(*command(run_id))
            connection.owed_replies = getattr(connection, "owed_replies", 0) + 1
            while connection.owed_replies > 1:
                _next_reply(connection)  # the late reply of a command that timed out
            reply = _next_reply(connection)
        except redis.TimeoutError:
            raise  # sent, or waiting to be: keep the connection (see the module's docstring)
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)
        if isinstance(reply, redis.ResponseError):
            raise reply  # the server answered (e.g. NOSCRIPT): the connection is fine
        return run_id, reply

    def _failed(self, error: redis.RedisError) -> None:
        self._down_until = time.monotonic() + self.backoff_seconds
        self.outage.failed(error, "falling back to the database")

    def read(self, *args: Any) -> tuple[str, Any] | None:
        """(run_id, reply) of a read, or None while Redis is absent, failing or backing off."""
        return self.run(lambda _run_id: args, write=False)

    def write(self, *args: Any) -> tuple[str, Any] | None:
        """(run_id, reply) of a write, or None if it failed (see run())."""
        return self.run(lambda _run_id: args, write=True)

    def run(self, command: Command, write: bool) -> tuple[str, Any] | None:
        """(run_id, reply) of the command built by `command(run_id)`, or None if Redis is absent or
        the command failed. Reads are skipped while Redis backs off; writes are always sent, and
        sent again at once on a fresh connection if the pooled one was broken."""
        if self.client is None or (not write and self.backing_off):
            return None
        for attempt in (1, 2):
            try:
                result = self._execute(command)
            except redis.exceptions.NoScriptError:
                raise
            except redis.ConnectionError as error:
                if write and attempt == 1 and not isinstance(error, redis.exceptions.BusyLoadingError):
                    continue
                self._failed(error)
                return None
            except redis.RedisError as error:
                self._failed(error)
                return None
            self.outage.answered()
            return result
        return None  # unreachable: the loop returns

    def script(self, source: str) -> Callable[[Command, bool], tuple[str, Any] | None]:
        """A Lua script run like run(): `command(run_id)` gives its keys-count, keys and arguments;
        EVALSHA, loading the script with EVAL when the server lacks it (after a restart)."""
        sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)

        def run_script(command: Command, write: bool) -> tuple[str, Any] | None:
            try:
                return self.run(lambda run_id: ("EVALSHA", sha, *command(run_id)), write)
            except redis.exceptions.NoScriptError:
                try:
                    return self.run(lambda run_id: ("EVAL", source, *command(run_id)), write)
                except redis.exceptions.NoScriptError as error:  # not from EVAL; a failure all the same
                    self._failed(error)
                    return None

        return run_script

    # -- everything else --------------------------------------------------------------------------
    def ping(self) -> bool:
        """Whether Redis answers now (the health check: no back-off)."""
        if self.client is None:
            return False
        try:
            return self._execute(lambda _run_id: ("PING",))[1] in (b"PONG", "PONG", True)
        except redis.RedisError:
            return False

    def key(self, *parts: Any) -> str:
        return self.prefix + ":".join(str(part) for part in parts)
