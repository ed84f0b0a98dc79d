-- ===========================================================================
-- identity: users, sessions, refresh tokens, one-time codes
-- ===========================================================================

CREATE TABLE users (
  id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  email           text UNIQUE CHECK (is_email(email)),
  phone           text UNIQUE CHECK (is_e164(phone)),
  name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
  password_hash   text CHECK (length(password_hash) BETWEEN 1 AND 512),
  role            user_role NOT NULL DEFAULT 'PASSENGER',
  email_verified  boolean NOT NULL DEFAULT false,
  phone_verified  boolean NOT NULL DEFAULT false,
  avatar          text CHECK (length(avatar) <= 2048),
  bio             text CHECK (length(bio) <= 2000),
  is_first_login  boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  tenant_id       uuid REFERENCES tenants (id) ON DELETE SET NULL,
  last_login_at   timestamptz,
  CONSTRAINT users_email_or_phone CHECK (email IS NOT NULL OR phone IS NOT NULL)
);
COMMENT ON TABLE users IS 'Everyone on the platform: passengers, drivers, admins and activity owners. Passwords are kept only as hashes (argon2id; bcrypt for users imported from the earlier application until their next login).';
COMMENT ON COLUMN users.id IS 'User key (UUIDv7); the sub claim of the user''s access tokens.';
COMMENT ON COLUMN users.email IS 'Lower-case e-mail address, unique; used to log in.';
COMMENT ON COLUMN users.phone IS 'Phone number in E.164 form (+77001234567), unique; used to log in and for one-time codes.';
COMMENT ON COLUMN users.name IS 'Display name, 1 to 200 characters.';
COMMENT ON COLUMN users.password_hash IS 'Password hash in modular crypt form ($argon2id$... or an imported $2b$ bcrypt hash); NULL for users who cannot log in with a password.';
COMMENT ON COLUMN users.role IS 'Marketplace role; becomes the app_role claim of the user''s tokens.';
COMMENT ON COLUMN users.email_verified IS 'True once the user proved ownership of the e-mail address.';
COMMENT ON COLUMN users.phone_verified IS 'True once the user verified the phone with a one-time code.';
COMMENT ON COLUMN users.avatar IS 'URL of the user''s picture.';
COMMENT ON COLUMN users.bio IS 'Free text the user writes about themselves, at most 2,000 characters.';
COMMENT ON COLUMN users.is_first_login IS 'True until the user logged in once (drivers get generated credentials and must change them).';
COMMENT ON COLUMN users.created_at IS 'When the account was created.';
COMMENT ON COLUMN users.updated_at IS 'When the account was last changed (kept by trigger).';
COMMENT ON COLUMN users.tenant_id IS 'The organisation the user belongs to, if any; becomes the tenant_id claim of the user''s tokens.';
COMMENT ON COLUMN users.last_login_at IS 'When the user last logged in successfully.';
CREATE INDEX users_tenant_idx ON users (tenant_id) WHERE tenant_id IS NOT NULL;
CREATE INDEX users_role_idx ON users (role);
CREATE TRIGGER users_touch BEFORE UPDATE ON users
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('users', '');

CREATE TABLE sessions (
  id            uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) BETWEEN 16 AND 64),
  expires_at    timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  revoked_at    timestamptz,
  last_seen_at  timestamptz,
  ip_address    inet,
  user_agent    text CHECK (length(user_agent) <= 1024),
  CONSTRAINT sessions_expiry_after_creation CHECK (expires_at > created_at)
);
COMMENT ON TABLE sessions IS 'Login sessions. The session token itself is never stored, only its hash (token_hash), so a copy of this table opens no session.';
COMMENT ON COLUMN sessions.id IS 'Session key (UUIDv7); the sid claim of access tokens issued in this session.';
COMMENT ON COLUMN sessions.user_id IS 'The user who logged in; deleting the user deletes the sessions.';
COMMENT ON COLUMN sessions.token_hash IS 'Hash of the session token (the seed''s Session.token, stored only hashed), unique.';
COMMENT ON COLUMN sessions.expires_at IS 'When the session ends at the latest, after its creation.';
COMMENT ON COLUMN sessions.created_at IS 'When the session began (login).';
COMMENT ON COLUMN sessions.revoked_at IS 'When the session was ended by logout or theft detection; NULL while it is live.';
COMMENT ON COLUMN sessions.last_seen_at IS 'When the session last refreshed its tokens.';
COMMENT ON COLUMN sessions.ip_address IS 'Client IP address at login, when known.';
COMMENT ON COLUMN sessions.user_agent IS 'Client user agent at login, when known.';
CREATE INDEX sessions_user_idx ON sessions (user_id);
SELECT pg_catalog.pg_extension_config_dump('sessions', '');

CREATE TABLE refresh_tokens (
  id           uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) BETWEEN 16 AND 64),
  session_id   uuid REFERENCES sessions (id) ON DELETE CASCADE,
  expires_at   timestamptz NOT NULL,
  revoked      boolean NOT NULL DEFAULT false,
  revoked_at   timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  family_id    uuid NOT NULL DEFAULT uuid_generate_v7(),
  used_at      timestamptz,
  replaced_by  uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
  CONSTRAINT refresh_tokens_expiry_after_creation CHECK (expires_at > created_at),
  CONSTRAINT refresh_tokens_revoked_at CHECK (revoked = (revoked_at IS NOT NULL))
);
COMMENT ON TABLE refresh_tokens IS 'Refresh tokens, stored only as hashes. Each refresh spends the token and issues the next one of the same family; presenting a spent token revokes the whole family (theft detection).';
COMMENT ON COLUMN refresh_tokens.id IS 'Refresh token key (UUIDv7).';
COMMENT ON COLUMN refresh_tokens.user_id IS 'The user the token belongs to.';
COMMENT ON COLUMN refresh_tokens.token_hash IS 'Hash of the token (BLAKE2b); the token itself is handed out once and never stored.';
COMMENT ON COLUMN refresh_tokens.session_id IS 'The session the token keeps alive.';
COMMENT ON COLUMN refresh_tokens.expires_at IS 'When the token stops being accepted.';
COMMENT ON COLUMN refresh_tokens.revoked IS 'True once the token (or its family) was revoked.';
COMMENT ON COLUMN refresh_tokens.revoked_at IS 'When the token was revoked; set exactly when revoked is true.';
COMMENT ON COLUMN refresh_tokens.created_at IS 'When the token was issued.';
COMMENT ON COLUMN refresh_tokens.family_id IS 'Rotation family: every token issued from one login shares it; reuse of a spent token revokes the family.';
COMMENT ON COLUMN refresh_tokens.used_at IS 'When the token was spent by a refresh; a spent token is never accepted again.';
COMMENT ON COLUMN refresh_tokens.replaced_by IS 'The token issued when this one was spent.';
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
SELECT pg_catalog.pg_extension_config_dump('refresh_tokens', '');

CREATE TABLE otps (
  id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  phone           text NOT NULL CHECK (is_e164(phone)),
  code_hash       bytea NOT NULL CHECK (length(code_hash) BETWEEN 16 AND 64),
  expires_at      timestamptz NOT NULL,
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  verified        boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  verified_at     timestamptz,
  invalidated_at  timestamptz,
  CONSTRAINT otps_expiry_after_creation CHECK (expires_at > created_at),
  CONSTRAINT otps_verified_at CHECK (verified = (verified_at IS NOT NULL))
);
COMMENT ON TABLE otps IS 'One-time codes sent to phones. Only a keyed hash of each code is stored; at most one code per phone is active.';
COMMENT ON COLUMN otps.id IS 'Code key (UUIDv7); part of the hashed message, so a hash is bound to its row.';
COMMENT ON COLUMN otps.phone IS 'The phone the code was sent to, E.164.';
COMMENT ON COLUMN otps.code_hash IS 'Keyed BLAKE2b of phone, code and row id under the steppergo.otp_key secret; the code itself is never stored.';
COMMENT ON COLUMN otps.expires_at IS 'When the code stops being accepted, after its creation.';
COMMENT ON COLUMN otps.attempts IS 'Verification attempts made against this code; past the limit the code is burnt.';
COMMENT ON COLUMN otps.verified IS 'True once the code was verified; a verified code is never accepted again.';
COMMENT ON COLUMN otps.created_at IS 'When the code was requested.';
COMMENT ON COLUMN otps.verified_at IS 'When the code was verified; set exactly when verified is true.';
COMMENT ON COLUMN otps.invalidated_at IS 'When the code was superseded by a newer request for the same phone or burnt by too many attempts.';
-- one active (neither verified nor invalidated) code per phone
CREATE UNIQUE INDEX otps_one_active_per_phone ON otps (phone) WHERE NOT verified AND invalidated_at IS NULL;
CREATE INDEX otps_phone_created_idx ON otps (phone, created_at);
SELECT pg_catalog.pg_extension_config_dump('otps', '');
