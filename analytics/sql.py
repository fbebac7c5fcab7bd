"""The read path's SQL: one query per grouping, over every piece of a time range at once.

    SELECT <group>, SUM(...) FROM (
        SELECT ... FROM rollups WHERE <daily piece>   UNION ALL
        SELECT ... FROM rollups WHERE <hourly piece>  UNION ALL
        SELECT ... FROM usage rows WHERE <raw tail>   -- each row counted into its histogram bucket
    ) GROUP BY <group>

Written as SQL rather than through the ORM because a dashboard runs several of these with some
sixty aggregates each, and compiling them cost more than running them; the text depends only on
the grouping, the pieces present and which filters are set, so it is built once and cached.
"""

from datetime import UTC, datetime
from functools import lru_cache

from django.db import connection, transaction

from .metrics import SUMMED
from .models import LAT_FIELDS, LATENCY_BOUNDS_MS, N_BUCKETS, TTFT_FIELDS, UsageRecord, UsageRollup

ROLLUP = UsageRollup._meta.db_table
RAW = UsageRecord._meta.db_table
COLUMNS = {"key": "api_key_id", "route": "route", "model": "served_model", "provider": "provider", "status": "status"}
FILTER_ORDER = ("key", "route", "model", "provider", "status")


def _trunc(column: str, unit: str) -> str:
    if connection.vendor == "postgresql":
        return f"date_trunc('{unit}', {column} AT TIME ZONE 'UTC')"
    fmt = "%%Y-%%m-%%d %%H:00:00" if unit == "hour" else "%%Y-%%m-%%d 00:00:00"  # %% for the parameter style
    return f"strftime('{fmt}', {column})"


def parse_time(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bucket_case(column: str, i: int) -> str:
    conds = [f"{column} IS NOT NULL"] if column == "ttft_ms" else []
    if i > 0:
        conds.append(f"{column} > {LATENCY_BOUNDS_MS[i - 1]}")
    if i < N_BUCKETS - 1:
        conds.append(f"{column} <= {LATENCY_BOUNDS_MS[i]}")
    return f"CASE WHEN {' AND '.join(conds)} THEN 1 ELSE 0 END"


def _raw_values() -> list[str]:
    """A usage row's contribution to each metric of SUMMED, in order."""
    plain = {
        "requests": "1",
        "fallbacks": "CASE WHEN attempts > 1 THEN 1 ELSE 0 END",
        "latency_sum_ms": "latency_ms",
        "ttft_count": "CASE WHEN ttft_ms IS NOT NULL THEN 1 ELSE 0 END",
        "errors_total": "CASE WHEN status <> 'ok' THEN 1 ELSE 0 END",
    }
    for i in range(N_BUCKETS):
        plain[LAT_FIELDS[i]] = _bucket_case("latency_ms", i)
        plain[TTFT_FIELDS[i]] = _bucket_case("ttft_ms", i)
    return [plain.get(f, f) for f in SUMMED]


def _rollup_values() -> list[str]:
    return ["CASE WHEN status <> 'ok' THEN requests ELSE 0 END" if f == "errors_total" else f for f in SUMMED]


@lru_cache(maxsize=512)
def grouped_sql(group: tuple[str, ...], unit: str, pieces: tuple[str, ...], filters: tuple[str, ...]) -> str:
    """`group`: names of COLUMNS or "time"; `pieces`: "d", "h" (rollups) and "raw", in order, each
    with bounds parameters %(<piece>_start)s / %(<piece>_end)s (the hourly piece may come twice:
    "h" and "h2"); `filters`: the filter names set (parameters %(f_<name>)s)."""
    where_filters = "".join(f" AND {COLUMNS[f]} = %(f_{f})s" for f in filters)
    selects = []
    for piece in pieces:
        if piece == "raw":
            time_col, table, values = "created_at", RAW, _raw_values()
            bounds = "created_at >= %(raw_start)s AND created_at < %(raw_end)s"
        else:
            time_col, table, values = "bucket_start", ROLLUP, _rollup_values()
            period = "d" if piece == "d" else "h"
            bounds = f"period = '{period}' AND bucket_start >= %({piece}_start)s AND bucket_start < %({piece}_end)s"
        keys = [(_trunc(time_col, unit) if g == "time" else COLUMNS[g]) + f" AS g{i}" for i, g in enumerate(group)]
        cols = ", ".join(keys + [f"{v} AS {f}" for v, f in zip(values, SUMMED, strict=True)])
        selects.append(f"SELECT {cols} FROM {table} WHERE organization_id = %(org)s AND {bounds}{where_filters}")
    outer_keys = [f"g{i}" for i in range(len(group))]
    sums = ", ".join(f"SUM({f})" for f in SUMMED)
    sql = f"SELECT {', '.join(outer_keys + [sums])} FROM ({' UNION ALL '.join(selects)}) AS u"
    if outer_keys:
        sql += " GROUP BY " + ", ".join(outer_keys)
    return sql


def run_grouped(
    group: tuple[str, ...], unit: str, params: dict, pieces: tuple[str, ...], filters: tuple[str, ...]
) -> dict:
    """{group values: {metric: int}} (time values as aware UTC datetimes)."""
    sql = grouped_sql(group, unit, pieces, filters)
    out = {}
    n = len(group)
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            # Sixty aggregates can push PostgreSQL's cost estimate over its JIT threshold, and
            # compiling a query costs more than running it over a few thousand rollup rows.
            cur.execute("SET LOCAL jit = off")
        cur.execute(sql, params)
        for row in cur.fetchall():
            if row[n] is None:  # no rows at all (an aggregate without GROUP BY)
                continue
            key = tuple(
                parse_time(v) if g == "time" and v is not None else v for g, v in zip(group, row[:n], strict=True)
            )
            out[key] = {f: int(v or 0) for f, v in zip(SUMMED, row[n:], strict=False)}
    return out
