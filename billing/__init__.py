"""Credits, prices and payments. Money is integer nano-USD (1e-9 USD) everywhere (`*_nusd`).

- pricing.py          exact costs (`cost_of`), the reservation for a call (`worst_case_nusd`), `format_usd`
- models.py           ledger (LedgerEntry), balance (CreditAccount), holds (Reservation), KeyBudget, ...
- reservations.py     the request path: `reserve`, `settle`, `release`, `markup_bp_for` (async);
                      InsufficientCredit (.limit: "balance" | "org_cap" | "key_budget") means HTTP 402
- services.py         every other balance change (`ledger_post`), trial grant, settings
- stripe_client.py    every Stripe call; stripe_events.py what a verified webhook event does
- recharge.py         auto-recharge and low-balance emails; metering.py postpaid Billing Meter reports
- tasks.py            Celery: sweep_reservations (every minute), report_metered_usage, balance_fell
- views.py            the billing page (/billing/) and Stripe's webhook (/billing/stripe/webhook/)
"""
