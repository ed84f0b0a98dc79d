-- identity: accounts, passwords, sessions, refresh tokens, access tokens
-- (JWT HS256) and one-time codes.  Phones +7901NNNNNNN, e-mails @identity.test.
\set VERBOSITY terse
\set ON_ERROR_STOP 0
SET search_path = steppergo, public;

-- the settings and their defaults
SELECT name, boot_val, unit, context FROM pg_settings
 WHERE name IN ('steppergo.access_token_ttl', 'steppergo.jwt_role', 'steppergo.otp_max_attempts',
                'steppergo.otp_max_requests', 'steppergo.otp_request_window', 'steppergo.otp_ttl',
                'steppergo.password_memlimit', 'steppergo.password_min_length', 'steppergo.password_opslimit',
                'steppergo.refresh_revoke_wait', 'steppergo.refresh_token_ttl')
 ORDER BY name;
-- cheap hashes for the suite (the interactive default costs ~0.1 s a hash)
SET steppergo.password_opslimit = 1;
SET steppergo.password_memlimit = '8MB';

-- the API surface
SELECT split_part(signature, '(', 1) AS function, audience FROM api_functions
 WHERE signature ~ '^(register_user|login|refresh_session|logout|request_otp|verify_otp|jwt_sign_hs256)\(' ORDER BY 1;

-- the HS256 signer against RFC 7515 appendix A.1 (its 64-byte key as a JWK
-- "k", base64url; its signing input with CRLFs in the header and payload)
SELECT jwt_sign_hs256(
  'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ',
  decode(translate('AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow', '-_', '+/') || '==', 'base64'))
  = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' AS rfc7515_a1;
-- and RFC 4231 test case 2 (HMAC-SHA256, a key shorter than the block), hex
SELECT encode(decode(rpad(translate(jwt_sign_hs256('what do ya want for nothing?', 'Jefe'), '-_', '+/'), 44, '='), 'base64'), 'hex')
  = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843' AS rfc4231_case2;
SELECT jwt_sign_hs256('x', '');                                -- 22023
\echo :LAST_ERROR_SQLSTATE

-- A role that calls like PostgREST does (SET ROLE + claims)
CREATE ROLE identity_api NOLOGIN;
GRANT USAGE ON SCHEMA steppergo TO identity_api;

-- ------------------------------------------------------------ register_user
SELECT register_user(' Aigerim@Identity.TEST ', '+79010000101', ' Aigerim Abenova ', 'correct horse 1') IS NOT NULL AS registered;
SELECT email, phone, name, role, password_hash LIKE '$argon2id$v=19$m=8192,t=1,p=1$%' AS argon2id,
       email_verified, phone_verified, is_first_login
  FROM users WHERE phone = '+79010000101';
-- phone only, as a driver
SELECT register_user(NULL, ' +79010000102 ', 'Bolat', 'correct horse 2', 'DRIVER') IS NOT NULL AS registered;
SELECT email, phone, role FROM users WHERE phone = '+79010000102';
-- refusals, none of which writes anything
SELECT register_user(NULL, NULL, 'Nobody', 'correct horse 3');                       -- 22004
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('n1@identity.test', NULL, NULL, 'correct horse 3');             -- 22004
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('n1@identity.test', NULL, 'N1', NULL);                          -- 22004
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('n1@identity.test', NULL, 'N1', 'correct horse 3', NULL);       -- 22004
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('not-an-email', NULL, 'N1', 'correct horse 3');                 -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT register_user(NULL, '87010000103', 'N1', 'correct horse 3');                  -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('n1@identity.test', NULL, '   ', 'correct horse 3');            -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('n1@identity.test', NULL, repeat('n', 201), 'correct horse 3'); -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('n1@identity.test', NULL, 'N1', 'short');                       -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('n1@identity.test', NULL, 'N1', repeat('p', 1025));             -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('n1@identity.test', NULL, 'N1', repeat('p', 1024)) IS NOT NULL AS longest_password_accepted;
SELECT register_user('AIGERIM@identity.test', '+79010000104', 'Copy', 'correct horse 3');  -- 23505 email
\echo :LAST_ERROR_SQLSTATE
SELECT register_user('copy@identity.test', '+79010000101', 'Copy', 'correct horse 3');     -- 23505 phone
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS refused_rows_written FROM users
 WHERE email IN ('copy@identity.test', 'not-an-email') OR phone IN ('+79010000104', '87010000103') OR name = 'Nobody';
-- ADMIN: trusted callers and administrators only
SELECT register_user('admin1@identity.test', NULL, 'Admin One', 'correct horse 4', 'ADMIN') IS NOT NULL AS trusted_made_admin;
BEGIN;
SET LOCAL ROLE identity_api;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) IS NOT NULL AS anon;
SELECT register_user('admin2@identity.test', NULL, 'Admin Two', 'correct horse 4', 'ADMIN');  -- 42501
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
SELECT id AS passenger_id FROM users WHERE phone = '+79010000101' \gset
SELECT id AS admin_id FROM users WHERE email = 'admin1@identity.test' \gset
BEGIN;
SET LOCAL ROLE identity_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'passenger_id', 'app_role', 'PASSENGER')::text, true) IS NOT NULL AS passenger;
SELECT register_user('admin2@identity.test', NULL, 'Admin Two', 'correct horse 4', 'ADMIN');  -- 42501
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL ROLE identity_api;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) IS NOT NULL AS anon;
SELECT register_user('owner1@identity.test', NULL, 'Owner One', 'correct horse 5', 'ACTIVITY_OWNER') IS NOT NULL AS anon_made_owner;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'admin_id', 'app_role', 'ADMIN')::text, true) IS NOT NULL AS admin;
SELECT register_user('admin2@identity.test', NULL, 'Admin Two', 'correct horse 4', 'ADMIN') IS NOT NULL AS admin_made_admin;
COMMIT;
SELECT email, role FROM users WHERE email IN ('owner1@identity.test', 'admin2@identity.test') ORDER BY 1;

-- -------------------------------------------------------------------- login
SELECT login(' AIGERIM@identity.test ', 'correct horse 1') AS r \gset
SELECT jsonb_object_keys(:'r'::jsonb) AS reply_key ORDER BY 1;
SELECT r->>'role' AS role, r->>'token_type' AS token_type, r->>'is_first_login' AS was_first_login,
       (r->>'user_id')::uuid = u.id AS user_id_ok,
       length(r->>'refresh_token') AS refresh_token_length,
       (r->>'expires_at')::timestamptz - u.last_login_at BETWEEN interval '14 min 59 s' AND interval '15 min' AS access_expiry_15_min,
       (r->>'refresh_expires_at')::timestamptz - u.last_login_at = interval '30 days' AS refresh_expiry_30_days
  FROM (SELECT :'r'::jsonb AS r) s, users u WHERE u.phone = '+79010000101';
-- the access token: HS256 under steppergo.jwt_secret, with the claims PostgREST needs
CREATE FUNCTION pg_temp.b64url(t text) RETURNS bytea LANGUAGE sql
  RETURN decode(rpad(translate(t, '-_', '+/'), (length(t) + 3) / 4 * 4, '='), 'base64');
CREATE FUNCTION pg_temp.jwt_ok(tok text) RETURNS boolean LANGUAGE sql
  RETURN steppergo.jwt_sign_hs256(split_part(tok, '.', 1) || '.' || split_part(tok, '.', 2),
                                  convert_to(current_setting('steppergo.jwt_secret'), 'UTF8'))
         = split_part(tok, '.', 3);
CREATE FUNCTION pg_temp.claims(tok text) RETURNS jsonb LANGUAGE sql
  RETURN convert_from(pg_temp.b64url(split_part(tok, '.', 2)), 'UTF8')::jsonb;
SELECT convert_from(pg_temp.b64url(split_part(:'r'::jsonb->>'access_token', '.', 1)), 'UTF8') AS jose_header,
       pg_temp.jwt_ok(:'r'::jsonb->>'access_token') AS signature_ok;
SELECT c->>'role' AS role, c->>'app_role' AS app_role, c ? 'tenant_id' AS has_tenant,
       (c->>'sub')::uuid = (:'r'::jsonb->>'user_id')::uuid AS sub_ok,
       (c->>'sid')::uuid = (:'r'::jsonb->>'session_id')::uuid AS sid_ok,
       (c->>'exp')::bigint - (c->>'iat')::bigint AS lifetime_s,
       (c->>'iat')::bigint = extract(epoch FROM date_trunc('second', u.last_login_at))::bigint AS iat_is_login_time
  FROM pg_temp.claims(:'r'::jsonb->>'access_token') c, users u WHERE u.phone = '+79010000101';
-- the session and its first refresh token: hashes only
SELECT s.user_id = u.id AS session_user_ok, length(s.token_hash) AS session_hash_bytes,
       s.revoked_at IS NULL AS live, s.expires_at = s.created_at + interval '30 days' AS session_expiry,
       t.family_id = s.id AS family_is_session, t.token_hash = s.token_hash AS session_hash_is_first_token,
       t.used_at IS NULL AND NOT t.revoked AS unspent,
       t.token_hash <> convert_to(:'r'::jsonb->>'refresh_token', 'UTF8') AS not_stored_in_clear,
       u.last_login_at = s.created_at AS last_login_recorded, u.is_first_login
  FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id JOIN users u ON u.id = s.user_id
 WHERE s.id = (:'r'::jsonb->>'session_id')::uuid;
-- by phone (this user's first login)
SELECT r->>'role' AS role, r->>'is_first_login' AS was_first_login
  FROM login(' +79010000102', 'correct horse 2') r;
-- wrong password, unknown e-mail, unknown phone: the same PT401
SELECT login('aigerim@identity.test', 'wrong horse 1');        -- PT401
\echo :LAST_ERROR_SQLSTATE
SELECT login('nobody@identity.test', 'correct horse 1');       -- PT401
\echo :LAST_ERROR_SQLSTATE
SELECT login('+79019999999', 'correct horse 1');               -- PT401
\echo :LAST_ERROR_SQLSTATE
SELECT login('', '');                                          -- PT401
\echo :LAST_ERROR_SQLSTATE
SELECT login(NULL, 'correct horse 1');                         -- 22004
\echo :LAST_ERROR_SQLSTATE
SELECT login('aigerim@identity.test', NULL);                   -- 22004
\echo :LAST_ERROR_SQLSTATE
SELECT login('aigerim@identity.test', repeat('p', 1025));      -- 22023
\echo :LAST_ERROR_SQLSTATE
-- a user without a password or with a damaged hash cannot log in
INSERT INTO users (email, name, password_hash) VALUES ('nopass@identity.test', 'No Pass', NULL), ('damaged@identity.test', 'Damaged', 'x');
SELECT login('nopass@identity.test', 'anything at all');      -- PT401
\echo :LAST_ERROR_SQLSTATE
SELECT login('damaged@identity.test', 'x');                    -- PT401
\echo :LAST_ERROR_SQLSTATE
-- as an anonymous API caller
BEGIN;
SET LOCAL ROLE identity_api;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) IS NOT NULL AS anon;
SELECT (login('aigerim@identity.test', 'correct horse 1'))->>'role' AS anon_login_role;
ROLLBACK;
-- tenant_id claim, role claim and lifetime follow the user and the settings
INSERT INTO tenants (name) VALUES ('Identity Test Tenant');
UPDATE users SET tenant_id = (SELECT id FROM tenants WHERE name = 'Identity Test Tenant') WHERE phone = '+79010000102';
SET steppergo.jwt_role = 'web_user';
SET steppergo.access_token_ttl = '1min';
SELECT c->>'role' AS role, c->>'app_role' AS app_role,
       (c->>'tenant_id')::uuid = (SELECT id FROM tenants WHERE name = 'Identity Test Tenant') AS tenant_claim,
       (r->>'tenant_id')::uuid = (c->>'tenant_id')::uuid AS tenant_in_reply,
       (c->>'exp')::bigint - (c->>'iat')::bigint AS lifetime_s
  FROM login('+79010000102', 'correct horse 2') r, pg_temp.claims(r->>'access_token') c;
RESET steppergo.jwt_role;
RESET steppergo.access_token_ttl;
SET steppergo.jwt_role = '';                                   -- refused
-- a missing or short secret: no token is signed, nothing is written
SELECT count(*) AS sessions_before FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.phone = '+79010000102' \gset
SET steppergo.jwt_secret = '';
SELECT login('+79010000102', 'correct horse 2');               -- F0000
\echo :LAST_ERROR_SQLSTATE
SET steppergo.jwt_secret = 'too short';
SELECT login('+79010000102', 'correct horse 2');               -- F0000
\echo :LAST_ERROR_SQLSTATE
RESET steppergo.jwt_secret;
SELECT count(*) = :sessions_before AS no_session_written FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.phone = '+79010000102';

-- rehash on login when the limits change
SET steppergo.password_opslimit = 2;
SELECT (login('+79010000102', 'correct horse 2'))->>'role' AS role;
SELECT password_hash LIKE '$argon2id$v=19$m=8192,t=2,p=1$%' AS rehashed FROM users WHERE phone = '+79010000102';
SET steppergo.password_opslimit = 1;

-- users imported with bcrypt hashes ($2a$, $2b$, $2y$) log in, and their
-- hash becomes argon2id; a wrong password changes nothing
INSERT INTO users (email, name, password_hash) VALUES
  ('bcrypt-2a@identity.test', 'Imported 2a', '$2a$04$8aVvq3FkhFm0Kp6JB3R0oupiNSBKZW2nMccTAOZH0NRRHt2C/7qa.'),
  ('bcrypt-2b@identity.test', 'Imported 2b', '$2b$04$NmrXetrtJmS3RzdNH4VRH.GAXSNd2YrJBNNyHQkXCRZuyqe8j./fO'),
  ('bcrypt-2y@identity.test', 'Imported 2y', '$2y$04$oUmqwwygmhHo./wnmHzFR.W3ZpW9wa2d7/O/xLaDPjeD3qUodlU46'),
  -- the OpenBSD/John the Ripper test vector: "U*U"
  ('bcrypt-jtr@identity.test', 'Imported JtR', '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW');
SELECT login('bcrypt-2b@identity.test', 'imported secreT');    -- PT401
\echo :LAST_ERROR_SQLSTATE
SELECT password_hash LIKE '$2b$%' AS still_bcrypt FROM users WHERE email = 'bcrypt-2b@identity.test';
SELECT e, (login(e, p))->>'role' AS role
  FROM (VALUES ('bcrypt-2a@identity.test', 'imported secret'), ('bcrypt-2b@identity.test', 'imported secret'),
               ('bcrypt-2y@identity.test', 'imported secret'), ('bcrypt-jtr@identity.test', 'U*U')) v(e, p);
SELECT email, password_hash LIKE '$argon2id$v=19$m=8192,t=1,p=1$%' AS upgraded_to_argon2id
  FROM users WHERE email LIKE 'bcrypt-%@identity.test' ORDER BY 1;
SELECT (login('bcrypt-jtr@identity.test', 'U*U'))->>'role' AS argon2id_login_after_upgrade;

-- ---------------------------------------------------------- refresh_session
SELECT login('aigerim@identity.test', 'correct horse 1') AS r1 \gset
SELECT refresh_session(:'r1'::jsonb->>'refresh_token') AS r2 \gset
SELECT r2->>'role' AS role, r2->>'refresh_token' <> r1->>'refresh_token' AS new_refresh_token,
       r2->>'session_id' = r1->>'session_id' AS same_session, r2->>'user_id' = r1->>'user_id' AS same_user,
       pg_temp.jwt_ok(r2->>'access_token') AS signature_ok,
       pg_temp.claims(r2->>'access_token')->>'sid' = r1->>'session_id' AS sid_ok
  FROM (SELECT :'r1'::jsonb AS r1, :'r2'::jsonb AS r2) s;
SELECT count(*) AS tokens, count(*) FILTER (WHERE used_at IS NOT NULL) AS spent,
       count(*) FILTER (WHERE replaced_by IS NOT NULL) AS replaced, count(DISTINCT family_id) AS families,
       bool_or(revoked) AS any_revoked
  FROM refresh_tokens WHERE session_id = (:'r1'::jsonb->>'session_id')::uuid;
SELECT refresh_session(:'r2'::jsonb->>'refresh_token') AS r3 \gset
-- presenting a spent token again: PT401, and the whole family is revoked
SELECT refresh_session(:'r1'::jsonb->>'refresh_token');       -- PT401 reuse
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS tokens, count(*) FILTER (WHERE revoked) AS revoked
  FROM refresh_tokens WHERE family_id = (:'r1'::jsonb->>'session_id')::uuid;
SELECT revoked_at IS NOT NULL AS session_revoked FROM sessions WHERE id = (:'r1'::jsonb->>'session_id')::uuid;
SELECT refresh_session(:'r3'::jsonb->>'refresh_token');       -- PT401 revoked
\echo :LAST_ERROR_SQLSTATE
-- malformed, unknown, NULL
SELECT refresh_session('not a token');                         -- PT401
\echo :LAST_ERROR_SQLSTATE
SELECT refresh_session(repeat('A', 43));                       -- PT401 (well-formed, unknown)
\echo :LAST_ERROR_SQLSTATE
SELECT refresh_session(NULL);                                  -- 22004
\echo :LAST_ERROR_SQLSTATE
-- expired
SELECT login('aigerim@identity.test', 'correct horse 1') AS r4 \gset
UPDATE refresh_tokens SET created_at = now() - interval '31 days', expires_at = now() - interval '1 day'
 WHERE session_id = (:'r4'::jsonb->>'session_id')::uuid;
SELECT refresh_session(:'r4'::jsonb->>'refresh_token');       -- PT401 expired
\echo :LAST_ERROR_SQLSTATE
-- an anonymous API caller refreshes (the refresh token is the credential)
SELECT login('aigerim@identity.test', 'correct horse 1') AS r5 \gset
BEGIN;
SET LOCAL ROLE identity_api;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) IS NOT NULL AS anon;
SELECT (refresh_session(:'r5'::jsonb->>'refresh_token'))->>'role' AS anon_refresh_role;
ROLLBACK;

-- ------------------------------------------------------------------- logout
SELECT refresh_session(:'r5'::jsonb->>'refresh_token') AS r6 \gset
SELECT logout(:'r6'::jsonb->>'refresh_token') AS logged_out;
SELECT count(*) AS tokens, count(*) FILTER (WHERE revoked) AS revoked
  FROM refresh_tokens WHERE family_id = (:'r5'::jsonb->>'session_id')::uuid;
SELECT revoked_at IS NOT NULL AS session_revoked FROM sessions WHERE id = (:'r5'::jsonb->>'session_id')::uuid;
SELECT logout(:'r6'::jsonb->>'refresh_token') AS logged_out_again;
SELECT refresh_session(:'r6'::jsonb->>'refresh_token');       -- PT401 revoked
\echo :LAST_ERROR_SQLSTATE
SELECT logout('not a token');                                  -- PT401
\echo :LAST_ERROR_SQLSTATE
SELECT logout(repeat('A', 43));                                -- PT401
\echo :LAST_ERROR_SQLSTATE
SELECT logout(NULL);                                           -- 22004
\echo :LAST_ERROR_SQLSTATE

-- --------------------------------------------------------------------- OTP
SELECT request_otp('+79010000101') AS code \gset
SELECT :'code' ~ '^[0-9]{6}$' AS six_digits;
SELECT length(code_hash) AS hash_bytes, attempts, verified, invalidated_at IS NULL AS active,
       expires_at - created_at AS lifetime
  FROM otps WHERE phone = '+79010000101';
SELECT verify_otp('+79010000101', CASE WHEN :'code' = '000000' THEN '000001' ELSE '000000' END) AS wrong_code;
SELECT attempts FROM otps WHERE phone = '+79010000101';
SELECT phone_verified FROM users WHERE phone = '+79010000101';
SELECT verify_otp(' +79010000101 ', :'code') AS right_code;
SELECT verified, verified_at IS NOT NULL AS verified_at_set, attempts FROM otps WHERE phone = '+79010000101';
SELECT phone_verified FROM users WHERE phone = '+79010000101';
SELECT verify_otp('+79010000101', :'code') AS used_code_again;
-- a new request supersedes the active code
SELECT request_otp('+79010000101') AS code2 \gset
SELECT request_otp('+79010000101') AS code3 \gset
SELECT count(*) FILTER (WHERE invalidated_at IS NULL AND NOT verified) AS active,
       count(*) FILTER (WHERE invalidated_at IS NOT NULL) AS superseded
  FROM otps WHERE phone = '+79010000101';
SELECT verify_otp('+79010000101', :'code2') AS superseded_code;
-- 3 requests per phone per 15 minutes
SELECT request_otp('+79010000101');                            -- PT429
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS codes FROM otps WHERE phone = '+79010000101';
SET steppergo.otp_max_requests = 4;
SELECT request_otp('+79010000101') ~ '^[0-9]{6}$' AS fourth_allowed_by_setting;
RESET steppergo.otp_max_requests;
-- five attempts, then the code is burnt, even for the right code
SELECT request_otp('+79010000105') AS code5 \gset
SELECT verify_otp('+79010000105', lpad(((:'code5'::int + g) % 1000000)::text, 6, '0')) AS wrong
  FROM generate_series(1, 5) g;
SELECT verify_otp('+79010000105', :'code5');                   -- PT429
\echo :LAST_ERROR_SQLSTATE
SELECT attempts, verified FROM otps WHERE phone = '+79010000105';
-- expired
SELECT request_otp('+79010000106') AS code6 \gset
UPDATE otps SET created_at = now() - interval '6 minutes', expires_at = now() - interval '1 minute' WHERE phone = '+79010000106';
SELECT verify_otp('+79010000106', :'code6') AS expired_code;
-- no code at all
SELECT verify_otp('+79010000107', '123456') AS no_code;
-- malformed and NULL
SELECT request_otp('87010000101');                             -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT request_otp(NULL);                                      -- 22004
\echo :LAST_ERROR_SQLSTATE
SELECT verify_otp('+79010000106', '12345');                    -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT verify_otp('+79010000106', '12345a');                   -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT verify_otp('nonsense', '123456');                       -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT verify_otp(NULL, '123456');                             -- 22004
\echo :LAST_ERROR_SQLSTATE
SELECT verify_otp('+79010000106', NULL);                       -- 22004
\echo :LAST_ERROR_SQLSTATE
-- without a usable key no code is issued
SET steppergo.otp_key = 'short';
SELECT request_otp('+79010000108');                            -- F0000
\echo :LAST_ERROR_SQLSTATE
RESET steppergo.otp_key;
SELECT count(*) AS codes_written FROM otps WHERE phone = '+79010000108';
-- anonymous API callers request and verify codes
BEGIN;
SET LOCAL ROLE identity_api;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) IS NOT NULL AS anon;
SELECT request_otp('+79010000109') AS code9 \gset
SELECT verify_otp('+79010000109', :'code9') AS anon_verified;
COMMIT;

-- ------------------------------------------------ secrets and table access
SET ROLE identity_api;
SELECT current_setting('steppergo.jwt_secret');                -- 42501
\echo :LAST_ERROR_SQLSTATE
SELECT current_setting('steppergo.otp_key');                   -- 42501
\echo :LAST_ERROR_SQLSTATE
SHOW steppergo.jwt_secret;                                     -- 42501
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pg_settings WHERE name IN ('steppergo.jwt_secret', 'steppergo.otp_key');
SELECT count(*) FROM steppergo.otps;                           -- 42501
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

DROP OWNED BY identity_api;
DROP ROLE identity_api;
