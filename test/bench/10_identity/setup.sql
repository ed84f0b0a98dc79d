-- Identity bench: 10,000 phones (at scale 1) with an active one-time code
-- each, issued by request_otp itself, and one user to log in with.
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_meta;
CREATE TABLE bench_meta (key text PRIMARY KEY, value text);
-- every pgbench guess is wrong on purpose (the attacker's path, which is
-- also the path of every typo): let a code take them all, and keep the
-- codes alive for the whole run
ALTER DATABASE bench SET steppergo.otp_max_attempts = 2147483647;
DELETE FROM steppergo.otps WHERE phone LIKE '+7901%';
SELECT count(steppergo.request_otp('+7901' || lpad(g::text, 7, '0')))
  FROM generate_series(1, greatest(1, (10000 * :scale)::int)) g \gset
UPDATE steppergo.otps SET expires_at = now() + interval '1 day' WHERE phone LIKE '+7901%';
-- login: libsodium's interactive argon2id limits (the defaults)
DELETE FROM steppergo.users WHERE email = 'bench.login@identity.test';
SELECT steppergo.register_user('bench.login@identity.test', '+79019999999', 'Bench Login', 'bench correct horse') IS NOT NULL AS registered \gset
VACUUM ANALYZE steppergo.otps, steppergo.users;
INSERT INTO bench_meta SELECT 'nphones', count(*)::text FROM steppergo.otps WHERE phone LIKE '+7901%';
