from functools import wraps

from asgiref.sync import sync_to_async
from django.db import close_old_connections


def db_task(fn):
    """An async version of a sync database function, run on the default thread pool.

    The API does not pass through Django's request handler, whose signals would close stale
    connections (past CONN_MAX_AGE, or broken); each call does that first instead.
    """

    def call(*args, **kwargs):
        close_old_connections()
        return fn(*args, **kwargs)

    return wraps(fn)(sync_to_async(call, thread_sensitive=False))
