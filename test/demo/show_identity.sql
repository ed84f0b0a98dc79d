-- identity: register, log in, refresh, theft detection, one-time codes.
-- Rerunnable: the example account is recreated each time.
\echo
\echo '== identity: register a passenger, log in (argon2id: slow on purpose), refresh, reuse a spent token'
SET client_min_messages = warning;
DELETE FROM steppergo.users WHERE email = 'show.identity@example.kz';
DELETE FROM steppergo.otps WHERE phone = '+77019990001';
SELECT steppergo.register_user('Show.Identity@example.kz', '+77019990001', 'Aruzhan Show', 'correct horse battery') IS NOT NULL AS registered;
\timing on
SELECT steppergo.login('show.identity@example.kz', 'correct horse battery') AS reply \gset
\timing off
SELECT key, CASE WHEN key IN ('access_token', 'refresh_token') THEN left(value #>> '{}', 24) || '...' ELSE value #>> '{}' END AS value
  FROM jsonb_each(:'reply'::jsonb) ORDER BY key;
\echo 'claims of the access token (HS256 under steppergo.jwt_secret):'
SELECT convert_from(decode(rpad(translate(split_part(:'reply'::jsonb ->> 'access_token', '.', 2), '-_', '+/'),
                                (length(split_part(:'reply'::jsonb ->> 'access_token', '.', 2)) + 3) / 4 * 4, '='), 'base64'), 'UTF8')::jsonb AS claims;
SELECT steppergo.refresh_session(:'reply'::jsonb ->> 'refresh_token') ->> 'role' AS refreshed_role;
\echo 'the spent token again: theft detection revokes the session (PT401)'
\set ON_ERROR_STOP 0
SELECT steppergo.refresh_session(:'reply'::jsonb ->> 'refresh_token');
\set ON_ERROR_STOP 1
SELECT count(*) AS tokens, count(*) FILTER (WHERE revoked) AS revoked
  FROM steppergo.refresh_tokens WHERE session_id = (:'reply'::jsonb ->> 'session_id')::uuid;
\echo
\echo '== identity: a one-time code (only its keyed BLAKE2b is stored)'
SELECT steppergo.request_otp('+77019990001') AS code \gset
SELECT phone, encode(code_hash, 'hex') AS code_hash, expires_at - created_at AS valid_for FROM steppergo.otps WHERE phone = '+77019990001';
SELECT steppergo.verify_otp('+77019990001', '000000') AND :'code' <> '000000' AS wrong_code_accepted;
SELECT steppergo.verify_otp('+77019990001', :'code') AS verified;
SELECT phone_verified FROM steppergo.users WHERE phone = '+77019990001';
