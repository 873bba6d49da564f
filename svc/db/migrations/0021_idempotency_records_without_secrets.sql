-- The record that answers a retry of a write with its Idempotency-Key (0007) kept, for an API key's creation, its
-- whole answer: the new key's secret in plain text, for a day, which the contract says is shown once and stored as
-- a hash only. A creation now records a 409 naming the key it made, without the secret (routers/api_keys.py). The
-- records of the creations made before it are deleted: a retry of one of those is judged again, as a new request
-- (a new key; or 409, the name being its first's).
DELETE FROM idempotency_keys WHERE scope LIKE '% POST /api/v1/keys';
