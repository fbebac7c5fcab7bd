"""Hourly and daily rollups equal a direct count of the usage rows they came from, whatever the
rows (cached and cache-write tokens, streams cut short, errors); re-running changes nothing; late
rows are picked up; expired usage rows go, rollups stay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.keys import apikey_create, organization_get_or_create
from analytics import metrics
from analytics.models import UsageRecord, UsageRollup
from analytics.rollups import day_floor, hour_floor, purge_expired, rollup_due, rollup_hour
from tests.analytics.conftest import by_hand, random_rows, stored, usage_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_and_keys(catalog):
    org = organization_get_or_create(name="Rollup Co")
    keys = [apikey_create(organization=org, name=f"k{i}")[0].pk for i in range(3)]
    return org, keys + [None]


def test_it_rolls_up_hours_and_days_to_exactly_the_raw_rows(org_and_keys, rng):
    org, keys = org_and_keys
    now = timezone.now()
    start = hour_floor(now) - timedelta(hours=30)
    rows = random_rows(rng, org.pk, keys, start, 30, 1500)
    UsageRecord.objects.bulk_create(rows)

    rollup_due(now)

    assert stored("h", org.pk) == by_hand(rows, hour_floor)
    assert stored("d", org.pk) == by_hand(rows, day_floor)
    # The cut-short streams and cache tokens are really in there (the data exercises them).
    assert UsageRollup.objects.filter(period="h", organization=org, status="stream_interrupted").exists()
    assert (
        sum(v["cache_write_tokens"] for v in stored("d", org.pk).values())
        == sum(r.cache_write_tokens for r in rows)
        > 0
    )


def test_it_gives_the_same_rollups_when_run_again(org_and_keys, rng):
    org, keys = org_and_keys
    now = timezone.now()
    rows = random_rows(rng, org.pk, keys, hour_floor(now) - timedelta(hours=5), 5, 400)
    UsageRecord.objects.bulk_create(rows)
    rollup_due(now)
    first_h, first_d = stored("h", org.pk), stored("d", org.pk)
    rollup_due(now)
    for h in {hour_floor(r.created_at) for r in rows}:
        rollup_hour(h)
    assert stored("h", org.pk) == first_h
    assert stored("d", org.pk) == first_d
    assert UsageRollup.objects.filter(period="h", organization=org).count() == len(first_h)


def test_it_picks_up_rows_that_arrive_late(org_and_keys):
    org, keys = org_and_keys
    now = timezone.now()
    old_hour = hour_floor(now) - timedelta(hours=6)
    UsageRecord.objects.bulk_create(
        [usage_row(org.pk, old_hour + timedelta(minutes=5), api_key_id=keys[0], prompt_tokens=10, charged_nusd=100)]
    )
    rollup_due(now)
    # Written after its hour was rolled up (a retried write after an outage, say).
    late = usage_row(org.pk, old_hour + timedelta(minutes=50), api_key_id=keys[0], prompt_tokens=7, charged_nusd=11)
    UsageRecord.objects.bulk_create([late])
    assert old_hour in rollup_due(now + timedelta(minutes=5))
    row = UsageRollup.objects.get(period="h", organization=org, bucket_start=old_hour)
    assert (row.requests, row.prompt_tokens, row.charged_nusd) == (2, 17, 111)
    day = UsageRollup.objects.get(period="d", organization=org, bucket_start=day_floor(old_hour))
    assert (day.requests, day.charged_nusd) >= (2, 111)


def test_it_leaves_the_current_hour_to_be_read_raw(org_and_keys):
    org, keys = org_and_keys
    now = timezone.now()
    UsageRecord.objects.bulk_create([usage_row(org.pk, hour_floor(now) + timedelta(seconds=1))])
    rollup_due(now)
    assert not UsageRollup.objects.filter(period="h", organization=org, bucket_start=hour_floor(now)).exists()


def test_it_expires_old_usage_rows_after_rolling_them_up_and_keeps_the_rollups(org_and_keys, settings):
    org, keys = org_and_keys
    now = timezone.now()
    old = hour_floor(now) - timedelta(days=3)
    recent = hour_floor(now) - timedelta(hours=3)
    UsageRecord.objects.bulk_create(
        [usage_row(org.pk, old + timedelta(minutes=i), charged_nusd=5) for i in range(7)]
        + [usage_row(org.pk, recent, charged_nusd=9)]
    )
    # Rolled up while inside the retention period, then the period is shortened and they expire.
    settings.AIPOWER_USAGE_RETENTION_DAYS = 90
    rollup_due(now)
    settings.AIPOWER_USAGE_RETENTION_DAYS = 2
    assert purge_expired(now, batch=3) >= 7
    assert list(UsageRecord.objects.filter(organization=org).values_list("charged_nusd", flat=True)) == [9]
    assert UsageRollup.objects.get(period="h", organization=org, bucket_start=old).charged_nusd == 35
    assert UsageRollup.objects.get(period="d", organization=org, bucket_start=day_floor(old)).charged_nusd == 35


def test_it_reads_percentiles_off_merged_histograms():
    hist = [0] * metrics.N_BUCKETS
    for ms in [10] * 50 + [900] * 45 + [5000] * 5:
        hist[metrics.bucket_of(ms)] += 1
    assert metrics.percentile(hist, 0.5) <= 25
    assert 750 < metrics.percentile(hist, 0.95) <= 1000
    assert 4000 < metrics.percentile(hist, 0.99) <= 6000
    assert metrics.percentile([0] * metrics.N_BUCKETS, 0.5) is None
