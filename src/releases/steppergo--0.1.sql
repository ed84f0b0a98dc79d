-- steppergo: the StepperGO marketplace inside PostgreSQL.
-- This script is assembled by the Makefile from the per-domain sources under
-- src/; edit those, never the built file.
\echo Use "CREATE EXTENSION steppergo CASCADE" to load this file. \quit

-- While this script runs, search_path is "steppergo, <schema of postgis>".
-- Append pg_temp so that every function declared with
-- "SET search_path FROM CURRENT" resolves names in steppergo, then PostGIS,
-- and never in a caller's temporary schema.
SELECT pg_catalog.set_config('search_path',
       pg_catalog.current_setting('search_path') || ', pg_temp', true);
-- ===========================================================================
-- core: types, keys and reference data shared by every domain
-- ===========================================================================

COMMENT ON SCHEMA steppergo IS
  'StepperGO marketplace: rides sold by the trip or by the seat, driver dispatch, payments, payouts, trip chat and activities.';

-- ---------------------------------------------------------------------------
-- Enums of the seed, with its labels in its order (CONTRACT.md).  Labels may
-- be appended in later releases, never removed or reordered.
-- ---------------------------------------------------------------------------
CREATE TYPE user_role AS ENUM ('PASSENGER', 'DRIVER', 'ADMIN', 'ACTIVITY_OWNER');
COMMENT ON TYPE user_role IS 'What a user is on the platform: PASSENGER books trips and activities, DRIVER drives, ADMIN administers, ACTIVITY_OWNER sells tours and activities.';

CREATE TYPE driver_status AS ENUM ('PENDING', 'APPROVED', 'REJECTED', 'SUSPENDED');
COMMENT ON TYPE driver_status IS 'Approval state of a driver profile: PENDING awaits review, APPROVED may drive, REJECTED was refused, SUSPENDED is temporarily barred.';

CREATE TYPE trip_type AS ENUM ('PRIVATE', 'SHARED');
COMMENT ON TYPE trip_type IS 'PRIVATE: the whole vehicle for one booking at base_price; SHARED: seats sold one by one at price_per_seat.';

CREATE TYPE trip_status AS ENUM ('DRAFT', 'PUBLISHED', 'OFFERED', 'FULL', 'IN_PROGRESS', 'DEPARTED',
  'EN_ROUTE', 'DRIVER_ARRIVED', 'PASSENGERS_BOARDED', 'IN_TRANSIT', 'DELAYED', 'ARRIVED', 'COMPLETED', 'CANCELLED');
COMMENT ON TYPE trip_status IS 'Lifecycle of a trip, from DRAFT (not published) through PUBLISHED, OFFERED (to one driver), FULL, the on-the-road states, to COMPLETED or CANCELLED.';

CREATE TYPE trip_acceptance_action AS ENUM ('OFFERED', 'ACCEPTED', 'DECLINED', 'TIMEOUT');
COMMENT ON TYPE trip_acceptance_action IS 'One step of a trip offer: OFFERED to a driver, then ACCEPTED, DECLINED, or TIMEOUT when the acceptance deadline passed.';

CREATE TYPE booking_status AS ENUM ('PENDING', 'CONFIRMED', 'CANCELLED', 'COMPLETED', 'REFUNDED');
COMMENT ON TYPE booking_status IS 'Seat booking lifecycle: PENDING awaits payment, CONFIRMED holds seats, COMPLETED after the trip, CANCELLED or REFUNDED released.';

CREATE TYPE payment_status AS ENUM ('PENDING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'REFUNDED', 'CANCELLED');
COMMENT ON TYPE payment_status IS 'State of a card payment as the payment provider (Stripe) reports it.';

CREATE TYPE payout_status AS ENUM ('PENDING', 'PROCESSING', 'PAID', 'FAILED', 'CANCELLED');
COMMENT ON TYPE payout_status IS 'State of a payout to a driver: PENDING scheduled, PROCESSING sent to the provider, PAID, FAILED or CANCELLED.';

CREATE TYPE payment_method_type AS ENUM ('ONLINE', 'CASH_TO_DRIVER');
COMMENT ON TYPE payment_method_type IS 'How a booking is paid: ONLINE through the payment provider, or CASH_TO_DRIVER in the vehicle (never paid out).';

CREATE TYPE message_type AS ENUM ('TEXT', 'IMAGE', 'FILE', 'LOCATION', 'SYSTEM');
COMMENT ON TYPE message_type IS 'Kind of a chat message: TEXT, IMAGE or FILE (an upload), LOCATION (coordinates), SYSTEM (written by the platform).';

CREATE TYPE message_status AS ENUM ('SENT', 'DELIVERED', 'READ', 'FAILED');
COMMENT ON TYPE message_status IS 'Delivery state of a chat message; it only moves forwards SENT, DELIVERED, READ.';

-- PUSH is appended to the seed's labels: driver offers last 15-30 seconds,
-- too short for SMS, so time-critical notifications go to the app first.
CREATE TYPE delivery_channel AS ENUM ('WHATSAPP', 'SMS', 'EMAIL', 'PUSH');
COMMENT ON TYPE delivery_channel IS 'Channel of an outgoing notification: WHATSAPP, SMS, EMAIL, or PUSH (mobile app push, for time-critical messages such as trip offers).';

CREATE TYPE delivery_status AS ENUM ('SENT', 'DELIVERED', 'FAILED', 'READ');
COMMENT ON TYPE delivery_status IS 'What the channel reported about a delivery: SENT, DELIVERED, FAILED, READ (where the channel supports read receipts).';

-- Types the seed keeps as free strings; enums make wrong labels impossible.
CREATE TYPE driver_availability AS ENUM ('OFFLINE', 'ONLINE', 'BUSY', 'ON_BREAK');
COMMENT ON TYPE driver_availability IS 'Whether a driver can take trips now: OFFLINE, ONLINE (matchable), BUSY (on a trip), ON_BREAK.';

-- ---------------------------------------------------------------------------
-- Keys: time-ordered UUIDv7 generated in C
-- ---------------------------------------------------------------------------
CREATE FUNCTION uuid_generate_v7() RETURNS uuid
  AS 'MODULE_PATHNAME', 'sg_uuid_generate_v7'
  LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION uuid_generate_v7() IS
  'A new time-ordered UUID (version 7, RFC 9562): millisecond Unix time, sub-millisecond fraction, 62 random bits; strictly increasing within a session. Default of every primary key.';

CREATE FUNCTION uuid_v7_time(id uuid) RETURNS timestamptz
  AS 'MODULE_PATHNAME', 'sg_uuid_v7_time'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION uuid_v7_time(uuid) IS
  'The creation time (to the millisecond) embedded in a version 7 UUID; NULL for other UUID versions.';

-- ---------------------------------------------------------------------------
-- Validation helpers used by CHECK constraints and functions
-- ---------------------------------------------------------------------------
CREATE FUNCTION is_e164(phone text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN phone ~ '^\+[1-9][0-9]{6,14}$';
COMMENT ON FUNCTION is_e164(text) IS 'True when the text is a phone number in E.164 form: +, country code, 7 to 15 digits in all.';

CREATE FUNCTION is_email(email text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN length(email) <= 254
     AND email ~ '^[a-z0-9.!#$%&''*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$';
COMMENT ON FUNCTION is_email(text) IS 'True when the text is a lower-case e-mail address of a plausible shape (local part, @, a dotted domain), at most 254 characters.';

CREATE FUNCTION is_valid_lat(lat double precision) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN lat BETWEEN -90 AND 90;
COMMENT ON FUNCTION is_valid_lat(double precision) IS 'True for a latitude in -90..90 (NaN is outside every range).';

CREATE FUNCTION is_valid_lng(lng double precision) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN lng BETWEEN -180 AND 180;
COMMENT ON FUNCTION is_valid_lng(double precision) IS 'True for a longitude in -180..180 (NaN is outside every range).';

CREATE FUNCTION geog_point(lat double precision, lng double precision) RETURNS geography
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN geography(ST_SetSRID(ST_MakePoint(lng, lat), 4326));
COMMENT ON FUNCTION geog_point(double precision, double precision) IS
  'A WGS84 geography point from a latitude and a longitude (note the order: lat first, as the seed''s columns). Used by the generated position columns.';

CREATE FUNCTION is_valid_timezone(tz text) RETURNS boolean
  AS 'MODULE_PATHNAME', 'sg_is_valid_timezone'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION is_valid_timezone(text) IS 'True when the text names an IANA time zone known to this server (for example Asia/Almaty).';

-- ---------------------------------------------------------------------------
-- updated_at, kept by trigger
-- ---------------------------------------------------------------------------
CREATE FUNCTION touch_updated_at() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  NEW.updated_at := pg_catalog.now();
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION touch_updated_at() IS 'Trigger function: sets updated_at to the transaction time on every UPDATE.';

-- ---------------------------------------------------------------------------
-- Reference data: currencies (ISO 4217) with their minor units
-- ---------------------------------------------------------------------------
CREATE TABLE currencies (
  code        text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
  name        text NOT NULL,
  minor_unit  smallint NOT NULL DEFAULT 2 CHECK (minor_unit BETWEEN 0 AND 4),
  builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE currencies IS 'ISO 4217 currencies money may be held in, with their minor unit (decimals) used for rounding. Rows shipped with the extension are builtin; a DBA may add more.';
COMMENT ON COLUMN currencies.code IS 'ISO 4217 alphabetic code, three upper-case letters (KZT, USD, ...).';
COMMENT ON COLUMN currencies.name IS 'English name of the currency.';
COMMENT ON COLUMN currencies.minor_unit IS 'Number of decimals of the minor unit (KZT: 2, the tiyn); money in this currency is rounded to it.';
COMMENT ON COLUMN currencies.builtin IS 'True for rows the extension installs; pg_dump keeps only the rows a DBA added.';
INSERT INTO currencies (code, name, minor_unit, builtin) VALUES
  ('KZT', 'Kazakhstani tenge', 2, true),
  ('USD', 'US dollar', 2, true),
  ('EUR', 'Euro', 2, true),
  ('RUB', 'Russian ruble', 2, true),
  ('KGS', 'Kyrgyzstani som', 2, true),
  ('UZS', 'Uzbekistani sum', 2, true),
  ('TRY', 'Turkish lira', 2, true),
  ('GBP', 'Pound sterling', 2, true),
  ('CNY', 'Chinese yuan', 2, true),
  ('AED', 'UAE dirham', 2, true),
  ('GEL', 'Georgian lari', 2, true),
  ('AMD', 'Armenian dram', 2, true),
  ('AZN', 'Azerbaijani manat', 2, true),
  ('TJS', 'Tajikistani somoni', 2, true),
  ('TMT', 'Turkmenistani manat', 2, true),
  ('JPY', 'Japanese yen', 0, true),
  ('KRW', 'South Korean won', 0, true),
  ('KWD', 'Kuwaiti dinar', 3, true);
SELECT pg_catalog.pg_extension_config_dump('currencies', 'WHERE NOT builtin');

-- ---------------------------------------------------------------------------
-- Tenants: organisations sharing the platform (seed: Trip.tenantId,
-- Payout.tenantId), with their business rules
-- ---------------------------------------------------------------------------
CREATE TABLE tenants (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  name           text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
  platform_rate  numeric(5,4) CHECK (platform_rate BETWEEN 0 AND 1),
  currency       text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  timezone       text NOT NULL DEFAULT 'Asia/Almaty' CHECK (is_valid_timezone(timezone)),
  settings       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tenants IS 'Organisations that run their own trips and payouts on the platform (multi-tenancy of the seed). Tenant-scoped rows are invisible across tenants.';
COMMENT ON COLUMN tenants.id IS 'Tenant key (UUIDv7); trips.tenant_id and payouts.tenant_id refer to it.';
COMMENT ON COLUMN tenants.name IS 'Unique display name of the organisation.';
COMMENT ON COLUMN tenants.platform_rate IS 'Platform fee rate for this tenant''s trips, 0..1; NULL means the platform default (0.15, the 85/15 split).';
COMMENT ON COLUMN tenants.currency IS 'Default ISO 4217 currency of the tenant''s trips.';
COMMENT ON COLUMN tenants.timezone IS 'Default IANA time zone of the tenant''s trips.';
COMMENT ON COLUMN tenants.settings IS 'Further tenant-specific business rules, a JSON object.';
COMMENT ON COLUMN tenants.created_at IS 'When the tenant was created.';
COMMENT ON COLUMN tenants.updated_at IS 'When the tenant was last changed (kept by trigger).';
CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('tenants', '');

CREATE FUNCTION is_http_url(url text) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN length(url) <= 2048 AND url ~ '^https?://[^[:space:]/?#]+[^[:space:]]*$';
COMMENT ON FUNCTION is_http_url(text) IS 'True when the text is an http or https URL without white space, at most 2,048 characters.';

CREATE FUNCTION readable_number(prefix text, n bigint, digits integer DEFAULT 6) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN prefix || lpad(n::text, greatest(digits, length(n::text)), '0');
COMMENT ON FUNCTION readable_number(text, bigint, integer) IS
  'A human-readable number: the prefix and n zero-padded to at least the given digits, never truncated (DRV-000123, DRV-1000000).';
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
-- ===========================================================================
-- drivers: profiles, vehicles, live positions, availability
-- ===========================================================================

-- drivers.documents_url: {"license": url, "insurance": url, "registration": url, ...}
CREATE FUNCTION validate_documents_url(doc jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  k text;
  v jsonb;
BEGIN
  IF doc IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(doc) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'documents_url must be a JSON object',
      DETAIL = format('got a JSON %s', jsonb_typeof(doc)),
      HINT = 'Example: {"license": "https://...", "insurance": "https://...", "registration": "https://..."}';
  END IF;
  FOR k, v IN SELECT * FROM jsonb_each(doc) LOOP
    IF k !~ '^[a-z][a-z0-9_]{0,49}$' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'documents_url has an invalid document name',
        DETAIL = format('key %s: lower-case letters, digits and _ only, at most 50', left(k, 60));
    END IF;
    IF jsonb_typeof(v) <> 'string' OR NOT is_http_url(v #>> '{}') THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'documents_url values must be http(s) URLs',
        DETAIL = format('documents_url.%s is not an http(s) URL', k);
    END IF;
  END LOOP;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_documents_url(jsonb) IS
  'CHECK helper for drivers.documents_url: a JSON object mapping document names (license, insurance, registration, ...) to http(s) URLs. Raises 22023 naming the field otherwise.';

CREATE SEQUENCE driver_number_seq;
COMMENT ON SEQUENCE driver_number_seq IS 'Numbers of the human-readable driver ids (DRV-000123).';
SELECT pg_catalog.pg_extension_config_dump('driver_number_seq', '');

CREATE TABLE drivers (
  id                     uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  user_id                uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE RESTRICT,
  driver_id              text NOT NULL UNIQUE
                           DEFAULT readable_number('DRV-', nextval('driver_number_seq'))
                           CHECK (driver_id ~ '^[A-Z]{2,5}-[0-9]{6,12}$'),
  status                 driver_status NOT NULL DEFAULT 'PENDING',
  vehicle_type           text CHECK (length(vehicle_type) <= 50),
  vehicle_model          text CHECK (length(vehicle_model) <= 100),
  vehicle_make           text CHECK (length(vehicle_make) <= 100),
  vehicle_year           integer CHECK (vehicle_year BETWEEN 1950 AND 2100),
  license_plate          text CHECK (length(license_plate) <= 20),
  license_number         text CHECK (length(license_number) <= 50),
  license_expiry         timestamptz,
  documents_url          jsonb NOT NULL DEFAULT '{}' CHECK (validate_documents_url(documents_url)),
  rating                 numeric(3,2) NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
  review_count           integer NOT NULL DEFAULT 0 CHECK (review_count >= 0),
  completed_trips        integer NOT NULL DEFAULT 0 CHECK (completed_trips >= 0),
  total_earnings         numeric(14,2) NOT NULL DEFAULT 0 CHECK (total_earnings >= 0),
  availability           driver_availability NOT NULL DEFAULT 'OFFLINE',
  accepts_private_trips  boolean NOT NULL DEFAULT true,
  accepts_shared_trips   boolean NOT NULL DEFAULT true,
  approval_status        text NOT NULL DEFAULT 'PENDING'
                           CHECK (approval_status IN ('PENDING', 'APPROVED', 'REJECTED', 'SUSPENDED')),
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  last_activity_at       timestamptz,
  languages              text[] NOT NULL DEFAULT '{}'
                           CHECK (cardinality(languages) <= 20 AND array_position(languages, NULL) IS NULL),
  acceptance_rate        numeric(5,4) CHECK (acceptance_rate BETWEEN 0 AND 1),
  tenant_id              uuid REFERENCES tenants (id) ON DELETE SET NULL,
  approved_at            timestamptz,
  approved_by            uuid REFERENCES users (id) ON DELETE SET NULL,
  status_reason          text CHECK (length(status_reason) <= 1000)
);
COMMENT ON TABLE drivers IS 'Driver profiles: one per user, approved by an admin before the driver is ever matched to a trip.';
COMMENT ON COLUMN drivers.id IS 'Driver key (UUIDv7); trips, vehicles and payouts refer to it.';
COMMENT ON COLUMN drivers.user_id IS 'The user account of the driver; one driver profile per user.';
COMMENT ON COLUMN drivers.driver_id IS 'Human-readable unique driver number shown to support staff and passengers, DRV-000123.';
COMMENT ON COLUMN drivers.status IS 'Approval state: PENDING, APPROVED (matchable), REJECTED, SUSPENDED.';
COMMENT ON COLUMN drivers.vehicle_type IS 'Type of the driver''s main vehicle (SEDAN, MINIVAN, SUV, ...), as in the earlier application; vehicles holds the details.';
COMMENT ON COLUMN drivers.vehicle_model IS 'Model of the driver''s main vehicle.';
COMMENT ON COLUMN drivers.vehicle_make IS 'Make of the driver''s main vehicle.';
COMMENT ON COLUMN drivers.vehicle_year IS 'Model year of the driver''s main vehicle, 1950..2100.';
COMMENT ON COLUMN drivers.license_plate IS 'Licence plate of the driver''s main vehicle.';
COMMENT ON COLUMN drivers.license_number IS 'Driving licence number.';
COMMENT ON COLUMN drivers.license_expiry IS 'When the driving licence expires.';
COMMENT ON COLUMN drivers.documents_url IS 'Links to the driver''s documents, a JSON object {"license": url, "insurance": url, "registration": url}; validated on write.';
COMMENT ON COLUMN drivers.rating IS 'Average rating of the driver''s reviews, 1..5 (0 while there are none); kept exact with reviews.';
COMMENT ON COLUMN drivers.review_count IS 'Number of reviews of the driver; kept exact with reviews.';
COMMENT ON COLUMN drivers.completed_trips IS 'Number of trips the driver completed.';
COMMENT ON COLUMN drivers.total_earnings IS 'Sum of the driver''s PAID payouts.';
COMMENT ON COLUMN drivers.availability IS 'Whether the driver can take trips now: OFFLINE, ONLINE, BUSY, ON_BREAK. Every change is recorded in driver_availability_history.';
COMMENT ON COLUMN drivers.accepts_private_trips IS 'True when the driver takes PRIVATE (whole vehicle) trips.';
COMMENT ON COLUMN drivers.accepts_shared_trips IS 'True when the driver takes SHARED (per seat) trips.';
COMMENT ON COLUMN drivers.approval_status IS 'Approval state as text, as the earlier application kept it; mirrors status.';
COMMENT ON COLUMN drivers.created_at IS 'When the profile was created.';
COMMENT ON COLUMN drivers.updated_at IS 'When the profile was last changed (kept by trigger).';
COMMENT ON COLUMN drivers.last_activity_at IS 'When the driver app last reported (a position or an action); drives auto-offline.';
COMMENT ON COLUMN drivers.languages IS 'Languages the driver speaks, ISO 639-1 codes (kk, ru, en, ...).';
COMMENT ON COLUMN drivers.acceptance_rate IS 'Share of offers the driver accepted, 0..1; part of the dispatch score.';
COMMENT ON COLUMN drivers.tenant_id IS 'The organisation the driver works for, if any.';
COMMENT ON COLUMN drivers.approved_at IS 'When an admin last approved the driver.';
COMMENT ON COLUMN drivers.approved_by IS 'The admin who last approved the driver.';
COMMENT ON COLUMN drivers.status_reason IS 'Why the driver was last rejected or suspended.';
CREATE INDEX drivers_status_idx ON drivers (status);
CREATE INDEX drivers_availability_idx ON drivers (availability);
CREATE INDEX drivers_last_activity_idx ON drivers (last_activity_at);
CREATE INDEX drivers_tenant_idx ON drivers (tenant_id) WHERE tenant_id IS NOT NULL;
CREATE TRIGGER drivers_touch BEFORE UPDATE ON drivers
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('drivers', '');

CREATE TABLE vehicles (
  id                  uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id           uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  make                text NOT NULL CHECK (length(make) BETWEEN 1 AND 100),
  model               text NOT NULL CHECK (length(model) BETWEEN 1 AND 100),
  year                integer CHECK (year BETWEEN 1950 AND 2100),
  color               text CHECK (length(color) <= 50),
  license_plate       text NOT NULL CHECK (length(license_plate) BETWEEN 1 AND 20),
  type                text NOT NULL DEFAULT 'SEDAN' CHECK (length(type) BETWEEN 1 AND 50),
  passenger_capacity  integer NOT NULL DEFAULT 4 CHECK (passenger_capacity BETWEEN 1 AND 60),
  luggage_capacity    integer NOT NULL DEFAULT 0 CHECK (luggage_capacity BETWEEN 0 AND 100),
  amenities           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(amenities) = 'array'),
  photos              jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(photos) = 'array'),
  is_active           boolean NOT NULL DEFAULT true,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE vehicles IS 'Vehicles of drivers; a driver may have several, at most one active (the one dispatch matches on).';
COMMENT ON COLUMN vehicles.id IS 'Vehicle key (UUIDv7).';
COMMENT ON COLUMN vehicles.driver_id IS 'The driver who owns the vehicle; deleting the driver deletes the vehicles.';
COMMENT ON COLUMN vehicles.make IS 'Manufacturer (Toyota, Hyundai, ...).';
COMMENT ON COLUMN vehicles.model IS 'Model (Camry, Starex, ...).';
COMMENT ON COLUMN vehicles.year IS 'Model year, 1950..2100.';
COMMENT ON COLUMN vehicles.color IS 'Colour, as passengers see it.';
COMMENT ON COLUMN vehicles.license_plate IS 'Licence plate.';
COMMENT ON COLUMN vehicles.type IS 'Body type: SEDAN, MINIVAN, SUV, BUS, ...';
COMMENT ON COLUMN vehicles.passenger_capacity IS 'Passenger seats, 1..60; a trip is matched only to vehicles that seat it.';
COMMENT ON COLUMN vehicles.luggage_capacity IS 'Pieces of luggage the vehicle takes.';
COMMENT ON COLUMN vehicles.amenities IS 'JSON array of amenities (air_conditioning, usb_charging, ...).';
COMMENT ON COLUMN vehicles.photos IS 'JSON array of photo URLs.';
COMMENT ON COLUMN vehicles.is_active IS 'True for the vehicle the driver drives now; at most one per driver.';
COMMENT ON COLUMN vehicles.created_at IS 'When the vehicle was added.';
COMMENT ON COLUMN vehicles.updated_at IS 'When the vehicle was last changed (kept by trigger).';
CREATE INDEX vehicles_driver_idx ON vehicles (driver_id);
CREATE UNIQUE INDEX vehicles_one_active_per_driver ON vehicles (driver_id) WHERE is_active;
CREATE TRIGGER vehicles_touch BEFORE UPDATE ON vehicles
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('vehicles', '');

-- Live positions: one row per driver, updated several times a minute.  Built
-- for HOT updates: a low fillfactor leaves room on the page for the new row
-- version; see src/drivers/README.md for the index trade-off.
--
-- The checks and the generated column are written out rather than calling
-- is_valid_lat/is_valid_lng/geog_point: PostgreSQL re-plans CHECK and
-- generation expressions at the start of every statement, and inlining a SQL
-- function means parsing its stored body each time, which cost a quarter of
-- a single-row UPDATE here (the same rules: NaN fails BETWEEN).
CREATE TABLE driver_locations (
  driver_id     uuid PRIMARY KEY REFERENCES drivers (id) ON DELETE CASCADE,
  latitude      double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
  longitude     double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
  heading       double precision CHECK (heading >= 0 AND heading <= 360),
  speed         double precision CHECK (speed >= 0 AND speed < 500),
  accuracy      double precision CHECK (accuracy >= 0 AND accuracy < 100000),
  last_updated  timestamptz NOT NULL DEFAULT now(),
  is_active     boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  activity_synced_at timestamptz,
  geog          geography(Point, 4326) GENERATED ALWAYS AS (geography(ST_SetSRID(ST_MakePoint(longitude, latitude), 4326))) STORED
) WITH (fillfactor = 50);
COMMENT ON TABLE driver_locations IS 'The last known position of each driver, one row per driver, written by the driver app several times a minute (fillfactor 50 for HOT updates).';
COMMENT ON COLUMN driver_locations.driver_id IS 'The driver (primary key: one live position per driver).';
COMMENT ON COLUMN driver_locations.latitude IS 'WGS84 latitude in degrees, -90..90.';
COMMENT ON COLUMN driver_locations.longitude IS 'WGS84 longitude in degrees, -180..180.';
COMMENT ON COLUMN driver_locations.heading IS 'Direction of travel in degrees clockwise from north, 0..360.';
COMMENT ON COLUMN driver_locations.speed IS 'Speed in metres per second, not negative.';
COMMENT ON COLUMN driver_locations.accuracy IS 'Horizontal accuracy of the fix in metres, as the phone reports it.';
COMMENT ON COLUMN driver_locations.last_updated IS 'When the position was reported; positions older than a setting are not matched.';
COMMENT ON COLUMN driver_locations.is_active IS 'False when the driver app stopped sharing its position.';
COMMENT ON COLUMN driver_locations.activity_synced_at IS 'When a ping last copied its time into drivers.last_activity_at; pings do so at most once per steppergo.driver_activity_interval, decided on this row without reading drivers.';
COMMENT ON COLUMN driver_locations.created_at IS 'When the driver first reported a position.';
COMMENT ON COLUMN driver_locations.geog IS 'The position as a PostGIS geography point, derived from latitude and longitude (generated); GiST-indexed for radius and nearest-neighbour search.';
-- the seed's DriverLocation(latitude, longitude) index, as a spatial index
CREATE INDEX driver_locations_geog_idx ON driver_locations USING gist (geog);
SELECT pg_catalog.pg_extension_config_dump('driver_locations', '');

-- driver_availability_schedules.recurring_pattern:
--   {"freq": "DAILY"}  or  {"freq": "WEEKLY", "days": ["MON", "WED"]},
--   optional "until": "YYYY-MM-DD" (last local date the pattern applies).
-- The period start_time..end_time gives the local time of day of each
-- occurrence (in the timezone of the pattern, default Asia/Almaty: "tz").
CREATE FUNCTION validate_recurring_pattern(pattern jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  k text;
BEGIN
  IF pattern IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(pattern) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern must be a JSON object',
      HINT = 'Example: {"freq": "WEEKLY", "days": ["MON", "TUE"]}';
  END IF;
  FOR k IN SELECT jsonb_object_keys(pattern) LOOP
    IF k NOT IN ('freq', 'days', 'until', 'tz') THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern has an unknown key',
        DETAIL = format('recurring_pattern.%s; known keys: freq, days, until, tz', left(k, 60));
    END IF;
  END LOOP;
  IF NOT coalesce(pattern ->> 'freq' IN ('DAILY', 'WEEKLY'), false) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.freq must be DAILY or WEEKLY';
  END IF;
  IF pattern ->> 'freq' = 'WEEKLY' THEN
    IF jsonb_typeof(pattern -> 'days') IS DISTINCT FROM 'array' OR jsonb_array_length(pattern -> 'days') = 0
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(pattern -> 'days') d
                   WHERE jsonb_typeof(d) <> 'string'
                      OR d #>> '{}' NOT IN ('MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN')) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.days must be a non-empty array of MON..SUN';
    END IF;
  ELSIF pattern ? 'days' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.days is only allowed with freq WEEKLY';
  END IF;
  IF pattern ? 'until' AND (jsonb_typeof(pattern -> 'until') <> 'string'
                            OR pattern ->> 'until' !~ '^\d{4}-\d{2}-\d{2}$') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.until must be a date YYYY-MM-DD';
  END IF;
  IF pattern ? 'tz' AND (jsonb_typeof(pattern -> 'tz') <> 'string' OR NOT is_valid_timezone(pattern ->> 'tz')) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.tz must be an IANA time zone';
  END IF;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_recurring_pattern(jsonb) IS
  'CHECK helper for driver_availability_schedules.recurring_pattern: {"freq": "DAILY"} or {"freq": "WEEKLY", "days": ["MON", ...]}, optional "until" (YYYY-MM-DD) and "tz" (IANA zone, default Asia/Almaty). Raises 22023 naming the field otherwise.';

CREATE TABLE driver_availability_schedules (
  id                 uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id          uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  start_time         timestamptz NOT NULL,
  end_time           timestamptz NOT NULL,
  schedule_type      text NOT NULL DEFAULT 'UNAVAILABLE' CHECK (schedule_type IN ('BREAK', 'UNAVAILABLE')),
  reason             text CHECK (length(reason) <= 500),
  is_recurring       boolean NOT NULL DEFAULT false,
  recurring_pattern  jsonb CHECK (validate_recurring_pattern(recurring_pattern)),
  is_active          boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT driver_availability_schedules_period CHECK (end_time > start_time),
  CONSTRAINT driver_availability_schedules_pattern CHECK (is_recurring = (recurring_pattern IS NOT NULL))
);
COMMENT ON TABLE driver_availability_schedules IS 'Breaks and unavailable periods of drivers, one-off or recurring; a driver is not matched to trips departing inside an active one.';
COMMENT ON COLUMN driver_availability_schedules.id IS 'Schedule key (UUIDv7).';
COMMENT ON COLUMN driver_availability_schedules.driver_id IS 'The driver the period belongs to.';
COMMENT ON COLUMN driver_availability_schedules.start_time IS 'Start of the period (for a recurring one: of its first occurrence; the local time of day repeats).';
COMMENT ON COLUMN driver_availability_schedules.end_time IS 'End of the period, after its start.';
COMMENT ON COLUMN driver_availability_schedules.schedule_type IS 'BREAK (a pause within a shift) or UNAVAILABLE (not driving at all).';
COMMENT ON COLUMN driver_availability_schedules.reason IS 'Why, in the driver''s words.';
COMMENT ON COLUMN driver_availability_schedules.is_recurring IS 'True when the period repeats by recurring_pattern.';
COMMENT ON COLUMN driver_availability_schedules.recurring_pattern IS 'How the period repeats: {"freq": "DAILY"} or {"freq": "WEEKLY", "days": ["MON", ...]}, optional "until" date and "tz" zone; NULL exactly when not recurring.';
COMMENT ON COLUMN driver_availability_schedules.is_active IS 'False for a period the driver withdrew.';
COMMENT ON COLUMN driver_availability_schedules.created_at IS 'When the period was entered.';
CREATE INDEX driver_availability_schedules_driver_idx ON driver_availability_schedules (driver_id) WHERE is_active;
SELECT pg_catalog.pg_extension_config_dump('driver_availability_schedules', '');

CREATE TABLE driver_availability_history (
  id               uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id        uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  previous_status  driver_availability,
  new_status       driver_availability NOT NULL,
  change_reason    text CHECK (length(change_reason) <= 500),
  triggered_by     text NOT NULL DEFAULT 'system' CHECK (triggered_by IN ('driver', 'system', 'admin')),
  changed_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE driver_availability_history IS 'Every change of a driver''s availability: from, to, why and who (driver, system, admin).';
COMMENT ON COLUMN driver_availability_history.id IS 'History row key (UUIDv7).';
COMMENT ON COLUMN driver_availability_history.driver_id IS 'The driver whose availability changed.';
COMMENT ON COLUMN driver_availability_history.previous_status IS 'Availability before the change.';
COMMENT ON COLUMN driver_availability_history.new_status IS 'Availability after the change.';
COMMENT ON COLUMN driver_availability_history.change_reason IS 'Why it changed (started shift, trip started, position stale, ...).';
COMMENT ON COLUMN driver_availability_history.triggered_by IS 'Who changed it: driver, system (jobs and trip transitions) or admin.';
COMMENT ON COLUMN driver_availability_history.changed_at IS 'When it changed.';
CREATE INDEX driver_availability_history_driver_idx ON driver_availability_history (driver_id, changed_at);
SELECT pg_catalog.pg_extension_config_dump('driver_availability_history', '');

CREATE TABLE driver_credential_deliveries (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id      uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  channel        delivery_channel NOT NULL,
  status         delivery_status NOT NULL DEFAULT 'SENT',
  sent_at        timestamptz,
  delivered_at   timestamptz,
  error_message  text CHECK (length(error_message) <= 2000),
  created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE driver_credential_deliveries IS 'Deliveries of login credentials to new drivers, one row per channel attempt (WhatsApp, then SMS, then e-mail).';
COMMENT ON COLUMN driver_credential_deliveries.id IS 'Delivery key (UUIDv7).';
COMMENT ON COLUMN driver_credential_deliveries.driver_id IS 'The driver the credentials were sent to.';
COMMENT ON COLUMN driver_credential_deliveries.channel IS 'Channel of this attempt.';
COMMENT ON COLUMN driver_credential_deliveries.status IS 'What the channel reported: SENT, DELIVERED, FAILED, READ.';
COMMENT ON COLUMN driver_credential_deliveries.sent_at IS 'When the message was handed to the channel.';
COMMENT ON COLUMN driver_credential_deliveries.delivered_at IS 'When the channel confirmed delivery.';
COMMENT ON COLUMN driver_credential_deliveries.error_message IS 'Why the attempt failed, as the channel said.';
COMMENT ON COLUMN driver_credential_deliveries.created_at IS 'When the attempt was queued.';
CREATE INDEX driver_credential_deliveries_driver_idx ON driver_credential_deliveries (driver_id);
SELECT pg_catalog.pg_extension_config_dump('driver_credential_deliveries', '');
-- ===========================================================================
-- trips: trips, dispatch logs, status history, bookings, payments, reviews
-- ===========================================================================

-- trips.itinerary: {"stops": [{"order": 1, "name": "...", "address": "...",
--                              "lat": 43.2, "lng": 76.9, "arrivalTime": "2025-01-15T08:00:00Z"}, ...]}
CREATE FUNCTION validate_itinerary(itinerary jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  stop jsonb;
  i integer := 0;
  k text;
  prev_order numeric := NULL;
BEGIN
  IF itinerary IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(itinerary) <> 'object' OR jsonb_typeof(itinerary -> 'stops') IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary must be a JSON object with an array "stops"',
      HINT = 'Example: {"stops": [{"order": 1, "name": "Pickup Point", "lat": 43.238, "lng": 76.889}]}';
  END IF;
  IF jsonb_array_length(itinerary -> 'stops') > 50 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary has more than 50 stops';
  END IF;
  FOR stop IN SELECT value FROM jsonb_array_elements(itinerary -> 'stops') LOOP
    IF jsonb_typeof(stop) <> 'object' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stops must be JSON objects',
        DETAIL = format('itinerary.stops[%s]', i);
    END IF;
    FOR k IN SELECT jsonb_object_keys(stop) LOOP
      IF k NOT IN ('order', 'name', 'address', 'lat', 'lng', 'arrivalTime') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop has an unknown key',
          DETAIL = format('itinerary.stops[%s].%s; known keys: order, name, address, lat, lng, arrivalTime', i, left(k, 60));
      END IF;
    END LOOP;
    IF jsonb_typeof(stop -> 'order') IS DISTINCT FROM 'number' OR (stop ->> 'order')::numeric < 1
       OR (stop ->> 'order')::numeric <> trunc((stop ->> 'order')::numeric) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop order must be a positive integer',
        DETAIL = format('itinerary.stops[%s].order', i);
    END IF;
    IF prev_order IS NOT NULL AND (stop ->> 'order')::numeric <= prev_order THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stops must be in increasing order',
        DETAIL = format('itinerary.stops[%s].order', i);
    END IF;
    prev_order := (stop ->> 'order')::numeric;
    IF jsonb_typeof(stop -> 'name') IS DISTINCT FROM 'string' OR length(btrim(stop ->> 'name')) NOT BETWEEN 1 AND 200 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop name must be a text of 1 to 200 characters',
        DETAIL = format('itinerary.stops[%s].name', i);
    END IF;
    IF stop ? 'address' AND (jsonb_typeof(stop -> 'address') <> 'string' OR length(stop ->> 'address') > 500) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop address must be a text of at most 500 characters',
        DETAIL = format('itinerary.stops[%s].address', i);
    END IF;
    IF jsonb_typeof(stop -> 'lat') IS DISTINCT FROM 'number' OR NOT is_valid_lat((stop ->> 'lat')::float8) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop lat must be a number in -90..90',
        DETAIL = format('itinerary.stops[%s].lat', i);
    END IF;
    IF jsonb_typeof(stop -> 'lng') IS DISTINCT FROM 'number' OR NOT is_valid_lng((stop ->> 'lng')::float8) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop lng must be a number in -180..180',
        DETAIL = format('itinerary.stops[%s].lng', i);
    END IF;
    IF stop ? 'arrivalTime' THEN
      BEGIN
        IF jsonb_typeof(stop -> 'arrivalTime') <> 'string'
           OR stop ->> 'arrivalTime' !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$' THEN
          RAISE EXCEPTION USING ERRCODE = '22007';
        END IF;
        PERFORM (stop ->> 'arrivalTime')::timestamptz;
      EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop arrivalTime must be an ISO 8601 time with a zone',
          DETAIL = format('itinerary.stops[%s].arrivalTime', i);
      END;
    END IF;
    i := i + 1;
  END LOOP;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_itinerary(jsonb) IS
  'CHECK helper for trips.itinerary: {"stops": [{"order", "name", "address"?, "lat", "lng", "arrivalTime"?}, ...]}, at most 50 stops in increasing order, valid coordinates, ISO 8601 arrival times with a zone. Raises 22023 naming the field otherwise.';

-- bookings.passengers: [{"name": "...", "phone": "+7...", "age": 30, "isChild": false}, ...]
CREATE FUNCTION validate_passengers(passengers jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  p jsonb;
  i integer := 0;
  k text;
BEGIN
  IF passengers IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(passengers) <> 'array' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passengers must be a JSON array',
      HINT = 'Example: [{"name": "John Doe", "phone": "+77001234567", "age": 30, "isChild": false}]';
  END IF;
  IF jsonb_array_length(passengers) > 60 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passengers has more than 60 entries';
  END IF;
  FOR p IN SELECT value FROM jsonb_array_elements(passengers) LOOP
    IF jsonb_typeof(p) <> 'object' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passengers entries must be JSON objects',
        DETAIL = format('passengers[%s]', i);
    END IF;
    FOR k IN SELECT jsonb_object_keys(p) LOOP
      IF k NOT IN ('name', 'phone', 'age', 'isChild') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger entry has an unknown key',
          DETAIL = format('passengers[%s].%s; known keys: name, phone, age, isChild', i, left(k, 60));
      END IF;
    END LOOP;
    IF jsonb_typeof(p -> 'name') IS DISTINCT FROM 'string' OR length(btrim(p ->> 'name')) NOT BETWEEN 1 AND 200 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger name must be a text of 1 to 200 characters',
        DETAIL = format('passengers[%s].name', i);
    END IF;
    IF p ? 'phone' AND jsonb_typeof(p -> 'phone') <> 'null'
       AND (jsonb_typeof(p -> 'phone') <> 'string' OR NOT is_e164(p ->> 'phone')) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger phone must be an E.164 number',
        DETAIL = format('passengers[%s].phone', i);
    END IF;
    IF p ? 'age' AND jsonb_typeof(p -> 'age') <> 'null'
       AND (jsonb_typeof(p -> 'age') <> 'number' OR (p ->> 'age')::numeric NOT BETWEEN 0 AND 130
            OR (p ->> 'age')::numeric <> trunc((p ->> 'age')::numeric)) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger age must be a whole number in 0..130',
        DETAIL = format('passengers[%s].age', i);
    END IF;
    IF p ? 'isChild' AND jsonb_typeof(p -> 'isChild') NOT IN ('boolean', 'null') THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger isChild must be true or false',
        DETAIL = format('passengers[%s].isChild', i);
    END IF;
    i := i + 1;
  END LOOP;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_passengers(jsonb) IS
  'CHECK helper for bookings.passengers: a JSON array of {"name", "phone"? (E.164), "age"? (0..130), "isChild"? (boolean)}, at most 60. Raises 22023 naming the field otherwise.';

CREATE TABLE trips (
  id                       uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  title                    text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
  description              text CHECK (length(description) <= 5000),
  organizer_id             uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  driver_id                uuid REFERENCES drivers (id) ON DELETE RESTRICT,
  departure_time           timestamptz NOT NULL,
  return_time              timestamptz,
  timezone                 text NOT NULL DEFAULT 'Asia/Almaty' CHECK (is_valid_timezone(timezone)),
  origin_name              text NOT NULL CHECK (length(origin_name) BETWEEN 1 AND 200),
  origin_address           text CHECK (length(origin_address) <= 500),
  origin_lat               double precision NOT NULL CHECK (is_valid_lat(origin_lat)),
  origin_lng               double precision NOT NULL CHECK (is_valid_lng(origin_lng)),
  dest_name                text NOT NULL CHECK (length(dest_name) BETWEEN 1 AND 200),
  dest_address             text CHECK (length(dest_address) <= 500),
  dest_lat                 double precision NOT NULL CHECK (is_valid_lat(dest_lat)),
  dest_lng                 double precision NOT NULL CHECK (is_valid_lng(dest_lng)),
  total_seats              integer NOT NULL CHECK (total_seats BETWEEN 1 AND 60),
  available_seats          integer NOT NULL,
  base_price               numeric(14,2) NOT NULL DEFAULT 0 CHECK (base_price >= 0),
  currency                 text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  platform_fee             numeric(14,2) NOT NULL DEFAULT 0 CHECK (platform_fee >= 0),
  itinerary                jsonb CHECK (validate_itinerary(itinerary)),
  status                   trip_status NOT NULL DEFAULT 'DRAFT',
  trip_type                trip_type NOT NULL DEFAULT 'PRIVATE',
  tenant_id                uuid REFERENCES tenants (id) ON DELETE RESTRICT,
  price_per_seat           numeric(14,2) CHECK (price_per_seat >= 0),
  driver_discovery_radius  integer NOT NULL DEFAULT 5000 CHECK (driver_discovery_radius BETWEEN 100 AND 500000),
  estimated_earnings       numeric(14,2) CHECK (estimated_earnings >= 0),
  acceptance_deadline      timestamptz,
  offered_to_driver_id     uuid REFERENCES drivers (id) ON DELETE SET NULL,
  created_at               timestamptz NOT NULL DEFAULT now(),
  published_at             timestamptz,
  updated_at               timestamptz NOT NULL DEFAULT now(),
  started_at               timestamptz,
  completed_at             timestamptz,
  cancelled_at             timestamptz,
  cancellation_reason      text CHECK (length(cancellation_reason) <= 1000),
  offer_radius             integer CHECK (offer_radius BETWEEN 100 AND 2000000),
  origin_geog              geography(Point, 4326) GENERATED ALWAYS AS (geog_point(origin_lat, origin_lng)) STORED,
  dest_geog                geography(Point, 4326) GENERATED ALWAYS AS (geog_point(dest_lat, dest_lng)) STORED,
  CONSTRAINT trips_seats CHECK (available_seats BETWEEN 0 AND total_seats),
  CONSTRAINT trips_return_after_departure CHECK (return_time IS NULL OR return_time > departure_time),
  CONSTRAINT trips_shared_has_seat_price CHECK (trip_type = 'PRIVATE' OR price_per_seat IS NOT NULL),
  CONSTRAINT trips_offer_has_deadline CHECK ((offered_to_driver_id IS NULL) = (acceptance_deadline IS NULL))
);
COMMENT ON TABLE trips IS 'Trips: a PRIVATE cab (the whole vehicle, one booking, base_price) or a SHARED ride (sold by the seat at price_per_seat), from publication through dispatch to completion.';
COMMENT ON COLUMN trips.id IS 'Trip key (UUIDv7).';
COMMENT ON COLUMN trips.title IS 'Short title shown to passengers and drivers.';
COMMENT ON COLUMN trips.description IS 'Longer description, at most 5,000 characters.';
COMMENT ON COLUMN trips.organizer_id IS 'The user who created the trip.';
COMMENT ON COLUMN trips.driver_id IS 'The driver who accepted the trip; NULL until one did.';
COMMENT ON COLUMN trips.departure_time IS 'When the trip leaves (an instant; shown in the trip''s timezone).';
COMMENT ON COLUMN trips.return_time IS 'When a return trip leaves, after the departure; NULL for one way.';
COMMENT ON COLUMN trips.timezone IS 'IANA time zone the trip''s local times are shown and validated in (default Asia/Almaty).';
COMMENT ON COLUMN trips.origin_name IS 'Name of the pickup point.';
COMMENT ON COLUMN trips.origin_address IS 'Street address of the pickup point.';
COMMENT ON COLUMN trips.origin_lat IS 'Latitude of the pickup point, -90..90.';
COMMENT ON COLUMN trips.origin_lng IS 'Longitude of the pickup point, -180..180.';
COMMENT ON COLUMN trips.dest_name IS 'Name of the destination.';
COMMENT ON COLUMN trips.dest_address IS 'Street address of the destination.';
COMMENT ON COLUMN trips.dest_lat IS 'Latitude of the destination, -90..90.';
COMMENT ON COLUMN trips.dest_lng IS 'Longitude of the destination, -180..180.';
COMMENT ON COLUMN trips.total_seats IS 'Passenger seats offered, 1..60 (a PRIVATE trip: the seats the party needs).';
COMMENT ON COLUMN trips.available_seats IS 'Seats not held by live (PENDING or CONFIRMED) bookings, 0..total_seats; defaults to total_seats.';
COMMENT ON COLUMN trips.base_price IS 'Price of a PRIVATE trip (the whole vehicle).';
COMMENT ON COLUMN trips.currency IS 'ISO 4217 currency of the trip''s prices (default KZT).';
COMMENT ON COLUMN trips.platform_fee IS 'The platform''s share of the trip''s full price, by the payout split (15 % by default, the tenant''s rate where set).';
COMMENT ON COLUMN trips.itinerary IS 'Stops of the trip, {"stops": [{"order", "name", "address", "lat", "lng", "arrivalTime"}]}; validated on write.';
COMMENT ON COLUMN trips.status IS 'Lifecycle status; moved only by transition_trip and the dispatch functions, every move recorded in trip_status_history.';
COMMENT ON COLUMN trips.trip_type IS 'PRIVATE (whole vehicle) or SHARED (by the seat).';
COMMENT ON COLUMN trips.tenant_id IS 'The organisation the trip belongs to, if any; tenant-scoped trips are invisible to other tenants.';
COMMENT ON COLUMN trips.price_per_seat IS 'Price of one seat of a SHARED trip (required for SHARED).';
COMMENT ON COLUMN trips.driver_discovery_radius IS 'Radius in metres around the pickup point in which drivers are looked for (default 5,000).';
COMMENT ON COLUMN trips.estimated_earnings IS 'What the driver earns for the full trip after the platform fee.';
COMMENT ON COLUMN trips.acceptance_deadline IS 'Until when the driver offered the trip may accept it; set exactly while an offer is open.';
COMMENT ON COLUMN trips.offered_to_driver_id IS 'The driver the trip is offered to now; NULL when no offer is open.';
COMMENT ON COLUMN trips.created_at IS 'When the trip was created.';
COMMENT ON COLUMN trips.published_at IS 'When the trip was first published.';
COMMENT ON COLUMN trips.updated_at IS 'When the trip was last changed (kept by trigger).';
COMMENT ON COLUMN trips.started_at IS 'When the trip went IN_PROGRESS.';
COMMENT ON COLUMN trips.completed_at IS 'When the trip was COMPLETED; payout batches use it.';
COMMENT ON COLUMN trips.cancelled_at IS 'When the trip was CANCELLED.';
COMMENT ON COLUMN trips.cancellation_reason IS 'Why the trip was cancelled.';
COMMENT ON COLUMN trips.offer_radius IS 'The current dispatch radius in metres while offers widen past driver_discovery_radius; NULL before the first widening.';
COMMENT ON COLUMN trips.origin_geog IS 'The pickup point as a PostGIS geography (generated from origin_lat, origin_lng), GiST-indexed.';
COMMENT ON COLUMN trips.dest_geog IS 'The destination as a PostGIS geography (generated from dest_lat, dest_lng).';
CREATE INDEX trips_status_radius_idx ON trips (status, driver_discovery_radius);
CREATE INDEX trips_origin_geog_idx ON trips USING gist (origin_geog);
CREATE INDEX trips_departure_idx ON trips (departure_time);
CREATE INDEX trips_acceptance_deadline_idx ON trips (acceptance_deadline) WHERE acceptance_deadline IS NOT NULL;
CREATE INDEX trips_organizer_idx ON trips (organizer_id);
CREATE INDEX trips_driver_idx ON trips (driver_id) WHERE driver_id IS NOT NULL;
CREATE INDEX trips_offered_to_idx ON trips (offered_to_driver_id) WHERE offered_to_driver_id IS NOT NULL;
CREATE INDEX trips_tenant_idx ON trips (tenant_id) WHERE tenant_id IS NOT NULL;

CREATE FUNCTION trips_default_seats() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NEW.available_seats IS NULL THEN
    NEW.available_seats := NEW.total_seats;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION trips_default_seats() IS 'Trigger function: a new trip''s available_seats defaults to its total_seats.';
CREATE TRIGGER trips_default_seats BEFORE INSERT ON trips
  FOR EACH ROW EXECUTE FUNCTION trips_default_seats();
CREATE TRIGGER trips_touch BEFORE UPDATE ON trips
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('trips', '');

CREATE TABLE trip_driver_visibility (
  id               uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id          uuid NOT NULL REFERENCES trips (id) ON DELETE CASCADE,
  driver_id        uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  shown_at         timestamptz NOT NULL DEFAULT now(),
  viewed_at        timestamptz,
  response_action  trip_acceptance_action,
  response_at      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT trip_driver_visibility_once UNIQUE (trip_id, driver_id)
);
COMMENT ON TABLE trip_driver_visibility IS 'Which drivers a trip was shown to by driver discovery, and how they responded; one row per trip and driver.';
COMMENT ON COLUMN trip_driver_visibility.id IS 'Row key (UUIDv7).';
COMMENT ON COLUMN trip_driver_visibility.trip_id IS 'The trip shown.';
COMMENT ON COLUMN trip_driver_visibility.driver_id IS 'The driver it was shown to.';
COMMENT ON COLUMN trip_driver_visibility.shown_at IS 'When discovery last returned the driver for the trip.';
COMMENT ON COLUMN trip_driver_visibility.viewed_at IS 'When the driver app opened the trip.';
COMMENT ON COLUMN trip_driver_visibility.response_action IS 'The driver''s answer to an offer of the trip: ACCEPTED, DECLINED or TIMEOUT.';
COMMENT ON COLUMN trip_driver_visibility.response_at IS 'When the driver answered.';
COMMENT ON COLUMN trip_driver_visibility.created_at IS 'When the trip was first shown to the driver.';
CREATE INDEX trip_driver_visibility_driver_idx ON trip_driver_visibility (driver_id);
SELECT pg_catalog.pg_extension_config_dump('trip_driver_visibility', '');

CREATE TABLE trip_acceptance_logs (
  id                     uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id                uuid NOT NULL REFERENCES trips (id) ON DELETE CASCADE,
  driver_id              uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  action                 trip_acceptance_action NOT NULL,
  offered_at             timestamptz NOT NULL DEFAULT now(),
  responded_at           timestamptz,
  response_time_seconds  integer CHECK (response_time_seconds >= 0),
  ip_address             inet,
  user_agent             text CHECK (length(user_agent) <= 1024),
  timeout_duration       integer CHECK (timeout_duration > 0),
  created_at             timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trip_acceptance_logs IS 'Every step of every trip offer: OFFERED, then ACCEPTED, DECLINED or TIMEOUT, with response times.';
COMMENT ON COLUMN trip_acceptance_logs.id IS 'Log row key (UUIDv7).';
COMMENT ON COLUMN trip_acceptance_logs.trip_id IS 'The trip offered.';
COMMENT ON COLUMN trip_acceptance_logs.driver_id IS 'The driver it was offered to.';
COMMENT ON COLUMN trip_acceptance_logs.action IS 'What happened: OFFERED, ACCEPTED, DECLINED or TIMEOUT.';
COMMENT ON COLUMN trip_acceptance_logs.offered_at IS 'When the offer was made.';
COMMENT ON COLUMN trip_acceptance_logs.responded_at IS 'When the driver answered (or the deadline passed).';
COMMENT ON COLUMN trip_acceptance_logs.response_time_seconds IS 'Seconds from offer to answer.';
COMMENT ON COLUMN trip_acceptance_logs.ip_address IS 'IP address of the driver app that answered, when known.';
COMMENT ON COLUMN trip_acceptance_logs.user_agent IS 'User agent of the driver app that answered, when known.';
COMMENT ON COLUMN trip_acceptance_logs.timeout_duration IS 'Seconds the driver had to answer.';
COMMENT ON COLUMN trip_acceptance_logs.created_at IS 'When the row was written.';
CREATE INDEX trip_acceptance_logs_trip_idx ON trip_acceptance_logs (trip_id, driver_id);
CREATE INDEX trip_acceptance_logs_driver_idx ON trip_acceptance_logs (driver_id, created_at);
SELECT pg_catalog.pg_extension_config_dump('trip_acceptance_logs', '');

CREATE TABLE trip_status_history (
  id           uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id      uuid NOT NULL REFERENCES trips (id) ON DELETE CASCADE,
  from_status  trip_status,
  to_status    trip_status NOT NULL,
  actor_id     uuid REFERENCES users (id) ON DELETE SET NULL,
  reason       text CHECK (length(reason) <= 1000),
  changed_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trip_status_history IS 'Every status transition of every trip: from, to, who, when and why (added to the seed).';
COMMENT ON COLUMN trip_status_history.id IS 'Row key (UUIDv7).';
COMMENT ON COLUMN trip_status_history.trip_id IS 'The trip that moved.';
COMMENT ON COLUMN trip_status_history.from_status IS 'Status before the move (NULL for the creation).';
COMMENT ON COLUMN trip_status_history.to_status IS 'Status after the move.';
COMMENT ON COLUMN trip_status_history.actor_id IS 'The user who moved it; NULL for the system (jobs).';
COMMENT ON COLUMN trip_status_history.reason IS 'Why, when given.';
COMMENT ON COLUMN trip_status_history.changed_at IS 'When it moved.';
CREATE INDEX trip_status_history_trip_idx ON trip_status_history (trip_id, changed_at);
SELECT pg_catalog.pg_extension_config_dump('trip_status_history', '');

CREATE TABLE reviews (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id      uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  trip_id        uuid REFERENCES trips (id) ON DELETE SET NULL,
  rating         integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
  comment        text CHECK (length(comment) <= 2000),
  reviewer_id    uuid REFERENCES users (id) ON DELETE SET NULL,
  reviewer_name  text CHECK (length(reviewer_name) <= 200),
  response       text CHECK (length(response) <= 2000),
  responded_at   timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT reviews_once_per_trip UNIQUE (trip_id, reviewer_id),
  CONSTRAINT reviews_response_time CHECK ((response IS NULL) = (responded_at IS NULL))
);
COMMENT ON TABLE reviews IS 'Passengers'' reviews of drivers, one per passenger and trip, with the driver''s one response.';
COMMENT ON COLUMN reviews.id IS 'Review key (UUIDv7).';
COMMENT ON COLUMN reviews.driver_id IS 'The driver reviewed.';
COMMENT ON COLUMN reviews.trip_id IS 'The trip the review is about.';
COMMENT ON COLUMN reviews.rating IS 'Stars, 1..5.';
COMMENT ON COLUMN reviews.comment IS 'What the passenger wrote, at most 2,000 characters.';
COMMENT ON COLUMN reviews.reviewer_id IS 'The passenger who wrote it.';
COMMENT ON COLUMN reviews.reviewer_name IS 'The reviewer''s display name at the time.';
COMMENT ON COLUMN reviews.response IS 'The driver''s one response.';
COMMENT ON COLUMN reviews.responded_at IS 'When the driver responded; set exactly with response.';
COMMENT ON COLUMN reviews.created_at IS 'When the review was written.';
CREATE INDEX reviews_driver_idx ON reviews (driver_id, created_at);
SELECT pg_catalog.pg_extension_config_dump('reviews', '');

CREATE TABLE bookings (
  id                   uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id              uuid NOT NULL REFERENCES trips (id) ON DELETE RESTRICT,
  user_id              uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  status               booking_status NOT NULL DEFAULT 'PENDING',
  seats_booked         integer NOT NULL DEFAULT 1 CHECK (seats_booked BETWEEN 1 AND 60),
  total_amount         numeric(14,2) NOT NULL CHECK (total_amount >= 0),
  currency             text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  passengers           jsonb NOT NULL DEFAULT '[]' CHECK (validate_passengers(passengers)),
  notes                text CHECK (length(notes) <= 2000),
  payment_method_type  payment_method_type NOT NULL DEFAULT 'ONLINE',
  payout_id            uuid,
  payout_settled       boolean NOT NULL DEFAULT false,
  settled_at           timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  confirmed_at         timestamptz,
  cancelled_at         timestamptz,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  completed_at         timestamptz,
  cancellation_reason  text CHECK (length(cancellation_reason) <= 1000),
  expires_at           timestamptz,
  CONSTRAINT bookings_settlement CHECK (payout_settled = (settled_at IS NOT NULL))
);
COMMENT ON TABLE bookings IS 'Seat bookings of passengers on trips: seats, price, passengers, payment method and payout settlement.';
COMMENT ON COLUMN bookings.id IS 'Booking key (UUIDv7).';
COMMENT ON COLUMN bookings.trip_id IS 'The trip booked.';
COMMENT ON COLUMN bookings.user_id IS 'The passenger who booked (and pays).';
COMMENT ON COLUMN bookings.status IS 'PENDING (awaiting online payment), CONFIRMED, COMPLETED, CANCELLED or REFUNDED. PENDING and CONFIRMED bookings hold seats.';
COMMENT ON COLUMN bookings.seats_booked IS 'Seats held, 1..60.';
COMMENT ON COLUMN bookings.total_amount IS 'What the passenger pays: seats times price_per_seat (SHARED) or base_price (PRIVATE).';
COMMENT ON COLUMN bookings.currency IS 'ISO 4217 currency of total_amount, the trip''s.';
COMMENT ON COLUMN bookings.passengers IS 'Who travels, one entry per seat: [{"name", "phone", "age", "isChild"}]; validated on write.';
COMMENT ON COLUMN bookings.notes IS 'Notes for the driver (luggage, pickup details).';
COMMENT ON COLUMN bookings.payment_method_type IS 'ONLINE (paid through the provider, paid out to the driver) or CASH_TO_DRIVER (never paid out).';
COMMENT ON COLUMN bookings.payout_id IS 'The payout that settled the driver''s share of this booking.';
COMMENT ON COLUMN bookings.payout_settled IS 'True once a payout settled this booking; never settled twice.';
COMMENT ON COLUMN bookings.settled_at IS 'When the booking was settled; set exactly when payout_settled is true.';
COMMENT ON COLUMN bookings.created_at IS 'When the booking was made.';
COMMENT ON COLUMN bookings.confirmed_at IS 'When the booking was confirmed (paid, or cash agreed).';
COMMENT ON COLUMN bookings.cancelled_at IS 'When the booking was cancelled.';
COMMENT ON COLUMN bookings.updated_at IS 'When the booking was last changed (kept by trigger).';
COMMENT ON COLUMN bookings.completed_at IS 'When the trip completed the booking.';
COMMENT ON COLUMN bookings.cancellation_reason IS 'Why the booking was cancelled.';
COMMENT ON COLUMN bookings.expires_at IS 'For an unpaid ONLINE booking: when it is cancelled and its seats released if still unpaid.';
CREATE INDEX bookings_trip_user_idx ON bookings (trip_id, user_id);
-- one live booking per passenger and trip
CREATE UNIQUE INDEX bookings_one_live_per_user ON bookings (trip_id, user_id) WHERE status IN ('PENDING', 'CONFIRMED');
CREATE INDEX bookings_user_idx ON bookings (user_id, created_at);
CREATE INDEX bookings_payout_settled_idx ON bookings (payout_settled);
CREATE INDEX bookings_payment_method_idx ON bookings (payment_method_type);
CREATE INDEX bookings_payout_idx ON bookings (payout_id) WHERE payout_id IS NOT NULL;
CREATE INDEX bookings_expiry_idx ON bookings (expires_at) WHERE status = 'PENDING' AND expires_at IS NOT NULL;
CREATE TRIGGER bookings_touch BEFORE UPDATE ON bookings
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('bookings', '');

CREATE TABLE payments (
  id                    uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  booking_id            uuid NOT NULL UNIQUE REFERENCES bookings (id) ON DELETE RESTRICT,
  stripe_intent_id      text UNIQUE CHECK (stripe_intent_id ~ '^[A-Za-z0-9_]{3,255}$'),
  stripe_client_secret  text CHECK (length(stripe_client_secret) <= 500),
  amount                numeric(14,2) NOT NULL CHECK (amount >= 0),
  currency              text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  status                payment_status NOT NULL DEFAULT 'PENDING',
  payment_method        text CHECK (length(payment_method) <= 50),
  last4                 text CHECK (last4 ~ '^[0-9]{4}$'),
  metadata              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  error_message         text CHECK (length(error_message) <= 2000),
  created_at            timestamptz NOT NULL DEFAULT now(),
  succeeded_at          timestamptz,
  failed_at             timestamptz,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  refund_requested_at   timestamptz,
  refunded_at           timestamptz
);
COMMENT ON TABLE payments IS 'Card payments of bookings through Stripe, one per booking, as the application and Stripe''s webhooks report them. Only the last four digits of a card are kept.';
COMMENT ON COLUMN payments.id IS 'Payment key (UUIDv7).';
COMMENT ON COLUMN payments.booking_id IS 'The booking paid; one payment per booking.';
COMMENT ON COLUMN payments.stripe_intent_id IS 'Stripe PaymentIntent id (pi_...), unique.';
COMMENT ON COLUMN payments.stripe_client_secret IS 'The PaymentIntent''s client secret the app confirms the payment with.';
COMMENT ON COLUMN payments.amount IS 'Amount charged; equals the booking''s total_amount.';
COMMENT ON COLUMN payments.currency IS 'ISO 4217 currency charged; the booking''s.';
COMMENT ON COLUMN payments.status IS 'Provider state; never moves backwards (late events are recorded and ignored).';
COMMENT ON COLUMN payments.payment_method IS 'Kind of payment method (card, kaspi, ...).';
COMMENT ON COLUMN payments.last4 IS 'Last four digits of the card, the only card data kept.';
COMMENT ON COLUMN payments.metadata IS 'Further provider data, a JSON object.';
COMMENT ON COLUMN payments.error_message IS 'Why the payment failed, as the provider said.';
COMMENT ON COLUMN payments.created_at IS 'When the payment was created.';
COMMENT ON COLUMN payments.succeeded_at IS 'When the provider reported success.';
COMMENT ON COLUMN payments.failed_at IS 'When the provider reported failure.';
COMMENT ON COLUMN payments.updated_at IS 'When the payment was last changed (kept by trigger).';
COMMENT ON COLUMN payments.refund_requested_at IS 'When the platform marked the payment for refund (booking or trip cancelled after payment); the application issues the refund.';
COMMENT ON COLUMN payments.refunded_at IS 'When the provider reported the refund.';
CREATE INDEX payments_refund_requested_idx ON payments (refund_requested_at) WHERE refund_requested_at IS NOT NULL AND refunded_at IS NULL;
CREATE TRIGGER payments_touch BEFORE UPDATE ON payments
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('payments', '');

-- ---------------------------------------------------------------------------
-- Added for the trip lifecycle (release 0.1 has not shipped): the moments
-- boarding rules need, and the boarding state of each booking.
-- ---------------------------------------------------------------------------
ALTER TABLE trips
  ADD COLUMN driver_arrived_at      timestamptz,
  ADD COLUMN passengers_boarded_at  timestamptz;
COMMENT ON COLUMN trips.driver_arrived_at IS 'When the trip last moved to DRIVER_ARRIVED; no-shows may be marked steppergo.boarding_wait after it.';
COMMENT ON COLUMN trips.passengers_boarded_at IS 'When the trip moved to PASSENGERS_BOARDED (every live booking boarded or a no-show).';

ALTER TABLE bookings
  ADD COLUMN boarding_code_hash       bytea CHECK (octet_length(boarding_code_hash) = 32),
  ADD COLUMN boarding_code_issued_at  timestamptz,
  ADD COLUMN boarding_attempts        integer NOT NULL DEFAULT 0 CHECK (boarding_attempts >= 0),
  ADD COLUMN boarded_at               timestamptz,
  ADD COLUMN no_show_at               timestamptz,
  ADD CONSTRAINT bookings_boarded_or_no_show CHECK (boarded_at IS NULL OR no_show_at IS NULL),
  ADD CONSTRAINT bookings_code_issued CHECK ((boarding_code_hash IS NULL) = (boarding_code_issued_at IS NULL));
COMMENT ON COLUMN bookings.boarding_code_hash IS 'Keyed BLAKE2b-256 (steppergo.otp_key) of the booking''s 4-digit boarding code, bound to the booking id; the code itself is never stored.';
COMMENT ON COLUMN bookings.boarding_code_issued_at IS 'When the current boarding code was issued (issue_boarding_code shows it once; issuing again replaces it).';
COMMENT ON COLUMN bookings.boarding_attempts IS 'Wrong boarding codes entered since the code was issued; at 5 the code is blocked until a new one is issued.';
COMMENT ON COLUMN bookings.boarded_at IS 'When the driver confirmed the passenger on board with the boarding code.';
COMMENT ON COLUMN bookings.no_show_at IS 'When the driver marked the booking a no-show (steppergo.boarding_wait after arriving).';
-- ===========================================================================
-- payouts: what drivers are paid, batch by batch
-- ===========================================================================

CREATE TABLE payouts (
  id                  uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id           uuid NOT NULL REFERENCES drivers (id) ON DELETE RESTRICT,
  amount              numeric(14,2) NOT NULL CHECK (amount >= 0),
  currency            text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  status              payout_status NOT NULL DEFAULT 'PENDING',
  payout_method       text CHECK (length(payout_method) <= 50),
  payout_provider     text CHECK (length(payout_provider) <= 50),
  stripe_transfer_id  text UNIQUE CHECK (stripe_transfer_id ~ '^[A-Za-z0-9_]{3,255}$'),
  provider_metadata   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(provider_metadata) = 'object'),
  period_start        timestamptz,
  period_end          timestamptz NOT NULL,
  trips_count         integer NOT NULL DEFAULT 0 CHECK (trips_count >= 0),
  bookings_count      integer NOT NULL DEFAULT 0 CHECK (bookings_count >= 0),
  tenant_id           uuid REFERENCES tenants (id) ON DELETE RESTRICT,
  metadata            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  created_at          timestamptz NOT NULL DEFAULT now(),
  processed_at        timestamptz,
  failed_at           timestamptz,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  paid_at             timestamptz,
  cancelled_at        timestamptz,
  failure_reason      text CHECK (length(failure_reason) <= 2000),
  CONSTRAINT payouts_period CHECK (period_start IS NULL OR period_end >= period_start)
);
COMMENT ON TABLE payouts IS 'Payouts to drivers: one per driver, tenant and currency per batch, summing the driver''s share (85 % by default) of the settled ONLINE bookings.';
COMMENT ON COLUMN payouts.id IS 'Payout key (UUIDv7).';
COMMENT ON COLUMN payouts.driver_id IS 'The driver paid.';
COMMENT ON COLUMN payouts.amount IS 'Amount paid: the sum of the driver''s shares of the payout''s bookings.';
COMMENT ON COLUMN payouts.currency IS 'ISO 4217 currency; one payout never mixes currencies.';
COMMENT ON COLUMN payouts.status IS 'PENDING, PROCESSING, PAID, FAILED or CANCELLED.';
COMMENT ON COLUMN payouts.payout_method IS 'How the money is sent (bank_transfer, card, ...).';
COMMENT ON COLUMN payouts.payout_provider IS 'Who sends it (stripe, kaspi, ...).';
COMMENT ON COLUMN payouts.stripe_transfer_id IS 'The provider''s transfer id (tr_...), unique.';
COMMENT ON COLUMN payouts.provider_metadata IS 'Further provider data, a JSON object.';
COMMENT ON COLUMN payouts.period_start IS 'Start of the period the payout covers (the earliest completion of its bookings'' trips).';
COMMENT ON COLUMN payouts.period_end IS 'End of the period the payout covers: the batch''s period_end.';
COMMENT ON COLUMN payouts.trips_count IS 'Number of distinct trips in the payout.';
COMMENT ON COLUMN payouts.bookings_count IS 'Number of bookings in the payout.';
COMMENT ON COLUMN payouts.tenant_id IS 'The tenant of the payout''s trips; NULL for the platform''s own.';
COMMENT ON COLUMN payouts.metadata IS 'Further data, a JSON object.';
COMMENT ON COLUMN payouts.created_at IS 'When the batch created the payout.';
COMMENT ON COLUMN payouts.processed_at IS 'When the payout was handed to the provider (PROCESSING).';
COMMENT ON COLUMN payouts.failed_at IS 'When the provider reported failure.';
COMMENT ON COLUMN payouts.updated_at IS 'When the payout was last changed (kept by trigger).';
COMMENT ON COLUMN payouts.paid_at IS 'When the payout was PAID.';
COMMENT ON COLUMN payouts.cancelled_at IS 'When the payout was CANCELLED.';
COMMENT ON COLUMN payouts.failure_reason IS 'Why the payout failed or was cancelled.';
CREATE INDEX payouts_driver_idx ON payouts (driver_id, created_at);
CREATE INDEX payouts_status_idx ON payouts (status);
CREATE INDEX payouts_tenant_idx ON payouts (tenant_id) WHERE tenant_id IS NOT NULL;
CREATE TRIGGER payouts_touch BEFORE UPDATE ON payouts
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('payouts', '');

ALTER TABLE bookings ADD CONSTRAINT bookings_payout_id_fkey
  FOREIGN KEY (payout_id) REFERENCES payouts (id) ON DELETE RESTRICT;

-- What a payout deducted for commissions the driver owed on cash bookings
-- (steppergo.payout_net_cash_commission); zero when netting is off.
ALTER TABLE payouts ADD COLUMN commission_netted numeric(14,2) NOT NULL DEFAULT 0 CHECK (commission_netted >= 0);
COMMENT ON COLUMN payouts.commission_netted IS 'Commissions the driver owed on CASH_TO_DRIVER bookings that this payout deducted (steppergo.payout_net_cash_commission); amount = the bookings'' driver shares minus this. Zero when netting is off.';

-- ---------------------------------------------------------------------------
-- The frozen split of every booking.  The batch computes it once, with the
-- rate of the trip's tenant at that moment, and stores it on the booking:
-- ONLINE bookings when a payout settles them, CASH_TO_DRIVER bookings when
-- their commission is recorded.  Later rate changes never alter what was paid.
-- ---------------------------------------------------------------------------
ALTER TABLE bookings
  ADD COLUMN platform_rate numeric(5,4),
  ADD COLUMN platform_fee numeric(14,2),
  ADD COLUMN driver_amount numeric(14,2),
  ADD CONSTRAINT bookings_split_exact CHECK (
    (platform_rate IS NULL AND platform_fee IS NULL AND driver_amount IS NULL)
    OR (platform_rate BETWEEN 0 AND 1 AND platform_fee >= 0 AND driver_amount >= 0
        AND platform_fee + driver_amount = total_amount));
COMMENT ON COLUMN bookings.platform_rate IS 'Platform rate the booking was split with (frozen by the payout batch: the trip tenant''s rate at that time); NULL until split.';
COMMENT ON COLUMN bookings.platform_fee IS 'The platform''s share of total_amount, round(total_amount * platform_rate) to the currency''s minor unit, halves away from zero; frozen when a payout settles the booking (ONLINE) or its commission is recorded (CASH_TO_DRIVER).';
COMMENT ON COLUMN bookings.driver_amount IS 'The driver''s share: total_amount - platform_fee, so the two always add up to total_amount (CHECK bookings_split_exact).';
-- The batch's work list: completed bookings not split yet.  Small in steady
-- state (only what completed since the last batch), whatever the history.
CREATE INDEX bookings_unsplit_idx ON bookings (trip_id)
  WHERE status = 'COMPLETED' AND platform_fee IS NULL;
CREATE INDEX trips_completed_at_idx ON trips (completed_at) WHERE completed_at IS NOT NULL;

-- ---------------------------------------------------------------------------
-- driver_commissions: what drivers owe the platform for cash bookings
-- ---------------------------------------------------------------------------
CREATE TABLE driver_commissions (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id      uuid NOT NULL REFERENCES drivers (id) ON DELETE RESTRICT,
  booking_id     uuid NOT NULL UNIQUE REFERENCES bookings (id) ON DELETE RESTRICT,
  trip_id        uuid NOT NULL REFERENCES trips (id) ON DELETE RESTRICT,
  tenant_id      uuid REFERENCES tenants (id) ON DELETE RESTRICT,
  currency       text NOT NULL REFERENCES currencies (code),
  gross          numeric(14,2) NOT NULL CHECK (gross >= 0),
  platform_rate  numeric(5,4) NOT NULL CHECK (platform_rate BETWEEN 0 AND 1),
  amount         numeric(14,2) NOT NULL CHECK (amount >= 0),
  status         text NOT NULL DEFAULT 'OWED' CHECK (status IN ('OWED', 'NETTED', 'PAID')),
  payout_id      uuid REFERENCES payouts (id) ON DELETE RESTRICT,
  reference      text CHECK (length(reference) <= 200),
  recorded_at    timestamptz NOT NULL DEFAULT now(),
  netted_at      timestamptz,
  paid_at        timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT driver_commissions_within_gross CHECK (amount <= gross),
  CONSTRAINT driver_commissions_netted CHECK ((status = 'NETTED') = (payout_id IS NOT NULL)
                                              AND (status = 'NETTED') = (netted_at IS NOT NULL)),
  CONSTRAINT driver_commissions_paid CHECK ((status = 'PAID') = (paid_at IS NOT NULL))
);
COMMENT ON TABLE driver_commissions IS 'Ledger of the platform''s share of CASH_TO_DRIVER bookings: the driver collected the whole fare in cash, so the driver owes the platform its fee. One row per booking, written by run_payout_batch; never paid out. OWED until netted against a payout (steppergo.payout_net_cash_commission) or recorded as paid.';
COMMENT ON COLUMN driver_commissions.id IS 'Ledger row key (UUIDv7).';
COMMENT ON COLUMN driver_commissions.driver_id IS 'The driver who owes the commission (the trip''s driver).';
COMMENT ON COLUMN driver_commissions.booking_id IS 'The cash booking; one commission per booking.';
COMMENT ON COLUMN driver_commissions.trip_id IS 'The booking''s trip.';
COMMENT ON COLUMN driver_commissions.tenant_id IS 'The trip''s tenant; NULL for the platform''s own trips.';
COMMENT ON COLUMN driver_commissions.currency IS 'ISO 4217 currency of the booking.';
COMMENT ON COLUMN driver_commissions.gross IS 'What the passenger paid the driver in cash (the booking''s total_amount).';
COMMENT ON COLUMN driver_commissions.platform_rate IS 'Rate the commission was computed with (the tenant''s rate at the batch).';
COMMENT ON COLUMN driver_commissions.amount IS 'The commission owed: the booking''s platform_fee, round(gross * platform_rate) to the minor unit.';
COMMENT ON COLUMN driver_commissions.status IS 'OWED (driver still owes it), NETTED (deducted from payout_id), PAID (the driver paid it, reference says how).';
COMMENT ON COLUMN driver_commissions.payout_id IS 'The payout that deducted it; set exactly when NETTED.';
COMMENT ON COLUMN driver_commissions.reference IS 'How the driver paid it (receipt, transfer reference), when PAID.';
COMMENT ON COLUMN driver_commissions.recorded_at IS 'When the batch recorded it.';
COMMENT ON COLUMN driver_commissions.netted_at IS 'When a payout deducted it.';
COMMENT ON COLUMN driver_commissions.paid_at IS 'When it was recorded as paid.';
COMMENT ON COLUMN driver_commissions.updated_at IS 'When the row was last changed (kept by trigger).';
CREATE INDEX driver_commissions_driver_idx ON driver_commissions (driver_id, recorded_at);
CREATE INDEX driver_commissions_owed_idx ON driver_commissions (driver_id, currency, recorded_at) WHERE status = 'OWED';
CREATE INDEX driver_commissions_payout_idx ON driver_commissions (payout_id) WHERE payout_id IS NOT NULL;
CREATE TRIGGER driver_commissions_touch BEFORE UPDATE ON driver_commissions
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('driver_commissions', '');

-- ---------------------------------------------------------------------------
-- payout_released_bookings: what a FAILED or CANCELLED payout had settled
-- ---------------------------------------------------------------------------
CREATE TABLE payout_released_bookings (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  payout_id      uuid NOT NULL REFERENCES payouts (id) ON DELETE CASCADE,
  booking_id     uuid NOT NULL REFERENCES bookings (id) ON DELETE RESTRICT,
  platform_rate  numeric(5,4) NOT NULL,
  platform_fee   numeric(14,2) NOT NULL,
  driver_amount  numeric(14,2) NOT NULL,
  released_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payout_released_bookings_once UNIQUE (payout_id, booking_id)
);
COMMENT ON TABLE payout_released_bookings IS 'The bookings a payout had settled when it FAILED or was CANCELLED, with the split it had used: the bookings themselves are released for the next batch, this keeps the failed payout''s books checkable (reconcile_payouts).';
COMMENT ON COLUMN payout_released_bookings.id IS 'Row key (UUIDv7).';
COMMENT ON COLUMN payout_released_bookings.payout_id IS 'The FAILED or CANCELLED payout; a booking appears once per payout.';
COMMENT ON COLUMN payout_released_bookings.booking_id IS 'A booking it had settled.';
COMMENT ON COLUMN payout_released_bookings.platform_rate IS 'The rate the booking had been split with.';
COMMENT ON COLUMN payout_released_bookings.platform_fee IS 'The platform''s share the payout had used.';
COMMENT ON COLUMN payout_released_bookings.driver_amount IS 'The driver''s share the payout had included.';
COMMENT ON COLUMN payout_released_bookings.released_at IS 'When the payout failed or was cancelled and the booking was released.';
CREATE INDEX payout_released_bookings_booking_idx ON payout_released_bookings (booking_id);
SELECT pg_catalog.pg_extension_config_dump('payout_released_bookings', '');
-- ===========================================================================
-- messaging: one conversation per trip, its participants and messages
-- ===========================================================================

CREATE TABLE conversations (
  id               uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id          uuid NOT NULL UNIQUE REFERENCES trips (id) ON DELETE CASCADE,
  last_message_at  timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE conversations IS 'The chat room of a trip, one per trip, where organizer, driver and passengers coordinate.';
COMMENT ON COLUMN conversations.id IS 'Conversation key (UUIDv7).';
COMMENT ON COLUMN conversations.trip_id IS 'The trip the conversation belongs to; one conversation per trip.';
COMMENT ON COLUMN conversations.last_message_at IS 'When the newest visible message was sent; kept exact with messages.';
COMMENT ON COLUMN conversations.created_at IS 'When the conversation was created (with the trip).';
COMMENT ON COLUMN conversations.updated_at IS 'When the conversation was last changed (kept by trigger).';
CREATE TRIGGER conversations_touch BEFORE UPDATE ON conversations
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('conversations', '');

CREATE TABLE conversation_participants (
  id                     uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  conversation_id        uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  last_read_at           timestamptz,
  unread_count           integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
  notifications_enabled  boolean NOT NULL DEFAULT true,
  joined_at              timestamptz NOT NULL DEFAULT now(),
  left_at                timestamptz,
  CONSTRAINT conversation_participants_once UNIQUE (conversation_id, user_id),
  CONSTRAINT conversation_participants_left_after_join CHECK (left_at IS NULL OR left_at >= joined_at)
);
COMMENT ON TABLE conversation_participants IS 'Who is in a trip''s conversation (organizer, driver, passengers with a confirmed booking), with their read position and unread count.';
COMMENT ON COLUMN conversation_participants.id IS 'Participant row key (UUIDv7).';
COMMENT ON COLUMN conversation_participants.conversation_id IS 'The conversation.';
COMMENT ON COLUMN conversation_participants.user_id IS 'The participating user; once per conversation.';
COMMENT ON COLUMN conversation_participants.last_read_at IS 'Sent time of the newest message the participant has read.';
COMMENT ON COLUMN conversation_participants.unread_count IS 'Visible messages of others the participant has not read; kept exact under concurrent senders and readers.';
COMMENT ON COLUMN conversation_participants.notifications_enabled IS 'Whether new messages also notify the participant outside the app.';
COMMENT ON COLUMN conversation_participants.joined_at IS 'When the participant joined.';
COMMENT ON COLUMN conversation_participants.left_at IS 'When the participant left (booking cancelled, driver unassigned); NULL while in. One who left cannot post or read new messages.';
CREATE INDEX conversation_participants_user_idx ON conversation_participants (user_id, conversation_id);
ALTER TABLE conversation_participants
  ADD COLUMN notification_channel delivery_channel NOT NULL DEFAULT 'PUSH';
COMMENT ON COLUMN conversation_participants.notification_channel IS 'Channel of the outbox notifications this participant gets for new messages while not connected: PUSH (default), SMS, WHATSAPP or EMAIL.';
SELECT pg_catalog.pg_extension_config_dump('conversation_participants', '');

CREATE TABLE messages (
  id               uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  sender_id        uuid REFERENCES users (id) ON DELETE SET NULL,
  content          text NOT NULL CHECK (length(content) <= 4000),
  type             message_type NOT NULL DEFAULT 'TEXT',
  metadata         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  status           message_status NOT NULL DEFAULT 'SENT',
  is_reported      boolean NOT NULL DEFAULT false,
  report_reason    text CHECK (length(report_reason) <= 1000),
  is_hidden        boolean NOT NULL DEFAULT false,
  sent_at          timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  read_at          timestamptz,
  edited_at        timestamptz,
  hidden_at        timestamptz,
  hidden_by        uuid REFERENCES users (id) ON DELETE SET NULL,
  reported_at      timestamptz,
  reported_by      uuid REFERENCES users (id) ON DELETE SET NULL
);
COMMENT ON TABLE messages IS 'Chat messages of trip conversations: text, images and files (uploads), shared locations, and SYSTEM messages the platform writes.';
COMMENT ON COLUMN messages.id IS 'Message key (UUIDv7).';
COMMENT ON COLUMN messages.conversation_id IS 'The conversation the message belongs to.';
COMMENT ON COLUMN messages.sender_id IS 'The user who sent it; NULL for SYSTEM messages.';
COMMENT ON COLUMN messages.content IS 'Text of the message (a caption for IMAGE and FILE), at most 4,000 characters.';
COMMENT ON COLUMN messages.type IS 'TEXT, IMAGE, FILE, LOCATION or SYSTEM.';
COMMENT ON COLUMN messages.metadata IS 'Per type: {"lat", "lng"} for LOCATION, {"file_upload_id"} for IMAGE and FILE, {"event"} for SYSTEM.';
COMMENT ON COLUMN messages.status IS 'SENT, DELIVERED, READ (only forwards) or FAILED.';
COMMENT ON COLUMN messages.is_reported IS 'True once a participant reported the message.';
COMMENT ON COLUMN messages.report_reason IS 'Why it was reported.';
COMMENT ON COLUMN messages.is_hidden IS 'True once an admin hid the message; hidden messages are not returned to participants.';
COMMENT ON COLUMN messages.sent_at IS 'When the message was sent; history is paged by (conversation_id, sent_at).';
COMMENT ON COLUMN messages.delivered_at IS 'When it was first delivered to a recipient''s device.';
COMMENT ON COLUMN messages.read_at IS 'When a recipient first read it.';
COMMENT ON COLUMN messages.edited_at IS 'When the sender last edited it.';
COMMENT ON COLUMN messages.hidden_at IS 'When an admin hid it.';
COMMENT ON COLUMN messages.hidden_by IS 'The admin who hid it.';
COMMENT ON COLUMN messages.reported_at IS 'When it was reported.';
COMMENT ON COLUMN messages.reported_by IS 'Who reported it.';
-- Unique: sent_at is the keyset of a conversation's history.  send_message
-- hands out strictly increasing times per conversation; a direct INSERT that
-- would collide is moved on by a microsecond (trigger messages_sent_at_unique).
CREATE UNIQUE INDEX messages_conversation_sent_idx ON messages (conversation_id, sent_at);
CREATE INDEX messages_sender_idx ON messages (sender_id) WHERE sender_id IS NOT NULL;
CREATE INDEX messages_hidden_by_idx ON messages (hidden_by) WHERE hidden_by IS NOT NULL;
CREATE INDEX messages_reported_by_idx ON messages (reported_by) WHERE reported_by IS NOT NULL;
CREATE INDEX messages_reported_idx ON messages (reported_at) WHERE is_reported AND NOT is_hidden;
SELECT pg_catalog.pg_extension_config_dump('messages', '');

CREATE TABLE chat_presence (
  user_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  connected_at  timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  client        text CHECK (length(client) <= 200)
);
COMMENT ON TABLE chat_presence IS 'Which users are connected to the real-time chat right now: the WebSocket gateway (or the app) calls chat_heartbeat while a user is connected and chat_disconnect when they go. A user seen within steppergo.chat_presence_timeout is listening and gets no outbox notification for new messages.';
COMMENT ON COLUMN chat_presence.user_id IS 'The connected user.';
COMMENT ON COLUMN chat_presence.connected_at IS 'When the current connection started (first heartbeat after a disconnect).';
COMMENT ON COLUMN chat_presence.last_seen_at IS 'Time of the newest heartbeat.';
COMMENT ON COLUMN chat_presence.client IS 'Free text naming the gateway node or client, for operators.';
CREATE INDEX chat_presence_seen_idx ON chat_presence (last_seen_at);
SELECT pg_catalog.pg_extension_config_dump('chat_presence', '');
-- ===========================================================================
-- activities: owners, listings, photos, schedules, bookings, reviews
-- ===========================================================================

CREATE FUNCTION activity_categories() RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN ARRAY['TOUR', 'EXCURSION', 'ATTRACTION', 'ADVENTURE', 'NATURE', 'CULTURAL', 'FOOD', 'SPORTS',
               'WELLNESS', 'WATER', 'WINTER', 'CITY', 'MULTI_DAY', 'OTHER'];
COMMENT ON FUNCTION activity_categories() IS
  'The categories an activity may have: TOUR, EXCURSION, ATTRACTION, ADVENTURE, NATURE, CULTURAL, FOOD, SPORTS, WELLNESS, WATER, WINTER, CITY, MULTI_DAY, OTHER.';

CREATE FUNCTION weekdays() RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN ARRAY['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'];
COMMENT ON FUNCTION weekdays() IS 'Day-of-week labels used by schedules, Monday first: MON..SUN.';

-- activities.group_pricing: [{"minParticipants": 5, "maxParticipants": 10, "pricePerPerson": 15000}, ...]
-- Tiers must not overlap and must lie within the activity's min/max
-- participants; that cross-column rule is checked by activities_check_pricing.
CREATE FUNCTION validate_group_pricing(pricing jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  t jsonb;
  i integer := 0;
  k text;
  f text;
BEGIN
  IF pricing IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(pricing) <> 'array' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'group_pricing must be a JSON array of tiers',
      HINT = 'Example: [{"minParticipants": 5, "maxParticipants": 10, "pricePerPerson": 15000}]';
  END IF;
  IF jsonb_array_length(pricing) > 20 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'group_pricing has more than 20 tiers';
  END IF;
  FOR t IN SELECT value FROM jsonb_array_elements(pricing) LOOP
    IF jsonb_typeof(t) <> 'object' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'group_pricing tiers must be JSON objects',
        DETAIL = format('group_pricing[%s]', i);
    END IF;
    FOR k IN SELECT jsonb_object_keys(t) LOOP
      IF k NOT IN ('minParticipants', 'maxParticipants', 'pricePerPerson') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'group_pricing tier has an unknown key',
          DETAIL = format('group_pricing[%s].%s; known keys: minParticipants, maxParticipants, pricePerPerson', i, left(k, 60));
      END IF;
    END LOOP;
    FOREACH f IN ARRAY ARRAY['minParticipants', 'maxParticipants', 'pricePerPerson'] LOOP
      IF jsonb_typeof(t -> f) IS DISTINCT FROM 'number' OR (t ->> f)::numeric <> trunc((t ->> f)::numeric)
         OR (t ->> f)::numeric < 1 OR (t ->> f)::numeric > 1000000000 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('group_pricing %s must be a positive whole number', f),
          DETAIL = format('group_pricing[%s].%s', i, f);
      END IF;
    END LOOP;
    IF (t ->> 'maxParticipants')::int < (t ->> 'minParticipants')::int THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'group_pricing tier has maxParticipants below minParticipants',
        DETAIL = format('group_pricing[%s]', i);
    END IF;
    i := i + 1;
  END LOOP;
  -- no two tiers overlap
  IF EXISTS (SELECT 1
               FROM jsonb_array_elements(pricing) WITH ORDINALITY a(t, n)
               JOIN jsonb_array_elements(pricing) WITH ORDINALITY b(t, n) ON a.n < b.n
              WHERE (a.t ->> 'minParticipants')::int <= (b.t ->> 'maxParticipants')::int
                AND (b.t ->> 'minParticipants')::int <= (a.t ->> 'maxParticipants')::int) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'group_pricing tiers overlap';
  END IF;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_group_pricing(jsonb) IS
  'CHECK helper for activities.group_pricing: a JSON array of at most 20 tiers {"minParticipants", "maxParticipants", "pricePerPerson"}, positive whole numbers, min <= max, no two tiers overlapping. Raises 22023 naming the field otherwise.';

-- activities.cancellation_policy: {"tiers": [{"hoursBefore": 48, "refundPercent": 100}, ...]}
-- A cancellation at least hoursBefore hours before the start refunds
-- refundPercent of what was paid (the first tier that applies, by the most
-- hours); later cancellations refund nothing.  {} means no refund.
CREATE FUNCTION validate_cancellation_policy(policy jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  t jsonb;
  i integer := 0;
  k text;
BEGIN
  IF policy IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(policy) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cancellation_policy must be a JSON object',
      HINT = 'Example: {"tiers": [{"hoursBefore": 48, "refundPercent": 100}, {"hoursBefore": 24, "refundPercent": 50}]}';
  END IF;
  FOR k IN SELECT jsonb_object_keys(policy) LOOP
    IF k NOT IN ('tiers', 'description') THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cancellation_policy has an unknown key',
        DETAIL = format('cancellation_policy.%s; known keys: tiers, description', left(k, 60));
    END IF;
  END LOOP;
  IF policy ? 'description' AND (jsonb_typeof(policy -> 'description') <> 'string' OR length(policy ->> 'description') > 2000) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cancellation_policy.description must be a text of at most 2,000 characters';
  END IF;
  IF NOT policy ? 'tiers' THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(policy -> 'tiers') <> 'array' OR jsonb_array_length(policy -> 'tiers') > 20 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cancellation_policy.tiers must be an array of at most 20 tiers';
  END IF;
  FOR t IN SELECT value FROM jsonb_array_elements(policy -> 'tiers') LOOP
    IF jsonb_typeof(t) <> 'object'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(t) x WHERE x NOT IN ('hoursBefore', 'refundPercent')) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cancellation_policy tiers must be {"hoursBefore", "refundPercent"} objects',
        DETAIL = format('cancellation_policy.tiers[%s]', i);
    END IF;
    IF jsonb_typeof(t -> 'hoursBefore') IS DISTINCT FROM 'number' OR (t ->> 'hoursBefore')::numeric NOT BETWEEN 0 AND 8760 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cancellation_policy hoursBefore must be a number of hours in 0..8760',
        DETAIL = format('cancellation_policy.tiers[%s].hoursBefore', i);
    END IF;
    IF jsonb_typeof(t -> 'refundPercent') IS DISTINCT FROM 'number' OR (t ->> 'refundPercent')::numeric NOT BETWEEN 0 AND 100 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cancellation_policy refundPercent must be a number in 0..100',
        DETAIL = format('cancellation_policy.tiers[%s].refundPercent', i);
    END IF;
    i := i + 1;
  END LOOP;
  IF (SELECT count(DISTINCT (v ->> 'hoursBefore')::numeric) FROM jsonb_array_elements(policy -> 'tiers') v) <> i THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cancellation_policy tiers must have distinct hoursBefore';
  END IF;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_cancellation_policy(jsonb) IS
  'CHECK helper for activities.cancellation_policy: {"tiers": [{"hoursBefore", "refundPercent"}], "description"?}; a cancellation at least hoursBefore hours before the start refunds refundPercent (the tier with the most hours that applies). Raises 22023 naming the field otherwise.';

-- The cross-column rule of activities.group_pricing: every tier lies within
-- the activity's min_participants..max_participants.
CREATE FUNCTION activities_check_pricing(pricing jsonb, min_participants integer, max_participants integer)
  RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  t jsonb;
  i integer := 0;
BEGIN
  IF pricing IS NULL OR jsonb_typeof(pricing) <> 'array' THEN
    RETURN true;   -- the shape is validate_group_pricing's business
  END IF;
  FOR t IN SELECT value FROM jsonb_array_elements(pricing) LOOP
    IF (t ->> 'minParticipants')::numeric < min_participants OR (t ->> 'maxParticipants')::numeric > max_participants THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = 'group_pricing tier lies outside the activity''s participants range',
        DETAIL = format('group_pricing[%s] is %s..%s, the activity takes %s..%s participants', i,
                        t ->> 'minParticipants', t ->> 'maxParticipants', min_participants, max_participants);
    END IF;
    i := i + 1;
  END LOOP;
  RETURN true;
END
$$;
COMMENT ON FUNCTION activities_check_pricing(jsonb, integer, integer) IS
  'CHECK helper for activities: every group_pricing tier lies within min_participants..max_participants. Raises 22023 naming the tier otherwise.';

-- updated_at of activities and owners moves only when something other than
-- the aggregates kept by triggers changes: a new booking or review is not an
-- edit of the listing, and a restore (which replays the aggregates) must not
-- alter the rows it restores.
CREATE FUNCTION touch_updated_at_except_aggregates() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF (to_jsonb(NEW) - TG_ARGV::text[] - 'updated_at' - 'geog') IS DISTINCT FROM
     (to_jsonb(OLD) - TG_ARGV::text[] - 'updated_at' - 'geog') THEN
    NEW.updated_at := pg_catalog.now();
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION touch_updated_at_except_aggregates() IS
  'Trigger function: sets updated_at to the transaction time on an UPDATE that changes a column other than the ones named as trigger arguments (the aggregates kept by triggers).';

CREATE TABLE activity_owners (
  id                   uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  user_id              uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE RESTRICT,
  business_name        text NOT NULL CHECK (length(btrim(business_name)) BETWEEN 1 AND 200),
  business_type        text CHECK (length(business_type) <= 100),
  tax_id               text CHECK (length(tax_id) <= 50),
  registration_number  text CHECK (length(registration_number) <= 100),
  business_address     text CHECK (length(business_address) <= 500),
  city                 text CHECK (length(city) <= 100),
  country              text NOT NULL DEFAULT 'KZ' CHECK (country ~ '^[A-Z]{2}$'),
  phone                text CHECK (is_e164(phone)),
  website              text CHECK (is_http_url(website)),
  verification_status  text NOT NULL DEFAULT 'PENDING'
                         CHECK (verification_status IN ('PENDING', 'VERIFIED', 'REJECTED', 'SUSPENDED')),
  verified_at          timestamptz,
  verified_by          uuid REFERENCES users (id) ON DELETE SET NULL,
  categories           text[] NOT NULL DEFAULT '{}' CHECK (categories <@ activity_categories()),
  documents_url        jsonb NOT NULL DEFAULT '{}' CHECK (validate_documents_url(documents_url)),
  total_activities     integer NOT NULL DEFAULT 0 CHECK (total_activities >= 0),
  total_bookings       integer NOT NULL DEFAULT 0 CHECK (total_bookings >= 0),
  total_revenue        numeric(14,2) NOT NULL DEFAULT 0 CHECK (total_revenue >= 0),
  average_rating       numeric(3,2) NOT NULL DEFAULT 0 CHECK (average_rating BETWEEN 0 AND 5),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  rejection_reason     text CHECK (length(rejection_reason) <= 1000),
  review_count         integer NOT NULL DEFAULT 0,
  rating_total         bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE activity_owners IS 'Businesses that sell tours and activities, one profile per user, verified by an admin before they can publish.';
COMMENT ON COLUMN activity_owners.id IS 'Owner key (UUIDv7).';
COMMENT ON COLUMN activity_owners.user_id IS 'The user account of the owner; one profile per user.';
COMMENT ON COLUMN activity_owners.business_name IS 'Trading name shown to customers.';
COMMENT ON COLUMN activity_owners.business_type IS 'Legal form (LLP, sole proprietor, ...).';
COMMENT ON COLUMN activity_owners.tax_id IS 'Tax identification number (BIN/IIN in Kazakhstan).';
COMMENT ON COLUMN activity_owners.registration_number IS 'Company registration number.';
COMMENT ON COLUMN activity_owners.business_address IS 'Registered address.';
COMMENT ON COLUMN activity_owners.city IS 'City the business operates from.';
COMMENT ON COLUMN activity_owners.country IS 'ISO 3166-1 alpha-2 country code (default KZ).';
COMMENT ON COLUMN activity_owners.phone IS 'Business phone, E.164.';
COMMENT ON COLUMN activity_owners.website IS 'Business website, an http(s) URL.';
COMMENT ON COLUMN activity_owners.verification_status IS 'PENDING, VERIFIED (may publish), REJECTED or SUSPENDED.';
COMMENT ON COLUMN activity_owners.verified_at IS 'When an admin verified the owner.';
COMMENT ON COLUMN activity_owners.verified_by IS 'The admin who verified the owner.';
COMMENT ON COLUMN activity_owners.categories IS 'Categories the owner offers, from activity_categories().';
COMMENT ON COLUMN activity_owners.documents_url IS 'Links to business documents, a JSON object of name to URL; validated on write.';
COMMENT ON COLUMN activity_owners.total_activities IS 'Number of the owner''s activities; kept exact.';
COMMENT ON COLUMN activity_owners.total_bookings IS 'Number of the owner''s completed and confirmed bookings; kept exact.';
COMMENT ON COLUMN activity_owners.total_revenue IS 'Revenue of the owner''s bookings net of refunds; kept exact.';
COMMENT ON COLUMN activity_owners.average_rating IS 'Average rating over all reviews of the owner''s activities (0 while none); kept exact.';
COMMENT ON COLUMN activity_owners.created_at IS 'When the profile was created.';
COMMENT ON COLUMN activity_owners.updated_at IS 'When the profile was last changed (kept by trigger).';
COMMENT ON COLUMN activity_owners.rejection_reason IS 'Why verification was refused (or the owner suspended).';
COMMENT ON COLUMN activity_owners.review_count IS 'Number of reviews of the owner''s activities; kept exact.';
COMMENT ON COLUMN activity_owners.rating_total IS 'Sum of the ratings of the owner''s activities'' reviews (average_rating = rating_total / review_count, rounded to 2 places); kept exact.';
CREATE TRIGGER activity_owners_touch BEFORE UPDATE ON activity_owners
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at_except_aggregates(
    'total_activities', 'total_bookings', 'total_revenue', 'average_rating', 'review_count', 'rating_total');
SELECT pg_catalog.pg_extension_config_dump('activity_owners', '');

CREATE TABLE activities (
  id                     uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  owner_id               uuid NOT NULL REFERENCES activity_owners (id) ON DELETE RESTRICT,
  title                  text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
  description            text CHECK (length(description) <= 10000),
  category               text NOT NULL CHECK (category = ANY (activity_categories())),
  status                 text NOT NULL DEFAULT 'DRAFT'
                           CHECK (status IN ('DRAFT', 'PENDING_APPROVAL', 'ACTIVE', 'PAUSED', 'ARCHIVED', 'REJECTED')),
  address                text CHECK (length(address) <= 500),
  city                   text NOT NULL DEFAULT 'Almaty' CHECK (length(city) BETWEEN 1 AND 100),
  latitude               double precision CHECK (is_valid_lat(latitude)),
  longitude              double precision CHECK (is_valid_lng(longitude)),
  price_per_person       integer NOT NULL CHECK (price_per_person >= 0),
  currency               text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  group_pricing          jsonb NOT NULL DEFAULT '[]' CHECK (validate_group_pricing(group_pricing)),
  min_participants       integer NOT NULL DEFAULT 1 CHECK (min_participants >= 1),
  max_participants       integer NOT NULL DEFAULT 20 CHECK (max_participants BETWEEN 1 AND 10000),
  duration_minutes       integer NOT NULL DEFAULT 60 CHECK (duration_minutes BETWEEN 1 AND 43200),
  schedule_type          text NOT NULL DEFAULT 'FIXED' CHECK (schedule_type IN ('FIXED', 'FLEXIBLE')),
  available_days         text[] NOT NULL DEFAULT '{}' CHECK (available_days <@ weekdays()),
  blackout_dates         date[] NOT NULL DEFAULT '{}' CHECK (array_position(blackout_dates, NULL) IS NULL),
  advance_booking_days   integer NOT NULL DEFAULT 90 CHECK (advance_booking_days BETWEEN 1 AND 730),
  cancellation_policy    jsonb NOT NULL DEFAULT '{}' CHECK (validate_cancellation_policy(cancellation_policy)),
  inclusions             text[] NOT NULL DEFAULT '{}' CHECK (cardinality(inclusions) <= 50),
  exclusions             text[] NOT NULL DEFAULT '{}' CHECK (cardinality(exclusions) <= 50),
  requirements           text[] NOT NULL DEFAULT '{}' CHECK (cardinality(requirements) <= 50),
  total_bookings         integer NOT NULL DEFAULT 0 CHECK (total_bookings >= 0),
  total_revenue          numeric(14,2) NOT NULL DEFAULT 0 CHECK (total_revenue >= 0),
  average_rating         numeric(3,2) NOT NULL DEFAULT 0 CHECK (average_rating BETWEEN 0 AND 5),
  review_count           integer NOT NULL DEFAULT 0 CHECK (review_count >= 0),
  published_at           timestamptz,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  timezone               text NOT NULL DEFAULT 'Asia/Almaty' CHECK (is_valid_timezone(timezone)),
  min_notice_hours       integer NOT NULL DEFAULT 2 CHECK (min_notice_hours BETWEEN 0 AND 720),
  geog                   geography(Point, 4326) GENERATED ALWAYS AS (geog_point(latitude, longitude)) STORED,
  rating_total           bigint NOT NULL DEFAULT 0,
  -- the participants range, and the group tiers inside it (22023 naming the tier)
  CONSTRAINT activities_participants CHECK (max_participants >= min_participants
                                            AND activities_check_pricing(group_pricing, min_participants, max_participants)),
  CONSTRAINT activities_position CHECK ((latitude IS NULL) = (longitude IS NULL))
);
COMMENT ON TABLE activities IS 'Tours, excursions and attractions listed by verified owners: pricing, capacity, schedule rules and cancellation policy.';
COMMENT ON COLUMN activities.id IS 'Activity key (UUIDv7).';
COMMENT ON COLUMN activities.owner_id IS 'The owner who lists it.';
COMMENT ON COLUMN activities.title IS 'Title shown to customers.';
COMMENT ON COLUMN activities.description IS 'Full description, at most 10,000 characters.';
COMMENT ON COLUMN activities.category IS 'One of activity_categories().';
COMMENT ON COLUMN activities.status IS 'DRAFT, PENDING_APPROVAL, ACTIVE (bookable, searchable), PAUSED, ARCHIVED or REJECTED.';
COMMENT ON COLUMN activities.address IS 'Where the activity starts.';
COMMENT ON COLUMN activities.city IS 'City the activity is listed under (search filter).';
COMMENT ON COLUMN activities.latitude IS 'Latitude of the meeting point, -90..90.';
COMMENT ON COLUMN activities.longitude IS 'Longitude of the meeting point, -180..180.';
COMMENT ON COLUMN activities.price_per_person IS 'Price per participant in whole units of the currency (tenge), when no group tier applies.';
COMMENT ON COLUMN activities.currency IS 'ISO 4217 currency of the prices (default KZT).';
COMMENT ON COLUMN activities.group_pricing IS 'Group tiers [{"minParticipants", "maxParticipants", "pricePerPerson"}], non-overlapping, within min/max participants; validated on write.';
COMMENT ON COLUMN activities.min_participants IS 'Fewest participants one booking may have.';
COMMENT ON COLUMN activities.max_participants IS 'Capacity of one slot: most participants over all its live bookings.';
COMMENT ON COLUMN activities.duration_minutes IS 'How long the activity lasts, in minutes.';
COMMENT ON COLUMN activities.schedule_type IS 'FIXED (time slots from activity_schedules) or FLEXIBLE (any time in the opening hours on available_days).';
COMMENT ON COLUMN activities.available_days IS 'Days of week the activity runs, MON..SUN.';
COMMENT ON COLUMN activities.blackout_dates IS 'Local dates on which the activity does not run.';
COMMENT ON COLUMN activities.advance_booking_days IS 'How many days ahead one may book, 1..730.';
COMMENT ON COLUMN activities.cancellation_policy IS 'Refund rules {"tiers": [{"hoursBefore", "refundPercent"}]}; copied onto each booking when it is made.';
COMMENT ON COLUMN activities.inclusions IS 'What the price includes.';
COMMENT ON COLUMN activities.exclusions IS 'What the price does not include.';
COMMENT ON COLUMN activities.requirements IS 'What participants need (age, fitness, gear).';
COMMENT ON COLUMN activities.total_bookings IS 'Number of confirmed and completed bookings; kept exact.';
COMMENT ON COLUMN activities.total_revenue IS 'Revenue of the bookings net of refunds; kept exact.';
COMMENT ON COLUMN activities.average_rating IS 'Average of the reviews'' ratings (0 while none); kept exact.';
COMMENT ON COLUMN activities.review_count IS 'Number of reviews; kept exact.';
COMMENT ON COLUMN activities.published_at IS 'When the activity first became ACTIVE.';
COMMENT ON COLUMN activities.created_at IS 'When the listing was created.';
COMMENT ON COLUMN activities.updated_at IS 'When the listing was last changed (kept by trigger).';
COMMENT ON COLUMN activities.timezone IS 'IANA zone of the activity''s local times (default Asia/Almaty).';
COMMENT ON COLUMN activities.min_notice_hours IS 'Hours before a slot''s start after which it can no longer be booked.';
COMMENT ON COLUMN activities.geog IS 'The meeting point as a PostGIS geography (generated), GiST-indexed for distance search.';
COMMENT ON COLUMN activities.rating_total IS 'Sum of the reviews'' ratings (average_rating = rating_total / review_count, rounded to 2 places); kept exact.';
COMMENT ON CONSTRAINT activities_participants ON activities IS 'max_participants >= min_participants (23514), and every group_pricing tier lies within min_participants..max_participants (22023 naming the tier).';
CREATE INDEX activities_status_published_idx ON activities (status, published_at);
CREATE INDEX activities_city_category_idx ON activities (city, category);
CREATE INDEX activities_owner_idx ON activities (owner_id);
CREATE INDEX activities_geog_idx ON activities USING gist (geog);
CREATE TRIGGER activities_touch BEFORE UPDATE ON activities
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at_except_aggregates(
    'total_bookings', 'total_revenue', 'average_rating', 'review_count', 'rating_total');
SELECT pg_catalog.pg_extension_config_dump('activities', '');

CREATE TABLE activity_photos (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  activity_id    uuid NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
  url            text NOT NULL CHECK (is_http_url(url)),
  thumbnail_url  text CHECK (is_http_url(thumbnail_url)),
  cloudinary_id  text UNIQUE CHECK (length(cloudinary_id) BETWEEN 1 AND 255),
  width          integer CHECK (width > 0),
  height         integer CHECK (height > 0),
  size           integer CHECK (size >= 0),
  format         text CHECK (length(format) <= 20),
  caption        text CHECK (length(caption) <= 500),
  "order"        integer NOT NULL DEFAULT 0 CHECK ("order" >= 0),
  is_cover       boolean NOT NULL DEFAULT false,
  created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE activity_photos IS 'Photos of activities (hosted on Cloudinary), ordered, one of them the cover.';
COMMENT ON COLUMN activity_photos.id IS 'Photo key (UUIDv7).';
COMMENT ON COLUMN activity_photos.activity_id IS 'The activity shown.';
COMMENT ON COLUMN activity_photos.url IS 'URL of the full image.';
COMMENT ON COLUMN activity_photos.thumbnail_url IS 'URL of the thumbnail.';
COMMENT ON COLUMN activity_photos.cloudinary_id IS 'Cloudinary public id, unique.';
COMMENT ON COLUMN activity_photos.width IS 'Width in pixels.';
COMMENT ON COLUMN activity_photos.height IS 'Height in pixels.';
COMMENT ON COLUMN activity_photos.size IS 'Size in bytes.';
COMMENT ON COLUMN activity_photos.format IS 'Image format (jpg, png, webp).';
COMMENT ON COLUMN activity_photos.caption IS 'Caption shown under the photo.';
COMMENT ON COLUMN activity_photos."order" IS 'Position in the gallery, ascending.';
COMMENT ON COLUMN activity_photos.is_cover IS 'True for the activity''s cover photo: at most one per activity (unique index); the first photo of an activity becomes it and a deleted cover passes to the next photo (triggers).';
COMMENT ON COLUMN activity_photos.created_at IS 'When the photo was added.';
CREATE INDEX activity_photos_activity_idx ON activity_photos (activity_id, "order");
CREATE UNIQUE INDEX activity_photos_one_cover ON activity_photos (activity_id) WHERE is_cover;
SELECT pg_catalog.pg_extension_config_dump('activity_photos', '');

CREATE TABLE activity_schedules (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  activity_id    uuid NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
  day_of_week    text CHECK (day_of_week = ANY (weekdays())),
  start_time     time NOT NULL,
  end_time       time NOT NULL,
  is_recurring   boolean NOT NULL DEFAULT true,
  specific_date  date,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT activity_schedules_times CHECK (end_time > start_time),
  CONSTRAINT activity_schedules_when CHECK (
    (is_recurring AND day_of_week IS NOT NULL AND specific_date IS NULL)
    OR (NOT is_recurring AND specific_date IS NOT NULL))
);
COMMENT ON TABLE activity_schedules IS 'When activities run: for FIXED activities the time slots (weekly on a day, or on a specific date); for FLEXIBLE ones the opening hours.';
COMMENT ON COLUMN activity_schedules.id IS 'Schedule row key (UUIDv7).';
COMMENT ON COLUMN activity_schedules.activity_id IS 'The activity.';
COMMENT ON COLUMN activity_schedules.day_of_week IS 'MON..SUN for a weekly slot.';
COMMENT ON COLUMN activity_schedules.start_time IS 'Local start time of the slot (opening time for FLEXIBLE).';
COMMENT ON COLUMN activity_schedules.end_time IS 'Local end time, after the start.';
COMMENT ON COLUMN activity_schedules.is_recurring IS 'True for a weekly slot (day_of_week), false for one on specific_date.';
COMMENT ON COLUMN activity_schedules.specific_date IS 'Local date of a one-off slot.';
COMMENT ON COLUMN activity_schedules.created_at IS 'When the slot was added.';
CREATE INDEX activity_schedules_activity_idx ON activity_schedules (activity_id);
SELECT pg_catalog.pg_extension_config_dump('activity_schedules', '');

CREATE SEQUENCE activity_booking_number_seq;
COMMENT ON SEQUENCE activity_booking_number_seq IS 'Numbers of the human-readable activity booking numbers (ACT-2026-000123).';
SELECT pg_catalog.pg_extension_config_dump('activity_booking_number_seq', '');

CREATE TABLE activity_bookings (
  id                   uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  booking_number       text NOT NULL UNIQUE
                         DEFAULT readable_number('ACT-' || to_char(now() AT TIME ZONE 'Asia/Almaty', 'YYYY') || '-',
                                                 nextval('activity_booking_number_seq'))
                         CHECK (booking_number ~ '^ACT-[0-9]{4}-[0-9]{6,12}$'),
  activity_id          uuid NOT NULL REFERENCES activities (id) ON DELETE RESTRICT,
  passenger_id         uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  scheduled_date       date NOT NULL,
  scheduled_time       time,
  participants         integer NOT NULL CHECK (participants BETWEEN 1 AND 10000),
  participant_details  jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(participant_details) = 'array'),
  price_per_person     integer NOT NULL CHECK (price_per_person >= 0),
  total_amount         integer NOT NULL CHECK (total_amount >= 0),
  currency             text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  payment_id           text CHECK (length(payment_id) <= 255),
  payment_status       payment_status NOT NULL DEFAULT 'PENDING',
  status               booking_status NOT NULL DEFAULT 'PENDING',
  cancelled_at         timestamptz,
  cancellation_reason  text CHECK (length(cancellation_reason) <= 1000),
  refund_amount        integer NOT NULL DEFAULT 0 CHECK (refund_amount >= 0),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  confirmed_at         timestamptz,
  completed_at         timestamptz,
  cancelled_by         uuid REFERENCES users (id) ON DELETE SET NULL,
  cancellation_policy  jsonb NOT NULL DEFAULT '{}' CHECK (validate_cancellation_policy(cancellation_policy)),
  CONSTRAINT activity_bookings_refund CHECK (refund_amount <= total_amount)
);
COMMENT ON TABLE activity_bookings IS 'Bookings of activity slots by passengers, with the price and the cancellation policy in force when booked.';
COMMENT ON COLUMN activity_bookings.id IS 'Booking key (UUIDv7).';
COMMENT ON COLUMN activity_bookings.booking_number IS 'Human-readable unique booking number, ACT-2026-000123 (year in Almaty time).';
COMMENT ON COLUMN activity_bookings.activity_id IS 'The activity booked.';
COMMENT ON COLUMN activity_bookings.passenger_id IS 'The customer who booked.';
COMMENT ON COLUMN activity_bookings.scheduled_date IS 'Local date of the slot, in the activity''s zone.';
COMMENT ON COLUMN activity_bookings.scheduled_time IS 'Local start time of the slot.';
COMMENT ON COLUMN activity_bookings.participants IS 'Number of participants.';
COMMENT ON COLUMN activity_bookings.participant_details IS 'Who takes part, a JSON array of {"name", ...}.';
COMMENT ON COLUMN activity_bookings.price_per_person IS 'Price per participant charged (by group tier or the base price), whole tenge.';
COMMENT ON COLUMN activity_bookings.total_amount IS 'Total charged, whole tenge.';
COMMENT ON COLUMN activity_bookings.currency IS 'ISO 4217 currency charged.';
COMMENT ON COLUMN activity_bookings.payment_id IS 'The provider''s payment id (Stripe PaymentIntent).';
COMMENT ON COLUMN activity_bookings.payment_status IS 'State of the payment.';
COMMENT ON COLUMN activity_bookings.status IS 'PENDING, CONFIRMED, COMPLETED, CANCELLED or REFUNDED. PENDING and CONFIRMED bookings hold capacity.';
COMMENT ON COLUMN activity_bookings.cancelled_at IS 'When the booking was cancelled.';
COMMENT ON COLUMN activity_bookings.cancellation_reason IS 'Why it was cancelled.';
COMMENT ON COLUMN activity_bookings.refund_amount IS 'Refund due by the cancellation policy copied onto the booking, never more than total_amount.';
COMMENT ON COLUMN activity_bookings.created_at IS 'When the booking was made.';
COMMENT ON COLUMN activity_bookings.updated_at IS 'When the booking was last changed (kept by trigger).';
COMMENT ON COLUMN activity_bookings.confirmed_at IS 'When the booking was confirmed.';
COMMENT ON COLUMN activity_bookings.completed_at IS 'When the booking was completed.';
COMMENT ON COLUMN activity_bookings.cancelled_by IS 'Who cancelled: the passenger or the owner (or an admin).';
COMMENT ON COLUMN activity_bookings.cancellation_policy IS 'The activity''s cancellation policy when the booking was made; later policy changes never alter it.';
CREATE INDEX activity_bookings_scheduled_date_idx ON activity_bookings (scheduled_date);
CREATE INDEX activity_bookings_slot_idx ON activity_bookings (activity_id, scheduled_date, scheduled_time);
CREATE INDEX activity_bookings_passenger_idx ON activity_bookings (passenger_id, created_at);
CREATE INDEX activity_bookings_pending_idx ON activity_bookings (created_at) WHERE status = 'PENDING';
CREATE INDEX activity_bookings_payment_idx ON activity_bookings (payment_id) WHERE payment_id IS NOT NULL;
CREATE TRIGGER activity_bookings_touch BEFORE UPDATE ON activity_bookings
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('activity_bookings', '');

CREATE TABLE activity_reviews (
  id            uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  activity_id   uuid NOT NULL REFERENCES activities (id) ON DELETE CASCADE,
  booking_id    uuid NOT NULL UNIQUE REFERENCES activity_bookings (id) ON DELETE CASCADE,
  passenger_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  rating        integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
  comment       text CHECK (length(comment) <= 2000),
  photos        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(photos) <= 10),
  created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE activity_reviews IS 'Reviews of activities by the customers of completed bookings, one per booking.';
COMMENT ON COLUMN activity_reviews.id IS 'Review key (UUIDv7).';
COMMENT ON COLUMN activity_reviews.activity_id IS 'The activity reviewed.';
COMMENT ON COLUMN activity_reviews.booking_id IS 'The completed booking the review is about; one review per booking.';
COMMENT ON COLUMN activity_reviews.passenger_id IS 'The customer who wrote it.';
COMMENT ON COLUMN activity_reviews.rating IS 'Stars, 1..5.';
COMMENT ON COLUMN activity_reviews.comment IS 'What the customer wrote.';
COMMENT ON COLUMN activity_reviews.photos IS 'URLs of photos, at most 10.';
COMMENT ON COLUMN activity_reviews.created_at IS 'When the review was written.';
CREATE INDEX activity_reviews_activity_idx ON activity_reviews (activity_id, created_at);
SELECT pg_catalog.pg_extension_config_dump('activity_reviews', '');
-- ===========================================================================
-- admin: audit trail, documents, uploads, analytics, webhooks, notifications
-- ===========================================================================

CREATE TABLE admin_actions (
  id           uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  admin_id     uuid REFERENCES users (id) ON DELETE RESTRICT,
  action_type  text NOT NULL CHECK (action_type ~ '^[A-Z][A-Z0-9_]{1,63}$'),
  target_type  text NOT NULL CHECK (target_type ~ '^[a-z][a-z0-9_]{1,63}$'),
  target_id    text CHECK (length(target_id) <= 200),
  details      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
  ip_address   inet,
  user_agent   text CHECK (length(user_agent) <= 1024),
  created_at   timestamptz NOT NULL DEFAULT now(),
  seq          bigint CHECK (seq >= 1),
  prev_hash    bytea CHECK (length(prev_hash) = 32),
  row_hash     bytea CHECK (length(row_hash) = 32)
);
COMMENT ON TABLE admin_actions IS 'Audit trail of everything an admin did (approvals, suspensions, verifications, moderation, payout changes, refunds), written in the same transaction as the action.';
COMMENT ON COLUMN admin_actions.id IS 'Audit row key (UUIDv7).';
COMMENT ON COLUMN admin_actions.admin_id IS 'The admin who acted; NULL for a trusted backend or DBA acting without a user.';
COMMENT ON COLUMN admin_actions.action_type IS 'What was done, upper snake case (DRIVER_APPROVED, MESSAGE_HIDDEN, ...).';
COMMENT ON COLUMN admin_actions.target_type IS 'Kind of object acted on, lower snake case (driver, activity, message, payout, ...).';
COMMENT ON COLUMN admin_actions.target_id IS 'Key of the object acted on.';
COMMENT ON COLUMN admin_actions.details IS 'What changed, a JSON object (before/after).';
COMMENT ON COLUMN admin_actions.ip_address IS 'IP address of the admin''s request, when known.';
COMMENT ON COLUMN admin_actions.user_agent IS 'User agent of the admin''s request, when known.';
COMMENT ON COLUMN admin_actions.created_at IS 'When the action was taken.';
COMMENT ON COLUMN admin_actions.seq IS 'Position in the audit hash chain, 1, 2, 3, ... without gaps; set by trigger.';
COMMENT ON COLUMN admin_actions.prev_hash IS 'row_hash of the row at seq - 1 (32 zero bytes for the first row); set by trigger.';
COMMENT ON COLUMN admin_actions.row_hash IS 'Keyed BLAKE2b-256 (key steppergo.audit_key) over seq, the row''s content and prev_hash; set by trigger, checked by verify_audit_chain().';
CREATE UNIQUE INDEX admin_actions_seq_idx ON admin_actions (seq);
CREATE INDEX admin_actions_target_idx ON admin_actions (target_type, target_id);
CREATE INDEX admin_actions_admin_idx ON admin_actions (admin_id, created_at);
SELECT pg_catalog.pg_extension_config_dump('admin_actions', '');

CREATE TABLE document_verifications (
  id                uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  driver_id         uuid REFERENCES drivers (id) ON DELETE CASCADE,
  document_type     text NOT NULL CHECK (document_type IN ('LICENSE', 'INSURANCE', 'REGISTRATION', 'ID_CARD', 'PASSPORT',
                                                           'VEHICLE_PHOTO', 'BUSINESS_LICENSE', 'TAX_CERTIFICATE', 'OTHER')),
  document_number   text CHECK (length(document_number) <= 100),
  document_url      text NOT NULL CHECK (is_http_url(document_url)),
  status            text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'VERIFIED', 'REJECTED', 'EXPIRED')),
  uploaded_at       timestamptz NOT NULL DEFAULT now(),
  verified_at       timestamptz,
  verified_by       uuid REFERENCES users (id) ON DELETE SET NULL,
  rejection_reason  text CHECK (length(rejection_reason) <= 1000),
  expiry_date       timestamptz,
  metadata          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  created_at        timestamptz NOT NULL DEFAULT now(),
  expired_at        timestamptz,
  CONSTRAINT document_verifications_expiry CHECK (expiry_date IS NULL OR expiry_date > created_at),
  CONSTRAINT document_verifications_rejection CHECK (status <> 'REJECTED' OR rejection_reason IS NOT NULL)
);
COMMENT ON TABLE document_verifications IS 'Documents users upload for verification (driving licence, insurance, registration, business papers): PENDING, then VERIFIED or REJECTED by an admin, EXPIRED when past their expiry.';
COMMENT ON COLUMN document_verifications.id IS 'Document key (UUIDv7).';
COMMENT ON COLUMN document_verifications.user_id IS 'The user the document belongs to.';
COMMENT ON COLUMN document_verifications.driver_id IS 'The driver profile the document supports, for driver documents.';
COMMENT ON COLUMN document_verifications.document_type IS 'LICENSE, INSURANCE, REGISTRATION (mandatory for drivers), ID_CARD, PASSPORT, VEHICLE_PHOTO, BUSINESS_LICENSE, TAX_CERTIFICATE, OTHER.';
COMMENT ON COLUMN document_verifications.document_number IS 'Number printed on the document.';
COMMENT ON COLUMN document_verifications.document_url IS 'Where the scanned document is stored.';
COMMENT ON COLUMN document_verifications.status IS 'PENDING, VERIFIED, REJECTED (with a reason) or EXPIRED.';
COMMENT ON COLUMN document_verifications.uploaded_at IS 'When the document was uploaded.';
COMMENT ON COLUMN document_verifications.verified_at IS 'When an admin decided.';
COMMENT ON COLUMN document_verifications.verified_by IS 'The admin who decided.';
COMMENT ON COLUMN document_verifications.rejection_reason IS 'Why it was rejected (required for REJECTED).';
COMMENT ON COLUMN document_verifications.expiry_date IS 'When the document expires, after its creation.';
COMMENT ON COLUMN document_verifications.metadata IS 'Further data, a JSON object.';
COMMENT ON COLUMN document_verifications.created_at IS 'When the row was created.';
COMMENT ON COLUMN document_verifications.expired_at IS 'When the expiry job marked the document EXPIRED.';
CREATE INDEX document_verifications_driver_idx ON document_verifications (driver_id, document_type);
CREATE INDEX document_verifications_user_idx ON document_verifications (user_id);
CREATE INDEX document_verifications_expiry_idx ON document_verifications (expiry_date) WHERE status IN ('PENDING', 'VERIFIED');
SELECT pg_catalog.pg_extension_config_dump('document_verifications', '');

CREATE TABLE file_uploads (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  original_name  text NOT NULL CHECK (length(original_name) BETWEEN 1 AND 255),
  stored_name    text NOT NULL CHECK (length(stored_name) BETWEEN 1 AND 255),
  mime_type      text NOT NULL CHECK (mime_type ~ '^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$'),
  size_bytes     bigint NOT NULL CHECK (size_bytes >= 0),
  s3_bucket      text NOT NULL CHECK (s3_bucket ~ '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$'),
  s3_key         text NOT NULL CHECK (length(s3_key) BETWEEN 1 AND 1024),
  url            text CHECK (is_http_url(url)),
  purpose        text NOT NULL CHECK (purpose ~ '^[A-Z][A-Z0-9_]{1,63}$'),
  metadata       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  created_at     timestamptz NOT NULL DEFAULT now(),
  deleted_at     timestamptz,
  CONSTRAINT file_uploads_object UNIQUE (s3_bucket, s3_key)
);
COMMENT ON TABLE file_uploads IS 'Files users uploaded to S3 (documents, chat images and files, avatars): where the object is, what it is, and soft deletion.';
COMMENT ON COLUMN file_uploads.id IS 'Upload key (UUIDv7); chat messages refer to it.';
COMMENT ON COLUMN file_uploads.user_id IS 'The user who uploaded it.';
COMMENT ON COLUMN file_uploads.original_name IS 'File name on the user''s device.';
COMMENT ON COLUMN file_uploads.stored_name IS 'File name given in storage.';
COMMENT ON COLUMN file_uploads.mime_type IS 'MIME type, lower case (image/jpeg, application/pdf).';
COMMENT ON COLUMN file_uploads.size_bytes IS 'Size in bytes; limits depend on the purpose.';
COMMENT ON COLUMN file_uploads.s3_bucket IS 'S3 bucket holding the object.';
COMMENT ON COLUMN file_uploads.s3_key IS 'S3 key of the object; (bucket, key) is unique.';
COMMENT ON COLUMN file_uploads.url IS 'Public or signed URL of the object.';
COMMENT ON COLUMN file_uploads.purpose IS 'What the file is for (DRIVER_DOCUMENT, CHAT_IMAGE, CHAT_FILE, AVATAR, ...).';
COMMENT ON COLUMN file_uploads.metadata IS 'Further data, a JSON object.';
COMMENT ON COLUMN file_uploads.created_at IS 'When the file was uploaded.';
COMMENT ON COLUMN file_uploads.deleted_at IS 'When the file was soft-deleted; deleted files disappear from every read function and are purged after a retention period.';
CREATE INDEX file_uploads_user_idx ON file_uploads (user_id) WHERE deleted_at IS NULL;
CREATE INDEX file_uploads_deleted_idx ON file_uploads (deleted_at) WHERE deleted_at IS NOT NULL;
SELECT pg_catalog.pg_extension_config_dump('file_uploads', '');

CREATE TABLE analytics_events (
  id          uuid NOT NULL DEFAULT uuid_generate_v7(),
  event_name  text NOT NULL CHECK (event_name ~ '^[a-z][a-z0-9_.:-]{0,99}$'),
  user_id     uuid REFERENCES users (id) ON DELETE SET NULL,
  metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  session_id  text CHECK (length(session_id) <= 200),
  ip_address  inet,
  user_agent  text CHECK (length(user_agent) <= 1024),
  created_at  timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (id);
COMMENT ON TABLE analytics_events IS 'Product analytics events (screens, searches, funnel steps) from the apps. Partitioned by month on the UUIDv7 id (which embeds the time of recording): maintain_analytics_partitions() creates partitions ahead and drops those past the retention; rows outside every monthly partition land in analytics_events_default.';
COMMENT ON COLUMN analytics_events.id IS 'Event key (UUIDv7), the partition key; each partition has PRIMARY KEY (id) and the partitions'' id ranges are disjoint, so it is unique over the table.';
COMMENT ON COLUMN analytics_events.event_name IS 'Event name, lower case (app_open, trip_search, booking_paid, ...).';
COMMENT ON COLUMN analytics_events.user_id IS 'The user, when known.';
COMMENT ON COLUMN analytics_events.metadata IS 'Event properties, a JSON object.';
COMMENT ON COLUMN analytics_events.session_id IS 'The app''s session id.';
COMMENT ON COLUMN analytics_events.ip_address IS 'Client IP address.';
COMMENT ON COLUMN analytics_events.user_agent IS 'Client user agent.';
COMMENT ON COLUMN analytics_events.created_at IS 'When the event happened.';
-- Keys and indexes are per partition, not on the parent: an index on the
-- parent would be re-created on every partition that pg_restore attaches,
-- before the dump's own index definitions, and the restore would fail.  The
-- partitions' ranges of id are disjoint, so PRIMARY KEY (id) on each of them
-- makes id unique over the whole table.
CREATE TABLE analytics_events_default PARTITION OF analytics_events (PRIMARY KEY (id)) DEFAULT;
CREATE INDEX analytics_events_default_created_idx ON analytics_events_default (created_at);
CREATE INDEX analytics_events_default_name_idx ON analytics_events_default (event_name, created_at);
COMMENT ON TABLE analytics_events_default IS 'Default partition of analytics_events: events whose id falls in no monthly partition (before the partition job first ran, or backfilled with old ids). maintain_analytics_partitions() moves its rows into a monthly partition when it creates one.';
-- The parent holds no rows itself; the default partition is part of the
-- extension and dumped with its rows.  Monthly partitions are created at run
-- time by maintain_analytics_partitions(): they are not extension members, so
-- pg_dump dumps them, rows included, like any table.
SELECT pg_catalog.pg_extension_config_dump('analytics_events', '');   -- (pg_dump takes the rows from the partitions)
SELECT pg_catalog.pg_extension_config_dump('analytics_events_default', '');

CREATE TABLE webhook_logs (
  id                uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  source            text NOT NULL CHECK (source ~ '^[a-z][a-z0-9_-]{0,49}$'),
  event_type        text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 200),
  event_id          text NOT NULL UNIQUE CHECK (length(event_id) BETWEEN 1 AND 255),
  payload           jsonb NOT NULL,
  processed         boolean NOT NULL DEFAULT false,
  processing_error  text CHECK (length(processing_error) <= 4000),
  created_at        timestamptz NOT NULL DEFAULT now(),
  processed_at      timestamptz,
  attempts          integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  CONSTRAINT webhook_logs_processed_at CHECK (processed = (processed_at IS NOT NULL))
);
COMMENT ON TABLE webhook_logs IS 'Every webhook event received (Stripe and others), unique by event id, so that a redelivery is recognised and nothing is applied twice or lost.';
COMMENT ON COLUMN webhook_logs.id IS 'Row key (UUIDv7).';
COMMENT ON COLUMN webhook_logs.source IS 'Who sent it (stripe, ...).';
COMMENT ON COLUMN webhook_logs.event_type IS 'Event type (payment_intent.succeeded, charge.refunded, ...).';
COMMENT ON COLUMN webhook_logs.event_id IS 'The sender''s event id (evt_...), unique: a redelivery is recorded once.';
COMMENT ON COLUMN webhook_logs.payload IS 'The event as received.';
COMMENT ON COLUMN webhook_logs.processed IS 'True once the event was applied (or deliberately ignored).';
COMMENT ON COLUMN webhook_logs.processing_error IS 'Why the event could not be applied yet; it is retried.';
COMMENT ON COLUMN webhook_logs.created_at IS 'When the event arrived.';
COMMENT ON COLUMN webhook_logs.processed_at IS 'When it was applied; set exactly when processed is true.';
COMMENT ON COLUMN webhook_logs.attempts IS 'How many times applying it was tried.';
CREATE INDEX webhook_logs_unprocessed_idx ON webhook_logs (created_at) WHERE NOT processed;
SELECT pg_catalog.pg_extension_config_dump('webhook_logs', '');

CREATE TABLE notifications (
  id          uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
  type        text NOT NULL CHECK (type ~ '^[A-Z][A-Z0-9_]{1,63}$'),
  channel     delivery_channel NOT NULL,
  recipient   text NOT NULL CHECK (length(recipient) BETWEEN 1 AND 320),
  subject     text CHECK (length(subject) <= 500),
  body        text NOT NULL CHECK (length(body) <= 10000),
  status      text NOT NULL DEFAULT 'PENDING'
                CHECK (status IN ('PENDING', 'SENDING', 'SENT', 'DELIVERED', 'READ', 'FAILED', 'CANCELLED')),
  sent_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  payload          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
  priority         smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -100 AND 100),
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     integer CHECK (max_attempts BETWEEN 1 AND 100),
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz,
  last_error       text CHECK (length(last_error) <= 2000),
  claimed_by       text CHECK (length(claimed_by) <= 200),
  claimed_at       timestamptz,
  fallback_channels delivery_channel[] NOT NULL DEFAULT '{}',
  fallback_of      uuid,
  provider_message_id text CHECK (length(provider_message_id) <= 255),
  CONSTRAINT notifications_claimed CHECK (status <> 'SENDING' OR (claimed_by IS NOT NULL AND claimed_at IS NOT NULL))
);
COMMENT ON TABLE notifications IS 'Outgoing notifications (push, WhatsApp, SMS, e-mail): the outbox that senders outside the database claim, send and report on.';
COMMENT ON COLUMN notifications.id IS 'Notification key (UUIDv7).';
COMMENT ON COLUMN notifications.user_id IS 'The user notified, when it is a user.';
COMMENT ON COLUMN notifications.type IS 'What it is about, upper snake case (TRIP_OFFER, BOOKING_CONFIRMED, NEW_MESSAGE, ...).';
COMMENT ON COLUMN notifications.channel IS 'PUSH, WHATSAPP, SMS or EMAIL.';
COMMENT ON COLUMN notifications.recipient IS 'Address on the channel: device token, phone or e-mail.';
COMMENT ON COLUMN notifications.subject IS 'Subject line (e-mail) or title (push).';
COMMENT ON COLUMN notifications.body IS 'The message text.';
COMMENT ON COLUMN notifications.status IS 'PENDING (queued), SENDING (claimed by a sender), SENT, DELIVERED, READ, FAILED or CANCELLED.';
COMMENT ON COLUMN notifications.sent_at IS 'When a sender handed it to the channel.';
COMMENT ON COLUMN notifications.created_at IS 'When it was queued.';
COMMENT ON COLUMN notifications.updated_at IS 'When it last changed (kept by trigger).';
COMMENT ON COLUMN notifications.payload IS 'Structured data for the sender (template variables, deep link, push data), a JSON object.';
COMMENT ON COLUMN notifications.priority IS 'Higher is claimed first (-100..100); time-critical types get 10.';
COMMENT ON COLUMN notifications.attempts IS 'How many times a sender claimed it.';
COMMENT ON COLUMN notifications.max_attempts IS 'Attempts on this channel before it fails for good; NULL means steppergo.notification_max_attempts.';
COMMENT ON COLUMN notifications.next_attempt_at IS 'Not claimed before this instant (exponential backoff after a failure).';
COMMENT ON COLUMN notifications.expires_at IS 'Not worth sending after this instant (a trip offer''s deadline); then CANCELLED by the sweep job.';
COMMENT ON COLUMN notifications.last_error IS 'What the channel said about the last failed attempt.';
COMMENT ON COLUMN notifications.claimed_by IS 'The sender that claimed it (SENDING) or last claimed it.';
COMMENT ON COLUMN notifications.claimed_at IS 'When it was last claimed.';
COMMENT ON COLUMN notifications.fallback_channels IS 'Channels to try next, in order, when this one fails for good (WHATSAPP, SMS, EMAIL for credentials; SMS after PUSH for time-critical types).';
COMMENT ON COLUMN notifications.fallback_of IS 'The failed notification this one falls back from (no foreign key, so that pg_restore may load the rows in any order).';
COMMENT ON COLUMN notifications.provider_message_id IS 'The channel provider''s message id reported with SENT.';
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at);
CREATE INDEX notifications_queue_idx ON notifications (priority DESC, next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX notifications_sending_idx ON notifications (claimed_at) WHERE status = 'SENDING';
CREATE INDEX notifications_fallback_idx ON notifications (fallback_of) WHERE fallback_of IS NOT NULL;
CREATE TRIGGER notifications_touch BEFORE UPDATE ON notifications
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('notifications', '');

-- Credential deliveries go through the notification outbox: one row per
-- channel attempt, linked to the notification that carried it.
ALTER TABLE driver_credential_deliveries
  ADD COLUMN notification_id uuid REFERENCES notifications (id) ON DELETE SET NULL;
COMMENT ON COLUMN driver_credential_deliveries.notification_id IS 'The outbox notification that carried this attempt.';
CREATE INDEX driver_credential_deliveries_notification_idx ON driver_credential_deliveries (notification_id)
  WHERE notification_id IS NOT NULL;
