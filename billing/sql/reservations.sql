-- The request path's holds on credit, for PostgreSQL: one round trip each, atomic across processes.
-- Lock order, everywhere: reservation row, then credit account, then key budget.
-- Money in nano-USD. Mirrors billing/reservations_orm.py (the embedded default's SQLite).

CREATE OR REPLACE FUNCTION billing_reserve(p_org bigint, p_key bigint, p_request text, p_amount bigint,
                                           p_ttl_s double precision) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  a billing_creditaccount%ROWTYPE;
  b billing_keybudget%ROWTYPE;
  cur date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  has_budget boolean := false;
BEGIN
  SELECT * INTO a FROM billing_creditaccount WHERE organization_id = p_org FOR UPDATE;
  IF NOT FOUND THEN  -- an organization that never had credit: its account, from the column defaults
    INSERT INTO billing_creditaccount (organization_id) VALUES (p_org) ON CONFLICT DO NOTHING;
    SELECT * INTO a FROM billing_creditaccount WHERE organization_id = p_org FOR UPDATE;
  END IF;
  IF NOT a.postpaid AND a.balance_nusd - a.reserved_nusd < p_amount THEN RETURN 'balance'; END IF;
  IF a.monthly_cap_nusd IS NOT NULL AND
     (CASE WHEN a.month = cur THEN a.month_spent_nusd ELSE 0 END) + a.reserved_nusd + p_amount > a.monthly_cap_nusd
  THEN RETURN 'org_cap'; END IF;
  IF p_key IS NOT NULL THEN
    SELECT * INTO b FROM billing_keybudget WHERE api_key_id = p_key FOR UPDATE;
    has_budget := FOUND;
    IF has_budget AND b.monthly_budget_nusd IS NOT NULL AND
       (CASE WHEN b.month = cur THEN b.month_spent_nusd ELSE 0 END) + b.reserved_nusd + p_amount > b.monthly_budget_nusd
    THEN RETURN 'key_budget'; END IF;
  END IF;
  -- A request id already charged is never held again (its settle could not write a second entry).
  IF EXISTS (SELECT 1 FROM billing_ledgerentry WHERE request_id = p_request) THEN RETURN 'duplicate'; END IF;
  INSERT INTO billing_reservation (request_id, organization_id, api_key_id, amount_nusd, created_at, expires_at, expired)
  VALUES (p_request, p_org, p_key, p_amount, now(), now() + make_interval(secs => p_ttl_s), false)
  ON CONFLICT (request_id) DO NOTHING;
  IF NOT FOUND THEN RETURN 'duplicate'; END IF;
  UPDATE billing_creditaccount SET reserved_nusd = reserved_nusd + p_amount WHERE organization_id = p_org;
  IF has_budget THEN
    UPDATE billing_keybudget SET reserved_nusd = reserved_nusd + p_amount WHERE api_key_id = p_key;
  END IF;
  RETURN 'ok';
END $$;

-- Charges p_charged (>= 0) for the request and drops its hold. Returns status 'none' when there is
-- no reservation (settled already, released, or never reserved): settling is idempotent. A charge
-- is never more than what was held for it: above, it is cut to the hold (status 'capped'), so a
-- balance, an organization's cap or a key's budget can never be overspent.
CREATE OR REPLACE FUNCTION billing_settle(p_request text, p_charged bigint, OUT status text, OUT org_id bigint,
                                          OUT balance_before bigint, OUT balance_after bigint)
LANGUAGE plpgsql AS $$
DECLARE
  r billing_reservation%ROWTYPE;
  cur date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  hold bigint;
  capped boolean := false;
BEGIN
  DELETE FROM billing_reservation WHERE request_id = p_request RETURNING * INTO r;
  IF NOT FOUND THEN status := 'none'; RETURN; END IF;
  IF p_charged > r.amount_nusd THEN p_charged := r.amount_nusd; capped := true; END IF;
  org_id := r.organization_id;
  hold := CASE WHEN r.expired THEN 0 ELSE r.amount_nusd END;
  UPDATE billing_creditaccount
     SET reserved_nusd = reserved_nusd - hold,
         balance_nusd = balance_nusd - p_charged,
         month_spent_nusd = (CASE WHEN month = cur THEN month_spent_nusd ELSE 0 END) + p_charged,
         month = cur,
         updated_at = now()
   WHERE organization_id = r.organization_id
  RETURNING balance_nusd + p_charged, balance_nusd INTO balance_before, balance_after;
  IF p_charged <> 0 THEN
    INSERT INTO billing_ledgerentry (organization_id, kind, amount_nusd, balance_after_nusd, created_at, note,
                                     request_id, receipt_url)
    VALUES (r.organization_id, 'usage', -p_charged, balance_after, now(), '', p_request, '');
  END IF;
  IF r.api_key_id IS NOT NULL THEN
    UPDATE billing_keybudget
       SET reserved_nusd = reserved_nusd - hold,
           month_spent_nusd = (CASE WHEN month = cur THEN month_spent_nusd ELSE 0 END) + p_charged,
           month = cur
     WHERE api_key_id = r.api_key_id;
  END IF;
  status := CASE WHEN capped THEN 'capped' ELSE 'ok' END;
END $$;

-- Releases the holds of reservations past their expiry (their worker never settled). The rows
-- stay, marked expired, for a day: a late settle still charges its request.
CREATE OR REPLACE FUNCTION billing_sweep(p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  r billing_reservation%ROWTYPE;
  n integer := 0;
BEGIN
  FOR r IN SELECT * FROM billing_reservation WHERE NOT expired AND expires_at < now()
           ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED LOOP
    UPDATE billing_reservation SET expired = true WHERE id = r.id;
    UPDATE billing_creditaccount SET reserved_nusd = reserved_nusd - r.amount_nusd
     WHERE organization_id = r.organization_id;
    IF r.api_key_id IS NOT NULL THEN
      UPDATE billing_keybudget SET reserved_nusd = reserved_nusd - r.amount_nusd WHERE api_key_id = r.api_key_id;
    END IF;
    n := n + 1;
  END LOOP;
  DELETE FROM billing_reservation WHERE expired AND expires_at < now() - interval '1 day';
  RETURN n;
END $$;
