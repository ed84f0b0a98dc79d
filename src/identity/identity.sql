-- ===========================================================================
-- identity (release 0.2): accounts, passwords, sessions, refresh tokens,
-- access tokens (JWT) and one-time codes, in C with libsodium
-- (src/identity/*.c).  See src/identity/README.md.
-- ===========================================================================

CREATE FUNCTION register_user(email text, phone text, name text, password text,
                              role user_role DEFAULT 'PASSENGER')
  RETURNS uuid
  AS 'MODULE_PATHNAME', 'sg_identity_register_user'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION register_user(text, text, text, text, user_role) IS
  'Creates an account and returns its id. email (lower-cased) or phone (E.164) is required, both unique (23505 naming the field); name 1 to 200 characters; the password (steppergo.password_min_length to 1024 bytes, else 22023) is stored only as an argon2id hash. Anyone may register as PASSENGER, DRIVER or ACTIVITY_OWNER; ADMIN needs an administrator or a trusted caller (42501).';
SELECT api_expose('register_user(text, text, text, text, user_role)'::regprocedure, 'anon');

CREATE FUNCTION login(identifier text, password text)
  RETURNS jsonb
  AS 'MODULE_PATHNAME', 'sg_identity_login'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION login(text, text) IS
  'Logs in by e-mail or E.164 phone and password. Returns {user_id, role, access_token (JWT HS256 under steppergo.jwt_secret), token_type, expires_at (of the access token), refresh_token, refresh_expires_at, session_id, is_first_login (before this login), tenant_id}. Wrong password and unknown identifier fail alike with PT401 after the same argon2id work. Rehashes bcrypt (imported) and outdated argon2id hashes on success.';
SELECT api_expose('login(text, text)'::regprocedure, 'anon');

CREATE FUNCTION refresh_session(refresh_token text)
  RETURNS jsonb
  AS 'MODULE_PATHNAME', 'sg_identity_refresh_session'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION refresh_session(text) IS
  'Spends a refresh token and returns new tokens of the same session, shaped like login''s reply. Unknown, malformed, expired or revoked tokens fail with PT401; a token that was already spent revokes its whole family and session (theft detection, committed by a background worker) and fails with PT401.';
SELECT api_expose('refresh_session(text)'::regprocedure, 'anon');

CREATE FUNCTION logout(refresh_token text)
  RETURNS void
  AS 'MODULE_PATHNAME', 'sg_identity_logout'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION logout(text) IS
  'Ends the session of a refresh token: revokes every token of its family and the session. Harmless when already done; an unknown token fails with PT401.';
SELECT api_expose('logout(text)'::regprocedure, 'anon');

CREATE FUNCTION request_otp(phone text)
  RETURNS text
  AS 'MODULE_PATHNAME', 'sg_identity_request_otp'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION request_otp(text) IS
  'Issues a 6-digit one-time code for an E.164 phone and returns it once, for delivery; only its keyed BLAKE2b is stored. Invalidates the phone''s previous active code. Valid for steppergo.otp_ttl; more than steppergo.otp_max_requests requests per steppergo.otp_request_window fail with PT429.';
SELECT api_expose('request_otp(text)'::regprocedure, 'anon');

CREATE FUNCTION verify_otp(phone text, code text)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'sg_identity_verify_otp'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION verify_otp(phone text, code text) IS
  'Checks a one-time code in constant time. True marks the code verified (never accepted again) and the user with that phone phone_verified; false for a wrong code (the attempt counts), an expired, used or superseded code, or none. After steppergo.otp_max_attempts attempts the code is burnt: PT429.';
SELECT api_expose('verify_otp(text, text)'::regprocedure, 'anon');

CREATE FUNCTION jwt_sign_hs256(signing_input text, key bytea)
  RETURNS text
  AS 'MODULE_PATHNAME', 'sg_identity_jwt_sign_hs256'
  LANGUAGE C IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION jwt_sign_hs256(text, bytea) IS
  'Internal: the base64url HS256 (HMAC-SHA256) signature of a JWS signing input under an explicit key; the signer of access tokens, exposed to check it against RFC 7515 appendix A.1. Access tokens are signed with steppergo.jwt_secret, which this function never sees.';
