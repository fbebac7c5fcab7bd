-- Raising a request's hold before it fails over to a dearer model, and what an organization can
-- still hold. Same lock order as billing/sql/reservations.sql: reservation row, credit account,
-- key budget. Money in nano-USD. Mirrors billing/holds_orm.py (the embedded default's SQLite).

-- Raises the hold of request p_request by p_delta (>= 0) when the balance, the monthly cap and
-- the key's budget all allow it. Returns 'ok', 'balance', 'org_cap', 'key_budget', or 'none'
-- (no live reservation for the request: it was settled or its hold expired).
CREATE OR REPLACE FUNCTION billing_top_up(p_request text, p_delta bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  r billing_reservation%ROWTYPE;
  a billing_creditaccount%ROWTYPE;
  b billing_keybudget%ROWTYPE;
  cur date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  has_budget boolean := false;
BEGIN
  SELECT * INTO r FROM billing_reservation WHERE request_id = p_request FOR UPDATE;
  IF NOT FOUND OR r.expired THEN RETURN 'none'; END IF;
  SELECT * INTO a FROM billing_creditaccount WHERE organization_id = r.organization_id FOR UPDATE;
  IF NOT a.postpaid AND a.balance_nusd - a.reserved_nusd < p_delta THEN RETURN 'balance'; END IF;
  IF a.monthly_cap_nusd IS NOT NULL AND
     (CASE WHEN a.month = cur THEN a.month_spent_nusd ELSE 0 END) + a.reserved_nusd + p_delta > a.monthly_cap_nusd
  THEN RETURN 'org_cap'; END IF;
  IF r.api_key_id IS NOT NULL THEN
    SELECT * INTO b FROM billing_keybudget WHERE api_key_id = r.api_key_id FOR UPDATE;
    has_budget := FOUND;
    IF has_budget AND b.monthly_budget_nusd IS NOT NULL AND
       (CASE WHEN b.month = cur THEN b.month_spent_nusd ELSE 0 END) + b.reserved_nusd + p_delta > b.monthly_budget_nusd
    THEN RETURN 'key_budget'; END IF;
  END IF;
  UPDATE billing_reservation SET amount_nusd = amount_nusd + p_delta WHERE id = r.id;
  UPDATE billing_creditaccount SET reserved_nusd = reserved_nusd + p_delta WHERE organization_id = r.organization_id;
  IF has_budget THEN
    UPDATE billing_keybudget SET reserved_nusd = reserved_nusd + p_delta WHERE api_key_id = r.api_key_id;
  END IF;
  RETURN 'ok';
END $$;

-- What the organization (and the key, when it has a budget) could hold right now: the least of
-- the prepaid balance's free part, the monthly cap's remainder and the key budget's remainder.
-- NULL when nothing limits it (postpaid, no cap, no budget).
CREATE OR REPLACE FUNCTION billing_headroom(p_org bigint, p_key bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
  a billing_creditaccount%ROWTYPE;
  b billing_keybudget%ROWTYPE;
  cur date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  room bigint := NULL;
BEGIN
  SELECT * INTO a FROM billing_creditaccount WHERE organization_id = p_org;
  IF NOT FOUND THEN RETURN 0; END IF;
  IF NOT a.postpaid THEN room := a.balance_nusd - a.reserved_nusd; END IF;
  IF a.monthly_cap_nusd IS NOT NULL THEN
    room := LEAST(COALESCE(room, a.monthly_cap_nusd), a.monthly_cap_nusd - a.reserved_nusd
                  - (CASE WHEN a.month = cur THEN a.month_spent_nusd ELSE 0 END));
  END IF;
  IF p_key IS NOT NULL THEN
    SELECT * INTO b FROM billing_keybudget WHERE api_key_id = p_key;
    IF FOUND AND b.monthly_budget_nusd IS NOT NULL THEN
      room := LEAST(COALESCE(room, b.monthly_budget_nusd), b.monthly_budget_nusd - b.reserved_nusd
                    - (CASE WHEN b.month = cur THEN b.month_spent_nusd ELSE 0 END));
    END IF;
  END IF;
  IF room IS NULL THEN RETURN NULL; END IF;  -- GREATEST would turn it into 0
  RETURN GREATEST(room, 0);
END $$;
