import pytest

from accounts import keys


@pytest.mark.parametrize("raw", ["sk-aip-short", "sk-other-" + "a" * 38, keys.generate_key()[:-1] + "!"])
async def test_a_malformed_key_is_refused_before_any_database_lookup(raw):
    # No database access is allowed in this test: a lookup would raise instead of returning None.
    assert await keys.authenticate(raw) is None


async def test_a_well_formed_key_is_looked_up():
    with pytest.raises(RuntimeError, match="Database access not allowed"):
        await keys.authenticate(keys.generate_key())


def test_a_mistyped_key_fails_its_checksum():
    good = keys.generate_key()
    assert keys.is_well_formed(good)
    flipped = good[:10] + ("A" if good[10] != "A" else "B") + good[11:]
    assert not keys.is_well_formed(flipped)
