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
-- ===========================================================================
-- core (release 0.2): who is calling, argument checks, audit
--
-- Every public function of every domain finds its caller here.  Behind
-- PostgREST each request runs as an API role with the JWT's claims in the
-- transaction-local setting request.jwt.claims; a trusted backend or a DBA in
-- psql calls without claims.  See src/core/README.md.
-- ===========================================================================

CREATE FUNCTION current_claims() RETURNS jsonb
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  raw text := pg_catalog.current_setting('request.jwt.claims', true);
  claims jsonb;
BEGIN
  IF raw IS NULL OR raw = '' THEN
    RETURN NULL;
  END IF;
  BEGIN
    claims := raw::jsonb;
  EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'malformed request.jwt.claims';
  END;
  IF jsonb_typeof(claims) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'malformed request.jwt.claims';
  END IF;
  -- PostgREST sets {"role": "anon"} (or {}) for requests without a token
  IF claims = '{}'::jsonb THEN
    RETURN NULL;
  END IF;
  RETURN claims;
END
$$;
COMMENT ON FUNCTION current_claims() IS
  'The JWT claims of the current request (PostgREST''s request.jwt.claims) as a JSON object, or NULL when none are set. Malformed claims fail with PT401.';

CREATE FUNCTION current_user_id() RETURNS uuid
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  sub text := current_claims() ->> 'sub';
BEGIN
  IF sub IS NULL THEN
    RETURN NULL;
  END IF;
  IF sub !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s subject is not a user id';
  END IF;
  RETURN sub::uuid;
END
$$;
COMMENT ON FUNCTION current_user_id() IS
  'The user id (claim sub) of the current request, or NULL for an anonymous request or a call without claims.';

CREATE FUNCTION current_app_role() RETURNS user_role
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  r text := current_claims() ->> 'app_role';
BEGIN
  IF r IS NULL THEN
    RETURN NULL;
  END IF;
  IF NOT r = ANY (enum_range(NULL::user_role)::text[]) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s app_role is not a user role';
  END IF;
  RETURN r::user_role;
END
$$;
COMMENT ON FUNCTION current_app_role() IS
  'The marketplace role (claim app_role: PASSENGER, DRIVER, ADMIN, ACTIVITY_OWNER) of the current request, or NULL without claims.';

CREATE FUNCTION current_tenant_id() RETURNS uuid
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  t text := current_claims() ->> 'tenant_id';
BEGIN
  IF t IS NULL THEN
    RETURN NULL;
  END IF;
  IF t !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s tenant_id is not a tenant id';
  END IF;
  RETURN t::uuid;
END
$$;
COMMENT ON FUNCTION current_tenant_id() IS
  'The tenant (claim tenant_id) of the current request, or NULL when the caller belongs to no tenant.';

CREATE FUNCTION invoking_role() RETURNS name
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN CASE WHEN pg_catalog.current_setting('role') = 'none' THEN session_user
              ELSE pg_catalog.current_setting('role')::name END;
COMMENT ON FUNCTION invoking_role() IS
  'The role the caller acts as, also inside SECURITY DEFINER functions: the role set by SET ROLE (what PostgREST does per request), else the session user.';

CREATE FUNCTION is_trusted_caller() RETURNS boolean
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  me name := invoking_role();
  -- pg_has_role() counts a superuser a member of every role; a superuser is
  -- never an API role
  api boolean := pg_catalog.to_regrole('steppergo_api') IS NOT NULL
                 AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = me), false)
                 AND pg_catalog.pg_has_role(me, 'steppergo_api', 'MEMBER');
BEGIN
  -- The service role (setup_api_roles) is a trusted backend, token or not.
  IF api AND pg_catalog.to_regrole('steppergo_service') IS NOT NULL
     AND pg_catalog.pg_has_role(me, 'steppergo_service', 'MEMBER') THEN
    RETURN true;
  END IF;
  -- A request carrying claims is never trusted otherwise: it speaks for one user.
  IF current_claims() IS NOT NULL THEN
    RETURN false;
  END IF;
  -- Other members of steppergo_api (the PostgREST roles, see
  -- setup_api_roles) without claims are anonymous, never trusted.
  RETURN NOT api;
END
$$;
COMMENT ON FUNCTION is_trusted_caller() IS
  'True for a caller that acts for the platform: the service API role (trusted backends through PostgREST), or a caller without JWT claims that is not an API role (a DBA in psql, a backend connecting as its own role, a pg_cron job). Such callers pass every per-user check.';

CREATE FUNCTION assert_acting_as(user_id uuid) RETURNS void
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  IF is_trusted_caller() THEN
    RETURN;
  END IF;
  me := current_user_id();
  IF me IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  IF me IS DISTINCT FROM user_id AND current_app_role() IS DISTINCT FROM 'ADMIN' THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not allowed to act for another user';
  END IF;
END
$$;
COMMENT ON FUNCTION assert_acting_as(uuid) IS
  'Raises 42501 unless the caller is the given user, an ADMIN, or a trusted caller; PT401 for an anonymous request.';

CREATE FUNCTION assert_app_role(VARIADIC allowed user_role[]) RETURNS void
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  r user_role;
BEGIN
  IF is_trusted_caller() THEN
    RETURN;
  END IF;
  IF current_user_id() IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  r := current_app_role();
  IF r IS NULL OR NOT r = ANY (allowed) THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('this operation needs the role %s', array_to_string(allowed, ' or ')),
      DETAIL = format('the caller''s role is %s', coalesce(r::text, 'unknown'));
  END IF;
END
$$;
COMMENT ON FUNCTION assert_app_role(user_role[]) IS
  'Raises 42501 unless the caller''s app_role is one of the given roles (trusted callers pass); PT401 for an anonymous request.';

CREATE FUNCTION require_arg(value anyelement, name text) RETURNS anyelement
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF value IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('%s must not be null', name);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION require_arg(anyelement, text) IS
  'Returns the value, or raises 22004 (null value not allowed) naming the argument when it is NULL.';

CREATE FUNCTION request_header(name text) RETURNS text
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  raw text := pg_catalog.current_setting('request.headers', true);
BEGIN
  IF raw IS NULL OR raw = '' THEN
    RETURN NULL;
  END IF;
  RETURN raw::jsonb ->> lower(name);
EXCEPTION WHEN invalid_text_representation THEN
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION request_header(text) IS
  'A header of the current HTTP request as PostgREST passes them (request.headers, lower-case names), or NULL.';

CREATE FUNCTION request_ip() RETURNS inet
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  fwd text := split_part(coalesce(request_header('x-forwarded-for'), request_header('x-real-ip'), ''), ',', 1);
BEGIN
  IF btrim(fwd) <> '' THEN
    RETURN btrim(fwd)::inet;
  END IF;
  RETURN inet_client_addr();
EXCEPTION WHEN invalid_text_representation THEN
  RETURN inet_client_addr();
END
$$;
COMMENT ON FUNCTION request_ip() IS
  'The client IP of the current request: the first X-Forwarded-For (or X-Real-IP) address PostgREST passes, else the connection''s address.';

CREATE FUNCTION log_admin_action(action_type text, target_type text, target_id text,
                                 details jsonb DEFAULT '{}', admin_id uuid DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  new_id uuid;
BEGIN
  INSERT INTO admin_actions (admin_id, action_type, target_type, target_id, details, ip_address, user_agent)
  VALUES (coalesce(admin_id, current_user_id()), action_type, target_type, target_id,
          coalesce(details, '{}'), request_ip(), request_header('user-agent'))
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION log_admin_action(text, text, text, jsonb, uuid) IS
  'Writes one admin_actions row in the caller''s transaction: the acting admin (argument, else the request''s user), action, target, details (before/after JSON), IP and user agent from the request headers. Returns its id.';

-- ---------------------------------------------------------------------------
-- pg_cron jobs.  Each domain registers its jobs as rows of job_definitions
-- in its own SQL; schedule_jobs() hands them all to pg_cron, and
-- unschedule_jobs() takes them back.  pg_cron is optional: the extension
-- installs without it, only these two functions need it.
-- ---------------------------------------------------------------------------
CREATE TABLE job_definitions (
  name         text PRIMARY KEY CHECK (name ~ '^steppergo_[a-z0-9_]+$'),
  schedule     text NOT NULL,
  command      text NOT NULL,
  description  text NOT NULL
);
COMMENT ON TABLE job_definitions IS
  'The pg_cron jobs of the extension, one row each, installed by the extension''s own scripts (not user data). schedule_jobs() registers them with pg_cron under their name; to change a schedule afterwards use cron.alter_job or cron.schedule with the same name.';
COMMENT ON COLUMN job_definitions.name IS 'pg_cron job name; every name starts with steppergo_ so the extension never touches other jobs.';
COMMENT ON COLUMN job_definitions.schedule IS 'Cron schedule in pg_cron syntax. pg_cron 1.4 evaluates schedules in UTC.';
COMMENT ON COLUMN job_definitions.command IS 'SQL the job runs, in the database named by cron.database_name.';
COMMENT ON COLUMN job_definitions.description IS 'What the job does and why it runs at that schedule.';

CREATE FUNCTION pg_cron_schema() RETURNS name
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  -- pg_cron 1.4 is installed "in" public but keeps its functions in schema
  -- cron: ask where its schedule() function lives
  RETURN (SELECT n.nspname FROM pg_catalog.pg_depend d
            JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_cron'
            JOIN pg_catalog.pg_proc p ON p.oid = d.objid
            JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
           WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e' AND p.proname = 'schedule'
           LIMIT 1);
COMMENT ON FUNCTION pg_cron_schema() IS 'The schema pg_cron is installed in (cron), or NULL when pg_cron is not installed in this database.';

CREATE FUNCTION schedule_jobs() RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  cron name := pg_cron_schema();
  j record;
BEGIN
  IF cron IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = 'pg_cron is not installed in this database',
      HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and CREATE EXTENSION pg_cron.';
  END IF;
  FOR j IN SELECT * FROM job_definitions ORDER BY name LOOP
    -- cron.schedule(name, ...) replaces a job of the same name: calling twice is harmless
    EXECUTE format('SELECT %I.schedule($1, $2, $3)', cron) USING j.name, j.schedule, j.command;
  END LOOP;
END
$$;
COMMENT ON FUNCTION schedule_jobs() IS
  'Registers every job of job_definitions with pg_cron (by name, replacing a job of the same name, so calling it twice is harmless). Raises 55000 when pg_cron is not installed in this database.';

CREATE FUNCTION unschedule_jobs() RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  cron name := pg_cron_schema();
BEGIN
  IF cron IS NULL THEN
    RETURN;
  END IF;
  EXECUTE format('SELECT %1$I.unschedule(jobid) FROM %1$I.job WHERE jobname LIKE ''steppergo\_%%''', cron);
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS
  'Removes every pg_cron job of the extension (names starting with steppergo_); harmless when there are none or pg_cron is absent.';

-- DROP EXTENSION steppergo must not leave jobs behind that call functions
-- that no longer exist.  An event trigger cannot see which extension a DROP
-- names before it runs, so it looks for the word in the statement; when the
-- DROP fails, the unscheduling rolls back with it.
CREATE FUNCTION on_drop_unschedule_jobs() RETURNS event_trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF pg_catalog.current_query() ~* '\msteppergo\M' THEN
    PERFORM unschedule_jobs();
  END IF;
END
$$;
COMMENT ON FUNCTION on_drop_unschedule_jobs() IS
  'Event trigger function: before DROP EXTENSION or DROP SCHEMA naming steppergo, removes the extension''s pg_cron jobs.';
CREATE EVENT TRIGGER steppergo_drop_unschedule_jobs ON ddl_command_start
  WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
  EXECUTE FUNCTION on_drop_unschedule_jobs();
COMMENT ON EVENT TRIGGER steppergo_drop_unschedule_jobs IS
  'Removes the extension''s pg_cron jobs when the extension (or its schema) is dropped.';

-- ---------------------------------------------------------------------------
-- Shared business helpers used by several domains
-- ---------------------------------------------------------------------------
CREATE FUNCTION platform_rate(tenant_id uuid DEFAULT NULL) RETURNS numeric
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN coalesce((SELECT t.platform_rate FROM tenants t WHERE t.id = platform_rate.tenant_id), 0.15);
COMMENT ON FUNCTION platform_rate(uuid) IS
  'The platform fee rate for a tenant''s trips: the tenant''s platform_rate when set, else 0.15 (the 85/15 split). NULL tenant means the platform''s own trips.';

CREATE FUNCTION set_driver_availability(driver_id uuid, new_availability driver_availability,
                                        reason text DEFAULT NULL, triggered_by text DEFAULT 'system')
  RETURNS driver_availability
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  prev driver_availability;
BEGIN
  PERFORM require_arg(driver_id, 'driver_id');
  PERFORM require_arg(new_availability, 'new_availability');
  IF triggered_by IS NULL OR triggered_by NOT IN ('driver', 'system', 'admin') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'triggered_by must be driver, system or admin';
  END IF;
  SELECT d.availability INTO prev FROM drivers d WHERE d.id = set_driver_availability.driver_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
      DETAIL = format('no driver with id %s', set_driver_availability.driver_id);
  END IF;
  IF prev IS DISTINCT FROM new_availability THEN
    UPDATE drivers d SET availability = new_availability WHERE d.id = set_driver_availability.driver_id;
    INSERT INTO driver_availability_history (driver_id, previous_status, new_status, change_reason, triggered_by)
    VALUES (set_driver_availability.driver_id, prev, new_availability, left(reason, 500), set_driver_availability.triggered_by);
  END IF;
  RETURN prev;
END
$$;
COMMENT ON FUNCTION set_driver_availability(uuid, driver_availability, text, text) IS
  'Internal: moves a driver to another availability and writes the driver_availability_history row (reason, triggered_by driver/system/admin) in the same transaction; does nothing when unchanged. Returns the previous availability. The one way every domain changes availability.';

-- ---------------------------------------------------------------------------
-- The API surface.  Each domain declares which of its functions the API
-- roles may call (src/security grants them when it sets up the roles):
--   anon           anyone, also without a token (register, login, ...)
--   authenticated  a logged-in user; the function checks what the user may do
--   service        trusted backends only (webhooks, jobs, outbox senders)
-- Functions not listed are internal: no API role may call them.
-- ---------------------------------------------------------------------------
CREATE TABLE api_functions (
  signature  text PRIMARY KEY,
  audience   text NOT NULL CHECK (audience IN ('anon', 'authenticated', 'service'))
);
COMMENT ON TABLE api_functions IS
  'The functions the API roles may call, by signature, and who may call them (anon, authenticated, service); filled by the extension''s scripts, read by the role setup. Not user data.';
COMMENT ON COLUMN api_functions.signature IS 'Function signature: name and argument types, without schema (book_seats(uuid, uuid, integer, jsonb, payment_method_type)); steppergo.<signature> is its regprocedure.';
COMMENT ON COLUMN api_functions.audience IS 'anon (also without a token; implies authenticated and service), authenticated (logged-in users; implies service) or service (trusted backends).';

CREATE FUNCTION api_expose(fn regprocedure, audience text) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  sig text;
BEGIN
  -- store the signature without the schema, so it survives dump and restore
  SELECT p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')'
    INTO sig FROM pg_catalog.pg_proc p WHERE p.oid = fn;
  INSERT INTO api_functions (signature, audience) VALUES (sig, audience)
  ON CONFLICT (signature) DO UPDATE SET audience = EXCLUDED.audience;
END
$$;
COMMENT ON FUNCTION api_expose(regprocedure, text) IS
  'Declares a function part of the API for an audience (anon, authenticated, service); used by the extension''s scripts.';
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
-- ===========================================================================
-- drivers (release 0.2): onboarding, vehicles, approval, availability,
-- schedules, live location (C) and auto-offline.  See src/drivers/README.md.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- approval_status mirrors status, whoever writes the row
-- ---------------------------------------------------------------------------
CREATE FUNCTION drivers_mirror_approval_status() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  NEW.approval_status := NEW.status::text;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION drivers_mirror_approval_status() IS
  'Trigger function: keeps drivers.approval_status (the earlier application''s text column) equal to drivers.status on every insert and on every update that names either column.';
CREATE TRIGGER drivers_mirror_approval_status BEFORE INSERT OR UPDATE OF status, approval_status ON drivers
  FOR EACH ROW EXECUTE FUNCTION drivers_mirror_approval_status();
COMMENT ON TRIGGER drivers_mirror_approval_status ON drivers IS
  'Keeps approval_status equal to status (status is the source of truth).';
-- rows written under release 0.1 (before the trigger existed)
UPDATE drivers SET approval_status = status::text WHERE approval_status IS DISTINCT FROM status::text;

-- ---------------------------------------------------------------------------
-- internal helpers
-- ---------------------------------------------------------------------------
CREATE FUNCTION driver_for_update(driver_id uuid) RETURNS drivers
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers;
BEGIN
  PERFORM require_arg(driver_id, 'driver_id');
  SELECT * INTO d FROM drivers x WHERE x.id = driver_for_update.driver_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
      DETAIL = format('no driver with id %s', driver_for_update.driver_id);
  END IF;
  RETURN d;
END
$$;
COMMENT ON FUNCTION driver_for_update(uuid) IS
  'Internal: the driver row, locked FOR UPDATE (serialises every change of one driver); 22004 for NULL, PT404 when unknown.';

CREATE FUNCTION driver_check_text(value text, name text, max_len integer, required boolean DEFAULT false)
  RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF value IS NULL THEN
    IF required THEN
      RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('%s must not be null', name);
    END IF;
    RETURN NULL;
  END IF;
  value := btrim(value);
  IF required AND value = '' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must not be empty', name);
  END IF;
  IF length(value) > max_len THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s is too long', name),
      DETAIL = format('%s characters, at most %s', length(value), max_len);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION driver_check_text(text, text, integer, boolean) IS
  'Internal: trims a text argument and checks its length (22023) and presence (22004 when required and NULL).';

CREATE FUNCTION driver_check_range(value integer, name text, lo integer, hi integer) RETURNS integer
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF value IS NOT NULL AND (value < lo OR value > hi) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must be between %s and %s', name, lo, hi),
      DETAIL = format('got %s', value);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION driver_check_range(integer, text, integer, integer) IS
  'Internal: raises 22023 when an integer argument lies outside lo..hi; NULL passes.';

CREATE FUNCTION driver_check_languages(languages text[]) RETURNS text[]
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF languages IS NULL THEN
    RETURN NULL;
  END IF;
  IF cardinality(languages) > 20 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'languages has more than 20 entries';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(languages) l WHERE l IS NULL OR l !~ '^[a-z]{2,3}$') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'languages must be ISO 639 codes',
      DETAIL = 'lower-case two- or three-letter codes such as kk, ru, en';
  END IF;
  RETURN ARRAY(SELECT DISTINCT l FROM unnest(languages) l ORDER BY l);
END
$$;
COMMENT ON FUNCTION driver_check_languages(text[]) IS
  'Internal: checks a list of ISO 639 language codes (22023) and returns it sorted without duplicates.';

CREATE FUNCTION driver_state(d drivers) RETURNS jsonb
  LANGUAGE sql IMMUTABLE
  SET search_path FROM CURRENT
  RETURN jsonb_build_object('status', d.status, 'availability', d.availability,
                            'status_reason', d.status_reason, 'approved_at', d.approved_at,
                            'approved_by', d.approved_by);
COMMENT ON FUNCTION driver_state(drivers) IS
  'Internal: the approval-relevant state of a driver as JSON (the before/after of admin_actions details).';

-- ---------------------------------------------------------------------------
-- onboarding
-- ---------------------------------------------------------------------------
CREATE FUNCTION create_driver_profile(user_id uuid,
                                      license_number text DEFAULT NULL,
                                      license_expiry timestamptz DEFAULT NULL,
                                      languages text[] DEFAULT '{}',
                                      accepts_private_trips boolean DEFAULT true,
                                      accepts_shared_trips boolean DEFAULT true,
                                      documents_url jsonb DEFAULT '{}')
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  u users;
  existing text;
  new_id uuid;
  langs text[];
BEGIN
  PERFORM require_arg(user_id, 'user_id');
  PERFORM assert_acting_as(user_id);
  langs := coalesce(driver_check_languages(languages), '{}');
  PERFORM validate_documents_url(coalesce(documents_url, '{}'));
  IF license_expiry IS NOT NULL AND license_expiry <= now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'license_expiry is in the past';
  END IF;
  SELECT * INTO u FROM users x WHERE x.id = create_driver_profile.user_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'user not found',
      DETAIL = format('no user with id %s', create_driver_profile.user_id);
  END IF;
  SELECT d.driver_id INTO existing FROM drivers d WHERE d.user_id = u.id;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'user already has a driver profile',
      DETAIL = format('driver %s', existing);
  END IF;
  IF u.role NOT IN ('PASSENGER', 'DRIVER') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a passenger account can become a driver',
      DETAIL = format('the user''s role is %s', u.role);
  END IF;
  INSERT INTO drivers (user_id, license_number, license_expiry, languages, accepts_private_trips,
                       accepts_shared_trips, documents_url, tenant_id, last_activity_at)
  VALUES (u.id, driver_check_text(license_number, 'license_number', 50), license_expiry, langs,
          coalesce(accepts_private_trips, true), coalesce(accepts_shared_trips, true),
          coalesce(documents_url, '{}'), u.tenant_id, now())
  RETURNING id INTO new_id;
  IF u.role <> 'DRIVER' THEN
    UPDATE users x SET role = 'DRIVER' WHERE x.id = u.id;
  END IF;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION create_driver_profile(uuid, text, timestamptz, text[], boolean, boolean, jsonb) IS
  'Onboards a user as a driver: creates the driver profile (status PENDING, availability OFFLINE, a DRV-000123 number) and makes the user''s role DRIVER (the user''s next token carries it). The user themselves, an admin or a trusted backend may call it. Returns the driver id. PT404 unknown user, PT409 when the user already has a profile or is an ADMIN or ACTIVITY_OWNER, 22023 for a bad licence expiry, language list or documents_url.';
SELECT api_expose('create_driver_profile(uuid, text, timestamptz, text[], boolean, boolean, jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION update_driver_profile(driver_id uuid,
                                      license_number text DEFAULT NULL,
                                      license_expiry timestamptz DEFAULT NULL,
                                      languages text[] DEFAULT NULL,
                                      accepts_private_trips boolean DEFAULT NULL,
                                      accepts_shared_trips boolean DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers := driver_for_update(driver_id);
BEGIN
  PERFORM assert_acting_as(d.user_id);
  IF license_expiry IS NOT NULL AND license_expiry <= now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'license_expiry is in the past';
  END IF;
  UPDATE drivers x
     SET license_number = coalesce(driver_check_text(update_driver_profile.license_number, 'license_number', 50), x.license_number),
         license_expiry = coalesce(update_driver_profile.license_expiry, x.license_expiry),
         languages = coalesce(driver_check_languages(update_driver_profile.languages), x.languages),
         accepts_private_trips = coalesce(update_driver_profile.accepts_private_trips, x.accepts_private_trips),
         accepts_shared_trips = coalesce(update_driver_profile.accepts_shared_trips, x.accepts_shared_trips)
   WHERE x.id = d.id;
END
$$;
COMMENT ON FUNCTION update_driver_profile(uuid, text, timestamptz, text[], boolean, boolean) IS
  'Changes a driver''s own profile fields; a NULL argument leaves that field unchanged. The driver, an admin or a trusted backend may call it. PT404 unknown driver, 42501 another user, 22023 bad values.';
SELECT api_expose('update_driver_profile(uuid, text, timestamptz, text[], boolean, boolean)'::regprocedure, 'authenticated');

CREATE FUNCTION set_driver_documents(driver_id uuid, documents jsonb) RETURNS jsonb
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers := driver_for_update(driver_id);
  merged jsonb;
BEGIN
  PERFORM assert_acting_as(d.user_id);
  PERFORM require_arg(documents, 'documents');
  IF jsonb_typeof(documents) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'documents must be a JSON object',
      HINT = 'Example: {"license": "https://...", "insurance": null} (null removes a link)';
  END IF;
  -- merge: keys with a null value are removed, the others replace or add
  merged := coalesce((SELECT jsonb_object_agg(k, v) FROM jsonb_each(d.documents_url || documents) e(k, v)
                       WHERE jsonb_typeof(v) <> 'null'), '{}');
  PERFORM validate_documents_url(merged);
  UPDATE drivers x SET documents_url = merged WHERE x.id = d.id;
  RETURN merged;
END
$$;
COMMENT ON FUNCTION set_driver_documents(uuid, jsonb) IS
  'Merges links into a driver''s documents_url: {"license": url, ...} adds or replaces, {"insurance": null} removes. Returns the new documents_url. The driver, an admin or a trusted backend may call it. 22023 for a non-object, an invalid name or a non-http(s) URL.';
SELECT api_expose('set_driver_documents(uuid, jsonb)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- vehicles
-- ---------------------------------------------------------------------------
CREATE FUNCTION driver_sync_main_vehicle(driver_id uuid) RETURNS void
  LANGUAGE sql
  SET search_path FROM CURRENT
BEGIN ATOMIC
  UPDATE drivers d
     SET vehicle_type = v.type, vehicle_make = v.make, vehicle_model = v.model,
         vehicle_year = v.year, license_plate = v.license_plate
    FROM (SELECT NULL::int AS x) one
    LEFT JOIN vehicles v ON v.driver_id = driver_sync_main_vehicle.driver_id AND v.is_active
   WHERE d.id = driver_sync_main_vehicle.driver_id
     AND (d.vehicle_type, d.vehicle_make, d.vehicle_model, d.vehicle_year, d.license_plate)
         IS DISTINCT FROM (v.type, v.make, v.model, v.year, v.license_plate);
END;
COMMENT ON FUNCTION driver_sync_main_vehicle(uuid) IS
  'Internal: copies the active vehicle''s type, make, model, year and plate into the driver''s vehicle_* columns (NULL when none is active), as the earlier application kept them.';

CREATE FUNCTION add_vehicle(driver_id uuid, make text, model text, license_plate text,
                            year integer DEFAULT NULL, color text DEFAULT NULL,
                            type text DEFAULT 'SEDAN', passenger_capacity integer DEFAULT 4,
                            luggage_capacity integer DEFAULT 0, amenities jsonb DEFAULT '[]',
                            photos jsonb DEFAULT '[]', activate boolean DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers := driver_for_update(driver_id);
  has_active boolean;
  make_it_active boolean;
  new_id uuid;
BEGIN
  PERFORM assert_acting_as(d.user_id);
  PERFORM driver_check_range(year, 'year', 1950, 2100);
  PERFORM driver_check_range(require_arg(passenger_capacity, 'passenger_capacity'), 'passenger_capacity', 1, 60);
  PERFORM driver_check_range(require_arg(luggage_capacity, 'luggage_capacity'), 'luggage_capacity', 0, 100);
  IF jsonb_typeof(require_arg(amenities, 'amenities')) <> 'array'
     OR EXISTS (SELECT 1 FROM jsonb_array_elements(amenities) a WHERE jsonb_typeof(a) <> 'string') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'amenities must be a JSON array of strings';
  END IF;
  IF jsonb_typeof(require_arg(photos, 'photos')) <> 'array'
     OR EXISTS (SELECT 1 FROM jsonb_array_elements(photos) p
                 WHERE jsonb_typeof(p) <> 'string' OR NOT is_http_url(p #>> '{}')) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'photos must be a JSON array of http(s) URLs';
  END IF;
  has_active := EXISTS (SELECT 1 FROM vehicles v WHERE v.driver_id = d.id AND v.is_active);
  make_it_active := coalesce(activate, NOT has_active);
  IF make_it_active AND has_active THEN
    UPDATE vehicles v SET is_active = false WHERE v.driver_id = d.id AND v.is_active;
  END IF;
  INSERT INTO vehicles (driver_id, make, model, year, color, license_plate, type, passenger_capacity,
                        luggage_capacity, amenities, photos, is_active)
  VALUES (d.id, driver_check_text(make, 'make', 100, true), driver_check_text(model, 'model', 100, true),
          year, driver_check_text(color, 'color', 50),
          upper(driver_check_text(license_plate, 'license_plate', 20, true)),
          upper(driver_check_text(coalesce(type, 'SEDAN'), 'type', 50, true)),
          passenger_capacity, luggage_capacity, amenities, photos, make_it_active)
  RETURNING id INTO new_id;
  PERFORM driver_sync_main_vehicle(d.id);
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION add_vehicle(uuid, text, text, text, integer, text, text, integer, integer, jsonb, jsonb, boolean) IS
  'Adds a vehicle to a driver. activate: true makes it the active vehicle (the previous one is deactivated), false adds it inactive, NULL (default) activates it only when the driver has no active vehicle. Plate and type are stored upper-case. The driver, an admin or a trusted backend may call it. Returns the vehicle id. 22004/22023 for missing or out-of-range values (capacity 1..60, year 1950..2100, photos http(s) URLs).';
SELECT api_expose('add_vehicle(uuid, text, text, text, integer, text, text, integer, integer, jsonb, jsonb, boolean)'::regprocedure, 'authenticated');

CREATE FUNCTION vehicle_owner_for_update(vehicle_id uuid) RETURNS vehicles
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  v vehicles;
  d drivers;
BEGIN
  PERFORM require_arg(vehicle_id, 'vehicle_id');
  SELECT * INTO v FROM vehicles x WHERE x.id = vehicle_owner_for_update.vehicle_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'vehicle not found',
      DETAIL = format('no vehicle with id %s', vehicle_owner_for_update.vehicle_id);
  END IF;
  d := driver_for_update(v.driver_id);
  PERFORM assert_acting_as(d.user_id);
  SELECT * INTO v FROM vehicles x WHERE x.id = vehicle_owner_for_update.vehicle_id;
  RETURN v;
END
$$;
COMMENT ON FUNCTION vehicle_owner_for_update(uuid) IS
  'Internal: the vehicle, after locking its driver and checking that the caller may act for that driver (PT404, 42501).';

CREATE FUNCTION activate_vehicle(vehicle_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  v vehicles := vehicle_owner_for_update(vehicle_id);
BEGIN
  IF v.is_active THEN
    RETURN;
  END IF;
  UPDATE vehicles x SET is_active = false WHERE x.driver_id = v.driver_id AND x.is_active;
  UPDATE vehicles x SET is_active = true WHERE x.id = v.id;
  PERFORM driver_sync_main_vehicle(v.driver_id);
END
$$;
COMMENT ON FUNCTION activate_vehicle(uuid) IS
  'Makes a vehicle the driver''s active one (the one dispatch matches on); the previously active vehicle is deactivated in the same transaction. Harmless when already active. The driver, an admin or a trusted backend may call it.';
SELECT api_expose('activate_vehicle(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION deactivate_vehicle(vehicle_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  v vehicles := vehicle_owner_for_update(vehicle_id);
BEGIN
  IF NOT v.is_active THEN
    RETURN;
  END IF;
  UPDATE vehicles x SET is_active = false WHERE x.id = v.id;
  PERFORM driver_sync_main_vehicle(v.driver_id);
END
$$;
COMMENT ON FUNCTION deactivate_vehicle(uuid) IS
  'Takes a vehicle out of service: the driver then has no active vehicle and is not matched until one is activated. Harmless when already inactive. The driver, an admin or a trusted backend may call it.';
SELECT api_expose('deactivate_vehicle(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- approval workflow (ADMIN only):  PENDING -> APPROVED | REJECTED,
-- APPROVED <-> SUSPENDED
-- ---------------------------------------------------------------------------
CREATE FUNCTION driver_missing_documents(driver_id uuid) RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN ARRAY(
    SELECT t FROM unnest(ARRAY['LICENSE', 'INSURANCE', 'REGISTRATION']) t
     WHERE NOT EXISTS (
       SELECT 1 FROM document_verifications dv
        WHERE dv.driver_id = driver_missing_documents.driver_id AND dv.document_type = t
          AND dv.status = 'VERIFIED' AND (dv.expiry_date IS NULL OR dv.expiry_date > now()))
     ORDER BY array_position(ARRAY['LICENSE', 'INSURANCE', 'REGISTRATION'], t));
COMMENT ON FUNCTION driver_missing_documents(uuid) IS
  'The mandatory document types (LICENSE, INSURANCE, REGISTRATION) for which the driver has no VERIFIED, unexpired document_verifications row; empty when the driver may be approved.';
SELECT api_expose('driver_missing_documents(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION change_driver_status(driver_id uuid, new_status driver_status, reason text,
                                     action_type text)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers;
  after drivers;
  missing text[];
  allowed boolean;
BEGIN
  PERFORM assert_app_role('ADMIN');
  d := driver_for_update(driver_id);
  allowed := CASE d.status
               WHEN 'PENDING' THEN new_status IN ('APPROVED', 'REJECTED')
               WHEN 'APPROVED' THEN new_status = 'SUSPENDED'
               WHEN 'SUSPENDED' THEN new_status = 'APPROVED'
               ELSE false
             END;
  IF NOT allowed THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('cannot move a driver from %s to %s', d.status, new_status),
      DETAIL = format('driver %s is %s', d.driver_id, d.status),
      HINT = 'Allowed: PENDING to APPROVED or REJECTED, APPROVED to SUSPENDED, SUSPENDED to APPROVED.';
  END IF;
  IF new_status = 'APPROVED' THEN
    missing := driver_missing_documents(d.id);
    IF cardinality(missing) > 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'mandatory documents are not verified',
        DETAIL = format('driver %s lacks a verified, unexpired %s', d.driver_id, array_to_string(missing, ', ')),
        HINT = 'Each of LICENSE, INSURANCE and REGISTRATION needs a VERIFIED document_verifications row that has not expired.';
    END IF;
  END IF;
  UPDATE drivers x
     SET status = new_status,
         status_reason = CASE WHEN new_status = 'APPROVED' THEN NULL ELSE reason END,
         approved_at = CASE WHEN new_status = 'APPROVED' THEN now() ELSE x.approved_at END,
         approved_by = CASE WHEN new_status = 'APPROVED' THEN current_user_id() ELSE x.approved_by END
   WHERE x.id = d.id;
  -- a suspended driver stops taking trips now; one on a trip (BUSY) finishes it
  IF new_status = 'SUSPENDED' AND d.availability IN ('ONLINE', 'ON_BREAK') THEN
    PERFORM set_driver_availability(d.id, 'OFFLINE', 'suspended: ' || reason, 'admin');
  END IF;
  SELECT * INTO after FROM drivers x WHERE x.id = d.id;
  PERFORM log_admin_action(action_type, 'driver', d.id::text,
                           jsonb_build_object('driver_number', d.driver_id, 'reason', reason,
                                              'before', driver_state(d), 'after', driver_state(after)));
END
$$;
COMMENT ON FUNCTION change_driver_status(uuid, driver_status, text, text) IS
  'Internal: the approval state machine (PENDING to APPROVED or REJECTED, APPROVED to SUSPENDED and back), ADMIN only, with the document check on approval and an admin_actions row holding before and after.';

CREATE FUNCTION approve_driver(driver_id uuid, note text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM change_driver_status(driver_id, 'APPROVED', driver_check_text(note, 'note', 1000), 'DRIVER_APPROVED');
END
$$;
COMMENT ON FUNCTION approve_driver(uuid, text) IS
  'ADMIN: approves a PENDING driver (PENDING to APPROVED), who may then go online and be matched. Requires VERIFIED, unexpired LICENSE, INSURANCE and REGISTRATION documents (PT409 naming what is missing). Writes admin_actions DRIVER_APPROVED with before/after. 42501 for non-admins, PT409 from any other status.';
SELECT api_expose('approve_driver(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION reject_driver(driver_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM change_driver_status(driver_id, 'REJECTED', driver_check_text(reason, 'reason', 1000, true), 'DRIVER_REJECTED');
END
$$;
COMMENT ON FUNCTION reject_driver(uuid, text) IS
  'ADMIN: rejects a PENDING driver (final), with a reason (required, kept in status_reason). Writes admin_actions DRIVER_REJECTED. 42501 for non-admins, PT409 from any other status.';
SELECT api_expose('reject_driver(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION suspend_driver(driver_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM change_driver_status(driver_id, 'SUSPENDED', driver_check_text(reason, 'reason', 1000, true), 'DRIVER_SUSPENDED');
END
$$;
COMMENT ON FUNCTION suspend_driver(uuid, text) IS
  'ADMIN: suspends an APPROVED driver, with a reason (required). An ONLINE or ON_BREAK driver goes OFFLINE at once (history triggered_by admin); a BUSY driver finishes the current trip but is never matched again while suspended. Writes admin_actions DRIVER_SUSPENDED. 42501 for non-admins, PT409 from any other status.';
SELECT api_expose('suspend_driver(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION reinstate_driver(driver_id uuid, note text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM change_driver_status(driver_id, 'APPROVED', driver_check_text(note, 'note', 1000), 'DRIVER_REINSTATED');
END
$$;
COMMENT ON FUNCTION reinstate_driver(uuid, text) IS
  'ADMIN: lifts a suspension (SUSPENDED to APPROVED); the mandatory documents must still be VERIFIED and unexpired (PT409 naming what is missing). The driver stays OFFLINE until they go online. Writes admin_actions DRIVER_REINSTATED. 42501 for non-admins, PT409 from any other status.';
SELECT api_expose('reinstate_driver(uuid, text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- availability (driver-facing)
-- ---------------------------------------------------------------------------
CREATE FUNCTION update_driver_availability(driver_id uuid, availability driver_availability,
                                           reason text DEFAULT NULL)
  RETURNS driver_availability
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers;
  who text := 'driver';
BEGIN
  PERFORM require_arg(driver_id, 'driver_id');
  -- lock order position, then driver: the order of a ping (deadlock-free)
  PERFORM 1 FROM driver_locations l WHERE l.driver_id = update_driver_availability.driver_id FOR UPDATE;
  d := driver_for_update(driver_id);
  PERFORM assert_acting_as(d.user_id);
  PERFORM require_arg(availability, 'availability');
  reason := driver_check_text(reason, 'reason', 500);
  IF availability = 'BUSY' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'availability BUSY is set by the system',
      DETAIL = 'A driver becomes BUSY when a trip starts and is freed when it ends.',
      HINT = 'Use ONLINE, OFFLINE or ON_BREAK.';
  END IF;
  IF d.availability = 'BUSY' AND availability IS DISTINCT FROM 'BUSY' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'driver is on a trip',
      DETAIL = format('driver %s is BUSY until the trip ends', d.driver_id);
  END IF;
  IF availability = 'ONLINE' AND d.status <> 'APPROVED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only an approved driver can go online',
      DETAIL = format('driver %s is %s', d.driver_id, d.status);
  END IF;
  IF NOT is_trusted_caller() AND current_app_role() = 'ADMIN' AND current_user_id() IS DISTINCT FROM d.user_id THEN
    who := 'admin';
  END IF;
  IF availability = 'ONLINE' THEN
    -- the auto-offline clock starts now when the app has not reported a position yet
    UPDATE drivers x SET last_activity_at = now() WHERE x.id = d.id;
  ELSIF availability = 'OFFLINE' THEN
    UPDATE driver_locations l SET is_active = false WHERE l.driver_id = d.id AND l.is_active;
  END IF;
  RETURN set_driver_availability(d.id, availability,
                                 coalesce(reason, format('%s by the %s', lower(availability::text), who)), who);
END
$$;
COMMENT ON FUNCTION update_driver_availability(uuid, driver_availability, text) IS
  'The driver app''s switch: ONLINE (only an APPROVED driver), OFFLINE or ON_BREAK, with a history row (triggered_by driver, or admin when an admin acts for the driver). BUSY is the system''s (22023) and a BUSY driver cannot switch until the trip ends (PT409). Going OFFLINE marks the live position inactive. Returns the previous availability.';
SELECT api_expose('update_driver_availability(uuid, driver_availability, text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- schedules: breaks and unavailable periods (evaluated by dispatch)
-- ---------------------------------------------------------------------------
CREATE FUNCTION add_availability_schedule(driver_id uuid, start_time timestamptz, end_time timestamptz,
                                          schedule_type text DEFAULT 'UNAVAILABLE',
                                          reason text DEFAULT NULL,
                                          recurring_pattern jsonb DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers := driver_for_update(driver_id);
  new_id uuid;
BEGIN
  PERFORM assert_acting_as(d.user_id);
  PERFORM require_arg(start_time, 'start_time');
  PERFORM require_arg(end_time, 'end_time');
  PERFORM require_arg(schedule_type, 'schedule_type');
  IF schedule_type NOT IN ('BREAK', 'UNAVAILABLE') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'schedule_type must be BREAK or UNAVAILABLE';
  END IF;
  IF NOT isfinite(start_time) OR NOT isfinite(end_time) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'start_time and end_time must be finite';
  END IF;
  IF end_time <= start_time THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'end_time must be after start_time';
  END IF;
  IF recurring_pattern IS NULL THEN
    IF end_time <= now() THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the period is already over';
    END IF;
  ELSE
    PERFORM validate_recurring_pattern(recurring_pattern);
    IF end_time - start_time > interval '24 hours' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a recurring period lasts at most 24 hours',
        DETAIL = format('got %s', end_time - start_time);
    END IF;
  END IF;
  INSERT INTO driver_availability_schedules (driver_id, start_time, end_time, schedule_type, reason,
                                             is_recurring, recurring_pattern)
  VALUES (d.id, start_time, end_time, schedule_type, driver_check_text(reason, 'reason', 500),
          recurring_pattern IS NOT NULL, recurring_pattern)
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION add_availability_schedule(uuid, timestamptz, timestamptz, text, text, jsonb) IS
  'Adds a BREAK or UNAVAILABLE period for a driver: one-off (start_time..end_time, not already over) or recurring by recurring_pattern ({"freq": "DAILY"} or {"freq": "WEEKLY", "days": ["MON", ...]}, optional "until" and "tz"; each occurrence at most 24 hours, repeating the local time of day of start_time..end_time). Dispatch does not match the driver to trips departing inside it. The driver, an admin or a trusted backend may call it. Returns the schedule id.';
SELECT api_expose('add_availability_schedule(uuid, timestamptz, timestamptz, text, text, jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION deactivate_availability_schedule(schedule_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  s driver_availability_schedules;
  d drivers;
BEGIN
  PERFORM require_arg(schedule_id, 'schedule_id');
  SELECT * INTO s FROM driver_availability_schedules x WHERE x.id = schedule_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'schedule not found',
      DETAIL = format('no availability schedule with id %s', schedule_id);
  END IF;
  d := driver_for_update(s.driver_id);
  PERFORM assert_acting_as(d.user_id);
  UPDATE driver_availability_schedules x SET is_active = false WHERE x.id = s.id AND x.is_active;
END
$$;
COMMENT ON FUNCTION deactivate_availability_schedule(uuid) IS
  'Withdraws a break or unavailable period (is_active false; the row stays for the record). Harmless when already withdrawn. The driver, an admin or a trusted backend may call it. PT404 unknown schedule, 42501 another driver''s.';
SELECT api_expose('deactivate_availability_schedule(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- live location (C, src/drivers/location.c)
-- ---------------------------------------------------------------------------
CREATE FUNCTION update_driver_location(driver_id uuid, lat double precision, lng double precision,
                                       heading double precision DEFAULT NULL,
                                       speed double precision DEFAULT NULL,
                                       accuracy double precision DEFAULT NULL)
  RETURNS void
  AS 'MODULE_PATHNAME', 'sg_drivers_update_location'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION update_driver_location(uuid, double precision, double precision, double precision, double precision, double precision) IS
  'Records a driver''s live position: upserts driver_locations (is_active true, last_updated now) and refreshes drivers.last_activity_at at most once per steppergo.driver_activity_interval seconds. lat -90..90, lng -180..180, heading 0..360 degrees, speed 0..500 m/s, accuracy 0..100000 m; NULL heading/speed/accuracy are stored as NULL. 22004 NULL driver/lat/lng, 22023 out of range or NaN, PT404 unknown driver, 42501 when an API caller is not the driver (admins and trusted backends may).';
SELECT api_expose('update_driver_location(uuid, double precision, double precision, double precision, double precision, double precision)'::regprocedure, 'authenticated');

CREATE FUNCTION update_driver_locations(pings jsonb) RETURNS integer
  AS 'MODULE_PATHNAME', 'sg_drivers_update_locations'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION update_driver_locations(jsonb) IS
  'Records a batch of positions in one call: a JSON array of objects {"driver_id", "lat", "lng", "heading", "speed", "accuracy"} (the last three optional or null), in time order; for a driver named several times the last ping wins. All or nothing: the first invalid element (shape, unknown key, range, unknown driver, another user''s driver) refuses the whole batch with its 0-based index in errdetail, and nothing is written. At most steppergo.location_batch_max elements. Returns the number of driver_locations rows written (distinct drivers).';
SELECT api_expose('update_driver_locations(jsonb)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- auto-offline (pg_cron)
-- ---------------------------------------------------------------------------
CREATE FUNCTION stale_driver_offline(driver_id uuid, cutoff timestamptz, after_s bigint) RETURNS boolean
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  avail driver_availability;
  last_seen timestamptz;
BEGIN
  -- re-read under the row lock: the driver may have accepted a trip (BUSY),
  -- gone offline or sent a position since the job's snapshot
  SELECT d.availability, coalesce(l.last_updated, d.last_activity_at, d.updated_at)
    INTO avail, last_seen
    FROM drivers d LEFT JOIN driver_locations l ON l.driver_id = d.id
   WHERE d.id = stale_driver_offline.driver_id
     FOR UPDATE OF d SKIP LOCKED;
  IF NOT FOUND OR avail IS DISTINCT FROM 'ONLINE' OR last_seen >= cutoff THEN
    RETURN false;
  END IF;
  PERFORM set_driver_availability(stale_driver_offline.driver_id, 'OFFLINE',
                                  format('no position for %s s', after_s), 'system');
  RETURN true;
END
$$;
COMMENT ON FUNCTION stale_driver_offline(uuid, timestamptz, bigint) IS
  'Internal (auto-offline): under the driver''s row lock, checks again that the driver is ONLINE and silent since before cutoff, then sets OFFLINE (history triggered_by system). False when the driver changed meanwhile or is locked by another transaction.';

CREATE FUNCTION auto_offline_stale_drivers() RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  -- the setting has a time unit (SHOW gives 5min); as an interval it reads back exactly
  after_i interval := coalesce(nullif(current_setting('steppergo.driver_offline_after', true), ''), '300s')::interval;
  cutoff timestamptz := now() - after_i;
  after_s bigint := extract(epoch FROM after_i)::bigint;
  r record;
  n integer := 0;
BEGIN
  -- Locks are taken in the order a ping takes them (driver_locations, then
  -- drivers), so the job never deadlocks with a driver who resumes sending
  -- positions while it runs; rows locked by others are left for next time.
  FOR r IN
    SELECT l.driver_id AS id, true AS has_position
      FROM driver_locations l JOIN drivers d ON d.id = l.driver_id
     WHERE d.availability = 'ONLINE' AND l.last_updated < cutoff
     ORDER BY l.driver_id
       FOR UPDATE OF l SKIP LOCKED
  LOOP
    IF stale_driver_offline(r.id, cutoff, after_s) THEN
      UPDATE driver_locations l SET is_active = false WHERE l.driver_id = r.id AND l.is_active;
      n := n + 1;
    END IF;
  END LOOP;
  -- ONLINE without any position: measured from last_activity_at (set when going ONLINE)
  FOR r IN
    SELECT d.id
      FROM drivers d
     WHERE d.availability = 'ONLINE' AND coalesce(d.last_activity_at, d.updated_at) < cutoff
       AND NOT EXISTS (SELECT 1 FROM driver_locations l WHERE l.driver_id = d.id)
     ORDER BY d.id
       FOR UPDATE OF d SKIP LOCKED
  LOOP
    IF stale_driver_offline(r.id, cutoff, after_s) THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION auto_offline_stale_drivers() IS
  'The auto-offline job: ONLINE drivers whose last position (else last activity) is older than steppergo.driver_offline_after seconds (default 300) become OFFLINE, with a history row triggered_by system, and their position is marked inactive. Drivers locked by a concurrent transaction are left for the next run. Returns how many went offline.';
SELECT api_expose('auto_offline_stale_drivers()'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description)
VALUES ('steppergo_drivers_auto_offline', '* * * * *', 'SELECT steppergo.auto_offline_stale_drivers()',
        'Every minute: ONLINE drivers whose app stopped reporting positions for steppergo.driver_offline_after seconds go OFFLINE (history triggered_by system).');
-- ===========================================================================
-- dispatch (release 0.2): matching drivers to trips, offers with acceptance
-- deadlines, and the pg_cron job that acts on expired offers.
-- See src/dispatch/README.md for the score, the settings, the notification
-- channel and how the job works inside its minute.
-- ===========================================================================

-- Indexes for the eligibility probes on trips.  They live here, not in a
-- schema.sql, because the trips table is created after the dispatch domain's
-- schema in the build order.
CREATE INDEX trips_dispatch_assigned_idx ON trips (driver_id, departure_time)
  WHERE status NOT IN ('COMPLETED', 'CANCELLED');
COMMENT ON INDEX trips_dispatch_assigned_idx IS
  'Dispatch: the trips a driver is assigned to and that are not over, probed for overlapping time windows.';

-- find_drivers rewrites shown_at of the rows it returns on every call: leave
-- room on each page so that those updates are HOT (shown_at is not indexed).
ALTER TABLE trip_driver_visibility SET (fillfactor = 70);

-- ---------------------------------------------------------------------------
-- Helpers in C: distances on WGS84 and the score
-- ---------------------------------------------------------------------------
CREATE FUNCTION dispatch_distance(lat1 float8, lng1 float8, lat2 float8, lng2 float8) RETURNS float8
  AS 'MODULE_PATHNAME', 'sg_dispatch_distance'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_distance(float8, float8, float8, float8) IS
  'Distance in metres between two points (latitude, longitude in degrees) on the WGS84 spheroid (Vincenty''s inverse formula), as find_drivers computes it; agrees with PostGIS ST_Distance(geography, geography) to the millimetre. Out-of-range coordinates raise 22023.';

CREATE FUNCTION dispatch_effective_distance(distance_m float8, rating float8, review_count integer,
                                            acceptance_rate float8) RETURNS float8
  AS 'MODULE_PATHNAME', 'sg_dispatch_effective_distance_sql'
  LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_effective_distance(float8, float8, integer, float8) IS
  'The distance the dispatch score ranks by: distance_m * (1 + steppergo.dispatch_rating_weight * rating penalty + steppergo.dispatch_acceptance_weight * acceptance penalty); rating penalty (5 - rating) / 4 (0.5 without reviews), acceptance penalty 1 - acceptance_rate (0.5 when unknown).';

CREATE FUNCTION dispatch_score(effective_distance_m float8) RETURNS float8
  AS 'MODULE_PATHNAME', 'sg_dispatch_score_sql'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_score(float8) IS
  'The dispatch score of an effective distance: 1000 / (1000 + effective_distance_m); 1 at the pickup point, 0.5 at 1 km, higher is better.';

CREATE FUNCTION dispatch_setting(name text) RETURNS float8
  AS 'MODULE_PATHNAME', 'sg_dispatch_setting'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_setting(text) IS
  'The value of the setting steppergo.dispatch_<name> in its base unit (seconds, minutes, metres), e.g. dispatch_setting(''acceptance_timeout''); unknown names raise 22023.';

-- ---------------------------------------------------------------------------
-- Who may dispatch a trip
-- ---------------------------------------------------------------------------
CREATE FUNCTION dispatch_assert_dispatcher(organizer_id uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  IF is_trusted_caller() THEN
    RETURN true;
  END IF;
  me := current_user_id();
  IF me IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  IF current_app_role() = 'ADMIN' OR me = organizer_id THEN
    RETURN true;
  END IF;
  RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the trip''s organizer or an admin may dispatch it';
END
$$;
COMMENT ON FUNCTION dispatch_assert_dispatcher(uuid) IS
  'Internal: true when the caller may search and offer drivers for a trip of this organizer (the organizer, an ADMIN, or a trusted caller); raises 42501 (PT401 when anonymous) otherwise.';

-- ---------------------------------------------------------------------------
-- Schedules: is a driver inside a break/unavailable period at an instant?
-- ---------------------------------------------------------------------------
CREATE FUNCTION dispatch_schedule_covers(start_time timestamptz, end_time timestamptz,
                                         recurring_pattern jsonb, at timestamptz,
                                         default_tz text DEFAULT 'Asia/Almaty')
  RETURNS boolean
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  tz text;
  dur interval;
  local_start time;
  first_date date;
  at_date date;
  until_date date;
  ndays integer;
  d date;
  occ timestamptz;
BEGIN
  IF start_time IS NULL OR end_time IS NULL OR at IS NULL THEN
    RETURN false;
  END IF;
  IF recurring_pattern IS NULL THEN
    RETURN start_time <= at AND at < end_time;
  END IF;
  IF at < start_time THEN
    RETURN false;
  END IF;
  tz := coalesce(recurring_pattern ->> 'tz', default_tz, 'Asia/Almaty');
  dur := end_time - start_time;
  local_start := (start_time AT TIME ZONE tz)::time;
  first_date := (start_time AT TIME ZONE tz)::date;
  at_date := (at AT TIME ZONE tz)::date;
  until_date := (recurring_pattern ->> 'until')::date;
  -- an occurrence that started up to ndays local days before may still run
  ndays := least(ceil(extract(epoch FROM dur) / 86400.0)::integer, 366);
  FOR k IN 0 .. ndays LOOP
    d := at_date - k;
    CONTINUE WHEN d < first_date OR (until_date IS NOT NULL AND d > until_date);
    IF recurring_pattern ->> 'freq' = 'WEEKLY'
       AND NOT (recurring_pattern -> 'days') ? to_char(d, 'DY') THEN
      CONTINUE;
    END IF;
    occ := (d + local_start) AT TIME ZONE tz;
    IF at >= occ AND at < occ + dur THEN
      RETURN true;
    END IF;
  END LOOP;
  RETURN false;
END
$$;
COMMENT ON FUNCTION dispatch_schedule_covers(timestamptz, timestamptz, jsonb, timestamptz, text) IS
  'True when a driver_availability_schedules period covers the instant at. One-off: start_time <= at < end_time. Recurring: occurrences start on every local date (DAILY) or on the listed weekdays (WEEKLY) from the date of start_time up to "until", at the local time of day of start_time, and last end_time - start_time; local means the pattern''s "tz", else default_tz (the trip''s zone), else Asia/Almaty.';

-- ---------------------------------------------------------------------------
-- Matching
-- ---------------------------------------------------------------------------
CREATE FUNCTION find_drivers(trip_id uuid, radius_m integer DEFAULT NULL, max_results integer DEFAULT 10)
  RETURNS TABLE (driver_id uuid, distance_m float8, score float8)
  AS 'MODULE_PATHNAME', 'sg_dispatch_find_drivers'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
  -- the candidate scan must stay the nearest-first index scan whatever the
  -- pickup point; a custom plan for a dense city would sort the whole box
  SET plan_cache_mode = force_generic_plan
  ROWS 10;
COMMENT ON FUNCTION find_drivers(uuid, integer, integer) IS
  'The eligible drivers within radius_m metres (NULL: the trip''s driver_discovery_radius) of the trip''s pickup point on the WGS84 spheroid, best dispatch score first, at most max_results (1..1000). Eligible: APPROVED, ONLINE, a position fresher than steppergo.dispatch_position_max_age, not in a break or unavailable period at the departure, accepts the trip''s type, an active vehicle seating total_seats, has not declined or timed out on this trip, not assigned to another trip whose window overlaps, no open offer of another trip. Records trip_driver_visibility.shown_at for the drivers returned. For the trip''s organizer, an ADMIN, or trusted callers (42501 otherwise); unknown trip PT404.';
SELECT api_expose('find_drivers(uuid, integer, integer)'::regprocedure, 'authenticated');

CREATE FUNCTION dispatch_search(trip_id uuid, radius_m integer DEFAULT NULL, max_results integer DEFAULT 10)
  RETURNS TABLE (driver_id uuid, distance_m float8, score float8)
  AS 'MODULE_PATHNAME', 'sg_dispatch_search'
  LANGUAGE C VOLATILE
  SET search_path FROM CURRENT
  SET plan_cache_mode = force_generic_plan
  ROWS 10;
COMMENT ON FUNCTION dispatch_search(uuid, integer, integer) IS
  'Internal: find_drivers without the caller check, for the offer functions (a driver declining an offer makes the next offer).';

-- The eligibility rules, each one a name, in the order explain_dispatch
-- reports the first that fails.  find_drivers (src/dispatch/find.c) applies
-- exactly these predicates; keep both in step.
CREATE FUNCTION dispatch_exclusion(t trips, driver_id uuid) RETURNS text
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
AS $$
  SELECT CASE
    WHEN d.id IS NULL THEN 'unknown_driver'
    WHEN d.status <> 'APPROVED' THEN 'not_approved'
    WHEN d.availability <> 'ONLINE' THEN 'not_online'
    WHEN l.driver_id IS NULL OR NOT l.is_active
         OR l.last_updated < clock_timestamp()
              - make_interval(secs => dispatch_setting('position_max_age')::integer)
      THEN 'stale_position'
    WHEN NOT CASE WHEN t.trip_type = 'PRIVATE' THEN d.accepts_private_trips ELSE d.accepts_shared_trips END
      THEN 'trip_type_not_accepted'
    WHEN NOT EXISTS (SELECT 1 FROM vehicles v WHERE v.driver_id = d.id AND v.is_active) THEN 'no_active_vehicle'
    WHEN NOT EXISTS (SELECT 1 FROM vehicles v WHERE v.driver_id = d.id AND v.is_active
                        AND v.passenger_capacity >= t.total_seats) THEN 'vehicle_too_small'
    WHEN EXISTS (SELECT 1 FROM driver_availability_schedules s
                  WHERE s.driver_id = d.id AND s.is_active AND s.start_time <= t.departure_time
                    AND dispatch_schedule_covers(s.start_time, s.end_time, s.recurring_pattern,
                                                 t.departure_time, t.timezone))
      THEN 'unavailable_at_departure'
    WHEN EXISTS (SELECT 1 FROM trip_acceptance_logs a
                  WHERE a.trip_id = t.id AND a.driver_id = d.id AND a.action IN ('DECLINED', 'TIMEOUT'))
      THEN 'declined_or_timed_out'
    WHEN EXISTS (SELECT 1 FROM trips o
                  WHERE o.driver_id = d.id AND o.id <> t.id
                    AND o.status NOT IN ('COMPLETED', 'CANCELLED')
                    AND o.departure_time < coalesce(t.return_time, t.departure_time)
                          + make_interval(mins => dispatch_setting('trip_window')::integer)
                    AND coalesce(o.return_time, o.departure_time)
                          + make_interval(mins => dispatch_setting('trip_window')::integer)
                          > t.departure_time)
      THEN 'assigned_overlapping_trip'
    WHEN EXISTS (SELECT 1 FROM trips f WHERE f.offered_to_driver_id = d.id AND f.id <> t.id)
      THEN 'open_offer_on_other_trip'
  END
  FROM (SELECT dispatch_exclusion.driver_id AS id) k
  LEFT JOIN drivers d ON d.id = k.id
  LEFT JOIN driver_locations l ON l.driver_id = k.id
$$;
COMMENT ON FUNCTION dispatch_exclusion(trips, uuid) IS
  'Internal: the first eligibility rule that excludes the driver from the trip, or NULL when the driver is eligible (distance aside). Rules in order: not_approved, not_online, stale_position, trip_type_not_accepted, no_active_vehicle, vehicle_too_small, unavailable_at_departure, declined_or_timed_out, assigned_overlapping_trip, open_offer_on_other_trip (unknown_driver for an id that is no driver).';

CREATE FUNCTION explain_dispatch(trip_id uuid, radius_m integer DEFAULT NULL)
  RETURNS TABLE (driver_id uuid, driver_number text, distance_m float8, eligible boolean, excluded_by text,
                 rating_penalty float8, acceptance_penalty float8, effective_distance_m float8,
                 score float8, rank bigint)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  r integer;
BEGIN
  PERFORM require_arg(explain_dispatch.trip_id, 'trip_id');
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  SELECT * INTO t FROM trips WHERE id = explain_dispatch.trip_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('no trip with id %s', explain_dispatch.trip_id);
  END IF;
  IF radius_m IS NOT NULL AND radius_m NOT BETWEEN 1 AND 2000000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'radius_m must be between 1 and 2000000',
      DETAIL = format('got %s', radius_m);
  END IF;
  r := coalesce(radius_m, t.offer_radius, t.driver_discovery_radius);
  RETURN QUERY
  WITH c AS (
    SELECT l.driver_id AS id, d.driver_id AS number,
           dispatch_distance(t.origin_lat, t.origin_lng, l.latitude, l.longitude) AS dist,
           dispatch_exclusion(t, l.driver_id) AS why,
           CASE WHEN d.review_count <= 0 OR d.rating <= 0 THEN 0.5
                ELSE least(1, greatest(0, (5 - d.rating::float8) / 4)) END AS rp,
           CASE WHEN d.acceptance_rate IS NULL THEN 0.5
                ELSE least(1, greatest(0, 1 - d.acceptance_rate::float8)) END AS ap,
           d.rating::float8 AS rating, d.review_count, d.acceptance_rate::float8 AS acc
      FROM driver_locations l
      JOIN drivers d ON d.id = l.driver_id
     WHERE ST_DWithin(l.geog, t.origin_geog, r)
  ), s AS (
    SELECT c.*, dispatch_effective_distance(c.dist, c.rating, c.review_count, c.acc) AS eff
      FROM c WHERE c.dist <= r
  )
  SELECT s.id, s.number, s.dist, s.why IS NULL, s.why, s.rp, s.ap, s.eff, dispatch_score(s.eff),
         CASE WHEN s.why IS NULL
              THEN rank() OVER (PARTITION BY s.why IS NULL ORDER BY s.eff, s.dist, s.id) END
    FROM s
   ORDER BY s.why IS NOT NULL, s.eff, s.dist, s.id;
END
$$;
COMMENT ON FUNCTION explain_dispatch(uuid, integer) IS
  'Why each driver inside the trip''s radius (radius_m, else the current offer radius, else driver_discovery_radius) was or was not matched: the distance, and either the parts of the score (rating and acceptance penalties, effective distance, score, rank among the eligible) or the first eligibility rule that excluded the driver (see dispatch_exclusion). For ADMINs and trusted callers (42501 otherwise).';
SELECT api_expose('explain_dispatch(uuid, integer)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Offers
--
-- Notifications go out on the channel steppergo_dispatch (pg_notify, sent at
-- commit) with a JSON payload {"event", "trip_id", "user_id" (the recipient),
-- ...} and, for the events a person must see, as a notifications row (PUSH,
-- recipient = the user's id, resolved to devices by the push sender).
-- ---------------------------------------------------------------------------
CREATE FUNCTION dispatch_notify(event text, user_id uuid, trip_id uuid, extra jsonb DEFAULT '{}')
  RETURNS void
  LANGUAGE sql
  SET search_path FROM CURRENT
AS $$
  SELECT pg_catalog.pg_notify('steppergo_dispatch',
           (jsonb_build_object('event', event, 'trip_id', trip_id, 'user_id', user_id,
                               'sent_at', clock_timestamp()) || coalesce(extra, '{}'))::text);
$$;
COMMENT ON FUNCTION dispatch_notify(text, uuid, uuid, jsonb) IS
  'Internal: pg_notify on channel steppergo_dispatch with the JSON payload {"event", "trip_id", "user_id" (recipient), "sent_at", ...extra}; delivered when the transaction commits.';

CREATE FUNCTION dispatch_refresh_acceptance_rate(driver_id uuid) RETURNS void
  LANGUAGE sql
  SET search_path FROM CURRENT
AS $$
  UPDATE drivers d
     SET acceptance_rate = r.rate
    FROM (SELECT round(count(*) FILTER (WHERE a.action = 'ACCEPTED')::numeric / count(*), 4) AS rate
            FROM (SELECT a.action FROM trip_acceptance_logs a
                   WHERE a.driver_id = dispatch_refresh_acceptance_rate.driver_id
                     AND a.action <> 'OFFERED'
                   ORDER BY a.created_at DESC LIMIT 100) a
          HAVING count(*) > 0) r
   WHERE d.id = dispatch_refresh_acceptance_rate.driver_id
     AND d.acceptance_rate IS DISTINCT FROM r.rate;
$$;
COMMENT ON FUNCTION dispatch_refresh_acceptance_rate(uuid) IS
  'Internal: sets drivers.acceptance_rate to the share of ACCEPTED among the driver''s last 100 answers to offers (ACCEPTED, DECLINED, TIMEOUT).';

-- Return an OFFERED trip to PUBLISHED (FULL when no seat is left), clear the
-- offer, and tell the organizer that nobody took it.
CREATE FUNCTION dispatch_release(trip_id uuid, actor_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  back trip_status;
BEGIN
  SELECT * INTO t FROM trips WHERE id = dispatch_release.trip_id;
  back := CASE WHEN t.available_seats = 0 THEN 'FULL' ELSE 'PUBLISHED' END;
  UPDATE trips SET status = back, offered_to_driver_id = NULL, acceptance_deadline = NULL, offer_radius = NULL
   WHERE id = t.id;
  INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
  VALUES (t.id, t.status, back, actor_id, left(reason, 1000));
  INSERT INTO notifications (user_id, type, channel, recipient, subject, body)
  VALUES (t.organizer_id, 'TRIP_NO_DRIVER', 'PUSH', t.organizer_id::text, 'No driver found',
          left(format('No driver accepted your trip "%s" (departure %s). It is %s again; you can offer it again later.',
                      t.title, to_char(t.departure_time AT TIME ZONE t.timezone, 'YYYY-MM-DD HH24:MI'), back), 10000));
  PERFORM dispatch_notify('TRIP_NO_DRIVER', t.organizer_id, t.id,
                          jsonb_build_object('status', back, 'reason', reason));
END
$$;
COMMENT ON FUNCTION dispatch_release(uuid, uuid, text) IS
  'Internal: the trip (locked, OFFERED) returns to PUBLISHED, or FULL when no seat is left, with its offer cleared; writes the trip_status_history row, a TRIP_NO_DRIVER notification for the organizer and a pg_notify.';

-- Offer the (locked) trip to one driver: status OFFERED, deadline, log,
-- visibility, notification row and pg_notify.
CREATE FUNCTION dispatch_make_offer(trip_id uuid, driver_id uuid, actor_id uuid, radius integer,
                                    distance_m float8 DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  drv drivers;
  timeout integer := dispatch_setting('acceptance_timeout')::integer;
  offered timestamptz := clock_timestamp();
  deadline timestamptz := offered + make_interval(secs => timeout);
BEGIN
  SELECT * INTO t FROM trips WHERE id = dispatch_make_offer.trip_id;
  SELECT * INTO drv FROM drivers WHERE id = dispatch_make_offer.driver_id;
  UPDATE trips
     SET status = 'OFFERED', offered_to_driver_id = drv.id, acceptance_deadline = deadline,
         offer_radius = CASE WHEN radius > t.driver_discovery_radius THEN radius END
   WHERE id = t.id;
  IF t.status <> 'OFFERED' THEN
    INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
    VALUES (t.id, t.status, 'OFFERED', actor_id, 'offered to driver ' || drv.driver_id);
  END IF;
  INSERT INTO trip_acceptance_logs (trip_id, driver_id, action, offered_at, timeout_duration)
  VALUES (t.id, drv.id, 'OFFERED', offered, timeout);
  INSERT INTO trip_driver_visibility AS v (trip_id, driver_id, shown_at)
  VALUES (t.id, drv.id, now())
  ON CONFLICT ON CONSTRAINT trip_driver_visibility_once DO UPDATE SET shown_at = EXCLUDED.shown_at;
  INSERT INTO notifications (user_id, type, channel, recipient, subject, body)
  VALUES (drv.user_id, 'TRIP_OFFER', 'PUSH', drv.user_id::text, 'New trip offer',
          left(format('%s: pickup at %s, departure %s. Accept within %s seconds.',
                      t.title, t.origin_name, to_char(t.departure_time AT TIME ZONE t.timezone, 'YYYY-MM-DD HH24:MI'),
                      timeout), 10000));
  PERFORM dispatch_notify('TRIP_OFFERED', drv.user_id, t.id,
    jsonb_build_object('driver_id', drv.id, 'acceptance_deadline', deadline, 'timeout_seconds', timeout,
                       'distance_m', round(distance_m::numeric, 1),
                       'origin', jsonb_build_object('name', t.origin_name, 'lat', t.origin_lat, 'lng', t.origin_lng),
                       'destination', jsonb_build_object('name', t.dest_name, 'lat', t.dest_lat, 'lng', t.dest_lng),
                       'departure_time', t.departure_time, 'trip_type', t.trip_type,
                       'seats', t.total_seats, 'estimated_earnings', t.estimated_earnings));
END
$$;
COMMENT ON FUNCTION dispatch_make_offer(uuid, uuid, uuid, integer, float8) IS
  'Internal: offers the locked trip to the driver: status OFFERED (status history row when it moves), offered_to_driver_id, acceptance_deadline = now + steppergo.dispatch_acceptance_timeout, offer_radius when widened, an OFFERED trip_acceptance_logs row, trip_driver_visibility, a TRIP_OFFER PUSH notification and a TRIP_OFFERED pg_notify to the driver.';

-- Offer the (locked) trip to the best eligible driver, widening the radius
-- in steps; returns the driver, or NULL when nobody is eligible even at
-- steppergo.dispatch_max_radius.
CREATE FUNCTION dispatch_offer_next(trip_id uuid, actor_id uuid) RETURNS uuid
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  r integer;
  max_r integer := dispatch_setting('max_radius')::integer;
  factor float8 := dispatch_setting('radius_factor')::float8;
  cand record;
BEGIN
  SELECT * INTO t FROM trips WHERE id = dispatch_offer_next.trip_id;
  r := coalesce(t.offer_radius, t.driver_discovery_radius);
  LOOP
    FOR cand IN SELECT s.driver_id, s.distance_m FROM dispatch_search(t.id, r, 10) s LOOP
      -- Lock the driver, then check again with a fresh snapshot: a
      -- concurrent offer of another trip to the same driver that committed
      -- meanwhile is seen, so no driver ever holds two open offers.
      PERFORM 1 FROM drivers d WHERE d.id = cand.driver_id FOR UPDATE;
      IF dispatch_exclusion(t, cand.driver_id) IS NULL THEN
        PERFORM dispatch_make_offer(t.id, cand.driver_id, actor_id, r, cand.distance_m);
        RETURN cand.driver_id;
      END IF;
    END LOOP;
    EXIT WHEN r >= max_r;
    r := least(max_r, greatest(r + 1, ceil(r * factor)::integer));
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION dispatch_offer_next(uuid, uuid) IS
  'Internal: offers the locked trip to the best eligible driver within its radius (the current offer radius, else driver_discovery_radius), widening it by steppergo.dispatch_radius_factor up to steppergo.dispatch_max_radius while nobody is eligible. Returns the driver offered, or NULL.';

CREATE FUNCTION offer_trip(trip_id uuid, driver_id uuid DEFAULT NULL) RETURNS uuid
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  why text;
  chosen uuid;
BEGIN
  PERFORM require_arg(offer_trip.trip_id, 'trip_id');
  SELECT * INTO t FROM trips WHERE id = offer_trip.trip_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('no trip with id %s', offer_trip.trip_id);
  END IF;
  PERFORM dispatch_assert_dispatcher(t.organizer_id);
  IF t.status NOT IN ('PUBLISHED', 'FULL') OR t.driver_id IS NOT NULL OR t.offered_to_driver_id IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'trip cannot be offered now',
      DETAIL = CASE WHEN t.driver_id IS NOT NULL THEN 'the trip already has a driver'
                    WHEN t.status = 'OFFERED' THEN 'the trip already has an open offer'
                    ELSE format('the trip is %s; only PUBLISHED or FULL trips without a driver are offered', t.status) END;
  END IF;
  IF offer_trip.driver_id IS NOT NULL THEN
    IF NOT EXISTS (SELECT 1 FROM drivers d WHERE d.id = offer_trip.driver_id) THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
        DETAIL = format('no driver with id %s', offer_trip.driver_id);
    END IF;
    PERFORM 1 FROM drivers d WHERE d.id = offer_trip.driver_id FOR UPDATE;
    why := dispatch_exclusion(t, offer_trip.driver_id);
    IF why IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'driver is not eligible for this trip',
        DETAIL = format('excluded by rule %s (see explain_dispatch)', why);
    END IF;
    PERFORM dispatch_make_offer(t.id, offer_trip.driver_id, current_user_id(),
                                coalesce(t.offer_radius, t.driver_discovery_radius),
                                (SELECT dispatch_distance(t.origin_lat, t.origin_lng, l.latitude, l.longitude)
                                   FROM driver_locations l WHERE l.driver_id = offer_trip.driver_id));
    RETURN offer_trip.driver_id;
  END IF;
  chosen := dispatch_offer_next(t.id, current_user_id());
  IF chosen IS NULL AND t.offer_radius IS NOT NULL THEN
    UPDATE trips SET offer_radius = NULL WHERE id = t.id;
  END IF;
  RETURN chosen;
END
$$;
COMMENT ON FUNCTION offer_trip(uuid, uuid) IS
  'Offers a PUBLISHED or FULL trip without a driver to the given driver (who must be eligible: PT409 naming the rule otherwise) or to the best eligible one, widening the radius in steps (steppergo.dispatch_radius_factor up to steppergo.dispatch_max_radius). The trip becomes OFFERED with acceptance_deadline = now + steppergo.dispatch_acceptance_timeout seconds; an OFFERED trip_acceptance_logs row, a TRIP_OFFER PUSH notification and a pg_notify on channel steppergo_dispatch reach the driver. Returns the driver offered, or NULL (trip unchanged) when nobody is eligible. For the organizer, an ADMIN or trusted callers (42501); unknown trip or driver PT404; a trip in another state or already offered PT409.';
SELECT api_expose('offer_trip(uuid, uuid)'::regprocedure, 'authenticated');

-- Lock the trip and check that it is offered to this driver right now.
CREATE FUNCTION dispatch_lock_offer(trip_id uuid, driver_id uuid, enforce_deadline boolean) RETURNS trips
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  drv drivers;
BEGIN
  PERFORM require_arg(dispatch_lock_offer.trip_id, 'trip_id');
  PERFORM require_arg(dispatch_lock_offer.driver_id, 'driver_id');
  SELECT * INTO drv FROM drivers d WHERE d.id = dispatch_lock_offer.driver_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
      DETAIL = format('no driver with id %s', dispatch_lock_offer.driver_id);
  END IF;
  PERFORM assert_acting_as(drv.user_id);
  SELECT * INTO t FROM trips x WHERE x.id = dispatch_lock_offer.trip_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('no trip with id %s', dispatch_lock_offer.trip_id);
  END IF;
  IF t.status <> 'OFFERED' OR t.offered_to_driver_id IS DISTINCT FROM drv.id THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the trip is not offered to this driver',
      DETAIL = CASE WHEN t.driver_id = drv.id THEN 'the driver already accepted the trip'
                    WHEN t.driver_id IS NOT NULL THEN 'another driver took the trip'
                    ELSE 'the offer was answered, expired or moved to another driver' END;
  END IF;
  IF enforce_deadline AND clock_timestamp() > t.acceptance_deadline THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the offer has expired',
      DETAIL = format('the acceptance deadline was %s', t.acceptance_deadline);
  END IF;
  RETURN t;
END
$$;
COMMENT ON FUNCTION dispatch_lock_offer(uuid, uuid, boolean) IS
  'Internal: checks arguments and caller (the driver''s user, an ADMIN or trusted: 42501 otherwise), locks the trip and raises PT409 unless it is offered to this driver now (and, when asked, before its deadline). Returns the locked trip.';

-- Log a driver's answer: trip_acceptance_logs row, visibility response, rate.
CREATE FUNCTION dispatch_log_answer(t trips, driver_id uuid, action trip_acceptance_action) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  o trip_acceptance_logs;
  answered timestamptz := clock_timestamp();
BEGIN
  SELECT * INTO o FROM trip_acceptance_logs a
   WHERE a.trip_id = t.id AND a.driver_id = dispatch_log_answer.driver_id AND a.action = 'OFFERED'
   ORDER BY a.offered_at DESC LIMIT 1;
  INSERT INTO trip_acceptance_logs (trip_id, driver_id, action, offered_at, responded_at,
                                    response_time_seconds, ip_address, user_agent, timeout_duration)
  VALUES (t.id, dispatch_log_answer.driver_id, action, coalesce(o.offered_at, answered), answered,
          greatest(0, floor(extract(epoch FROM answered - coalesce(o.offered_at, answered))))::integer,
          CASE WHEN action <> 'TIMEOUT' THEN request_ip() END,
          CASE WHEN action <> 'TIMEOUT' THEN left(request_header('user-agent'), 1024) END,
          o.timeout_duration);
  INSERT INTO trip_driver_visibility AS v (trip_id, driver_id, shown_at, response_action, response_at)
  VALUES (t.id, dispatch_log_answer.driver_id, coalesce(o.offered_at, answered), action, answered)
  ON CONFLICT ON CONSTRAINT trip_driver_visibility_once
  DO UPDATE SET response_action = EXCLUDED.response_action, response_at = EXCLUDED.response_at;
  PERFORM dispatch_refresh_acceptance_rate(dispatch_log_answer.driver_id);
END
$$;
COMMENT ON FUNCTION dispatch_log_answer(trips, uuid, trip_acceptance_action) IS
  'Internal: records a driver''s answer to an offer (ACCEPTED, DECLINED, TIMEOUT): a trip_acceptance_logs row with response time, IP and user agent, the trip_driver_visibility response, and the driver''s acceptance_rate.';

CREATE FUNCTION accept_trip(trip_id uuid, driver_id uuid) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  drv drivers;
  back trip_status;
BEGIN
  t := dispatch_lock_offer(accept_trip.trip_id, accept_trip.driver_id, true);
  SELECT * INTO drv FROM drivers d WHERE d.id = accept_trip.driver_id;
  back := CASE WHEN t.available_seats = 0 THEN 'FULL' ELSE 'PUBLISHED' END;
  UPDATE trips
     SET driver_id = drv.id, status = back, offered_to_driver_id = NULL, acceptance_deadline = NULL,
         offer_radius = NULL
   WHERE id = t.id;
  INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
  VALUES (t.id, 'OFFERED', back, drv.user_id, 'accepted by driver ' || drv.driver_id);
  PERFORM dispatch_log_answer(t, drv.id, 'ACCEPTED');
  INSERT INTO notifications (user_id, type, channel, recipient, subject, body)
  VALUES (t.organizer_id, 'TRIP_DRIVER_ASSIGNED', 'PUSH', t.organizer_id::text, 'Driver found',
          left(format('Driver %s accepted your trip "%s".', drv.driver_id, t.title), 10000));
  PERFORM dispatch_notify('TRIP_ACCEPTED', t.organizer_id, t.id,
                          jsonb_build_object('driver_id', drv.id, 'status', back));
END
$$;
COMMENT ON FUNCTION accept_trip(uuid, uuid) IS
  'The offered driver accepts the trip before its acceptance deadline (checked at call time): the trip gets driver_id and returns to PUBLISHED (FULL when no seat is left), the offer is cleared, an ACCEPTED trip_acceptance_logs row with response_time_seconds, the visibility response, a status history row (actor: the driver''s user), and the organizer is notified. Exactly one accept succeeds under any interleaving (the trip row is locked); every other answer gets PT409. Only the driver''s user (or an ADMIN, or a trusted caller) may call it: 42501.';
SELECT api_expose('accept_trip(uuid, uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION decline_trip(trip_id uuid, driver_id uuid) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  drv drivers;
BEGIN
  t := dispatch_lock_offer(decline_trip.trip_id, decline_trip.driver_id, false);
  SELECT * INTO drv FROM drivers d WHERE d.id = decline_trip.driver_id;
  PERFORM dispatch_log_answer(t, drv.id, 'DECLINED');
  IF dispatch_offer_next(t.id, drv.user_id) IS NULL THEN
    PERFORM dispatch_release(t.id, drv.user_id, 'declined by driver ' || drv.driver_id || '; no other driver eligible');
  END IF;
END
$$;
COMMENT ON FUNCTION decline_trip(uuid, uuid) IS
  'The offered driver declines the trip (also after the deadline, as long as the offer is still theirs): a DECLINED trip_acceptance_logs row and visibility response, then the next eligible driver is offered at once (widening the radius); when nobody is, the trip returns to PUBLISHED (or FULL) and the organizer is notified. Only the driver''s user (or an ADMIN, or a trusted caller): 42501; a stale offer PT409.';
SELECT api_expose('decline_trip(uuid, uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION process_acceptance_timeouts() RETURNS integer
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  x record;
  t trips;
  n integer := 0;
BEGIN
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  -- SKIP LOCKED: a trip locked by an answer in flight is left to that answer
  FOR x IN SELECT id FROM trips
            WHERE status = 'OFFERED' AND acceptance_deadline < clock_timestamp()
            ORDER BY acceptance_deadline
              FOR UPDATE SKIP LOCKED LOOP
    BEGIN
      SELECT * INTO t FROM trips WHERE id = x.id;
      CONTINUE WHEN t.status <> 'OFFERED' OR t.acceptance_deadline >= clock_timestamp();
      PERFORM dispatch_log_answer(t, t.offered_to_driver_id, 'TIMEOUT');
      IF dispatch_offer_next(t.id, NULL) IS NULL THEN
        PERFORM dispatch_release(t.id, NULL, 'offer timed out; no other driver eligible');
      END IF;
      n := n + 1;
    EXCEPTION WHEN OTHERS THEN
      -- one broken trip must not stop the others; it is retried next time
      RAISE WARNING 'steppergo: acceptance timeout of trip % failed: % (%)', x.id, SQLERRM, SQLSTATE;
    END;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION process_acceptance_timeouts() IS
  'Acts on every offer past its acceptance deadline: a TIMEOUT trip_acceptance_logs row and visibility response, then the next eligible driver is offered (widening the radius in steps); when nobody is, the trip returns to PUBLISHED (or FULL) and the organizer is notified. Returns the number of expired offers handled. Trips locked by an answer in flight are skipped (the answer decides). Run by the pg_cron job steppergo_dispatch_timeouts through dispatch_timeout_worker; for trusted callers and ADMINs.';
SELECT api_expose('process_acceptance_timeouts()'::regprocedure, 'service');

-- The pg_cron job (src/dispatch/worker.c).  pg_cron starts it once a minute;
-- it keeps checking every steppergo.dispatch_job_interval seconds for
-- steppergo.dispatch_job_duration seconds, committing after each check so
-- that every offer it makes is visible (and notified) at once.  A session
-- advisory lock keeps two runs from overlapping.  In C: a procedure that
-- commits may have neither SET options nor SECURITY DEFINER.
CREATE PROCEDURE dispatch_timeout_worker()
  AS 'MODULE_PATHNAME', 'sg_dispatch_timeout_worker'
  LANGUAGE C;
COMMENT ON PROCEDURE dispatch_timeout_worker() IS
  'The body of the pg_cron job steppergo_dispatch_timeouts: under the session advisory lock (1397180243, 4) (a run that finds it taken returns at once), calls process_acceptance_timeouts() every steppergo.dispatch_job_interval seconds for steppergo.dispatch_job_duration seconds, committing after each call, so expired offers are acted on within seconds although pg_cron starts jobs at most once a minute. Inside a transaction block it makes one check.';

-- internal: only pg_cron (as the job owner) and superusers run it
REVOKE ALL ON PROCEDURE dispatch_timeout_worker() FROM PUBLIC;

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_dispatch_timeouts', '* * * * *', 'CALL steppergo.dispatch_timeout_worker()',
   'Expired trip offers: every minute a run that checks every steppergo.dispatch_job_interval seconds for steppergo.dispatch_job_duration seconds (offers last 15-30 s), TIMEOUT logged and the next driver offered.');
-- ===========================================================================
-- trips (release 0.2): creating and publishing trips, the status machine,
-- seats (C), boarding, driver reviews, Stripe payments and webhooks.
--
-- Lock order everywhere: trip row (FOR NO KEY UPDATE), then booking, then
-- payment, then driver.  See src/trips/README.md.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- The status machine as data: every allowed move and who may make it
-- ---------------------------------------------------------------------------
CREATE FUNCTION trip_status_transitions()
  RETURNS TABLE (from_status trip_status, to_status trip_status, allowed text[], requires text)
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
  SELECT f::trip_status, t::trip_status, a::text[], r
    FROM (VALUES
      ('DRAFT',              'PUBLISHED',          '{organizer,admin}',        'departure in the future'),
      ('DRAFT',              'CANCELLED',          '{organizer,admin}',        NULL),
      ('PUBLISHED',          'OFFERED',            '{dispatch}',               'offer_trip'),
      ('PUBLISHED',          'FULL',               '{seats}',                  'book_seats takes the last seat'),
      ('PUBLISHED',          'IN_PROGRESS',        '{driver,admin}',           'a driver assigned'),
      ('PUBLISHED',          'CANCELLED',          '{organizer,admin}',        NULL),
      ('OFFERED',            'PUBLISHED',          '{dispatch}',               'accept, decline or timeout'),
      ('OFFERED',            'FULL',               '{dispatch}',               'accept, decline or timeout with no seat left'),
      ('FULL',               'PUBLISHED',          '{seats}',                  'a cancelled booking releases seats'),
      ('FULL',               'OFFERED',            '{dispatch}',               'offer_trip'),
      ('FULL',               'IN_PROGRESS',        '{driver,admin}',           'a driver assigned'),
      ('FULL',               'CANCELLED',          '{organizer,admin}',        NULL),
      ('IN_PROGRESS',        'DEPARTED',           '{driver,admin}',           NULL),
      ('IN_PROGRESS',        'EN_ROUTE',           '{driver,admin}',           NULL),
      ('IN_PROGRESS',        'DRIVER_ARRIVED',     '{driver,admin}',           NULL),
      ('IN_PROGRESS',        'DELAYED',            '{driver,admin}',           NULL),
      ('IN_PROGRESS',        'CANCELLED',          '{organizer,driver,admin}', NULL),
      ('DEPARTED',           'EN_ROUTE',           '{driver,admin}',           NULL),
      ('DEPARTED',           'DRIVER_ARRIVED',     '{driver,admin}',           NULL),
      ('DEPARTED',           'DELAYED',            '{driver,admin}',           NULL),
      ('DEPARTED',           'CANCELLED',          '{organizer,driver,admin}', NULL),
      ('EN_ROUTE',           'DRIVER_ARRIVED',     '{driver,admin}',           NULL),
      ('EN_ROUTE',           'DELAYED',            '{driver,admin}',           NULL),
      ('EN_ROUTE',           'CANCELLED',          '{organizer,driver,admin}', NULL),
      ('DRIVER_ARRIVED',     'PASSENGERS_BOARDED', '{driver,admin}',           'every live booking boarded or a no-show'),
      ('DRIVER_ARRIVED',     'CANCELLED',          '{organizer,driver,admin}', NULL),
      ('PASSENGERS_BOARDED', 'IN_TRANSIT',         '{driver,admin}',           NULL),
      ('PASSENGERS_BOARDED', 'DELAYED',            '{driver,admin}',           NULL),
      ('PASSENGERS_BOARDED', 'ARRIVED',            '{driver,admin}',           NULL),
      ('PASSENGERS_BOARDED', 'CANCELLED',          '{admin}',                  NULL),
      ('IN_TRANSIT',         'DELAYED',            '{driver,admin}',           NULL),
      ('IN_TRANSIT',         'ARRIVED',            '{driver,admin}',           NULL),
      ('IN_TRANSIT',         'CANCELLED',          '{admin}',                  NULL),
      ('DELAYED',            'EN_ROUTE',           '{driver,admin}',           'passengers not boarded yet'),
      ('DELAYED',            'DRIVER_ARRIVED',     '{driver,admin}',           'passengers not boarded yet'),
      ('DELAYED',            'IN_TRANSIT',         '{driver,admin}',           'passengers boarded'),
      ('DELAYED',            'ARRIVED',            '{driver,admin}',           'passengers boarded'),
      ('DELAYED',            'CANCELLED',          '{organizer,driver,admin}', 'passengers not boarded yet (admin: always)'),
      ('ARRIVED',            'COMPLETED',          '{driver,admin}',           NULL),
      ('ARRIVED',            'CANCELLED',          '{admin}',                  NULL)
    ) v(f, t, a, r)
$$;
COMMENT ON FUNCTION trip_status_transitions() IS
  'The trip status machine: every allowed move (from_status, to_status), who may make it (organizer, driver, admin; dispatch = only offer_trip/accept_trip/decline_trip and the timeout job; seats = only book_seats/cancel_booking), and what it requires. A trusted caller without an actor acts as the platform and may make every organizer/driver/admin move. Anything not listed is refused with PT409.';
SELECT api_expose('trip_status_transitions()'::regprocedure, 'anon');

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------
CREATE FUNCTION assert_trip_visible(trip_tenant uuid, trip_id uuid) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF trip_tenant IS NOT NULL AND NOT is_trusted_caller()
     AND current_app_role() IS DISTINCT FROM 'ADMIN'
     AND current_tenant_id() IS DISTINCT FROM trip_tenant THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('No trip with id %s.', trip_id);
  END IF;
END
$$;
COMMENT ON FUNCTION assert_trip_visible(uuid, uuid) IS
  'Internal: raises PT404 (as for an unknown trip) when a tenant''s trip is looked at by a caller of another tenant; trusted callers and admins see every trip.';

CREATE FUNCTION money_fits_currency(amount numeric, currency text) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN amount = round(amount, (SELECT c.minor_unit FROM currencies c WHERE c.code = money_fits_currency.currency));
COMMENT ON FUNCTION money_fits_currency(numeric, text) IS
  'Internal: true when the amount has no more decimals than the currency''s minor unit.';

CREATE FUNCTION departure_local(trip trips) RETURNS timestamp
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN (trip).departure_time AT TIME ZONE (trip).timezone;
COMMENT ON FUNCTION departure_local(trips) IS
  'The trip''s departure as local wall-clock time in the trip''s own IANA zone (Asia/Almaty: UTC+5 since 2024-03-01). A computed column for PostgREST (select=departure_local).';
SELECT api_expose('departure_local(trips)'::regprocedure, 'anon');

CREATE FUNCTION return_local(trip trips) RETURNS timestamp
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN (trip).return_time AT TIME ZONE (trip).timezone;
COMMENT ON FUNCTION return_local(trips) IS
  'The trip''s return as local wall-clock time in the trip''s own IANA zone; NULL without a return. A computed column for PostgREST.';
SELECT api_expose('return_local(trips)'::regprocedure, 'anon');

-- ---------------------------------------------------------------------------
-- Creating and publishing trips
-- ---------------------------------------------------------------------------
CREATE FUNCTION create_trip(title text, origin_name text, origin_lat float8, origin_lng float8,
                            dest_name text, dest_lat float8, dest_lng float8,
                            departure_time timestamptz, total_seats integer,
                            trip_type trip_type DEFAULT 'PRIVATE',
                            base_price numeric DEFAULT NULL, price_per_seat numeric DEFAULT NULL,
                            currency text DEFAULT NULL, timezone text DEFAULT NULL,
                            return_time timestamptz DEFAULT NULL,
                            origin_address text DEFAULT NULL, dest_address text DEFAULT NULL,
                            itinerary jsonb DEFAULT NULL, description text DEFAULT NULL,
                            driver_discovery_radius integer DEFAULT 5000,
                            organizer_id uuid DEFAULT NULL, tenant_id uuid DEFAULT NULL,
                            publish boolean DEFAULT false)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  trusted boolean := is_trusted_caller();
  organizer uuid := create_trip.organizer_id;
  tenant uuid := create_trip.tenant_id;
  cur text;
  tz text;
  gross numeric;
  split record;
  new_id uuid;
BEGIN
  PERFORM require_arg(title, 'title');
  PERFORM require_arg(origin_name, 'origin_name');
  PERFORM require_arg(origin_lat, 'origin_lat');
  PERFORM require_arg(origin_lng, 'origin_lng');
  PERFORM require_arg(dest_name, 'dest_name');
  PERFORM require_arg(dest_lat, 'dest_lat');
  PERFORM require_arg(dest_lng, 'dest_lng');
  PERFORM require_arg(departure_time, 'departure_time');
  PERFORM require_arg(total_seats, 'total_seats');
  PERFORM require_arg(trip_type, 'trip_type');
  PERFORM require_arg(publish, 'publish');

  -- who organises it, for which tenant
  IF trusted THEN
    PERFORM require_arg(organizer, 'organizer_id');
  ELSE
    organizer := coalesce(organizer, current_user_id());
    PERFORM assert_acting_as(organizer);
    IF current_app_role() IS DISTINCT FROM 'ADMIN' THEN
      IF tenant IS NOT NULL AND tenant IS DISTINCT FROM current_tenant_id() THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not allowed to create trips for another tenant';
      END IF;
      tenant := current_tenant_id();
    END IF;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = organizer) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'organizer not found',
      DETAIL = format('No user with id %s.', organizer);
  END IF;
  IF tenant IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = tenant) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'tenant not found',
      DETAIL = format('No tenant with id %s.', tenant);
  END IF;

  -- places, times, seats
  IF length(btrim(title)) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'title must be a text of 1 to 200 characters';
  END IF;
  IF length(description) > 5000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'description must be at most 5000 characters';
  END IF;
  IF length(btrim(origin_name)) NOT BETWEEN 1 AND 200 OR length(btrim(dest_name)) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'origin_name and dest_name must be texts of 1 to 200 characters';
  END IF;
  IF length(origin_address) > 500 OR length(dest_address) > 500 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'addresses must be at most 500 characters';
  END IF;
  IF NOT is_valid_lat(origin_lat) OR NOT is_valid_lng(origin_lng) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'origin coordinates out of range',
      DETAIL = 'lat must be in -90..90 and lng in -180..180.';
  END IF;
  IF NOT is_valid_lat(dest_lat) OR NOT is_valid_lng(dest_lng) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'destination coordinates out of range',
      DETAIL = 'lat must be in -90..90 and lng in -180..180.';
  END IF;
  PERFORM validate_itinerary(itinerary);
  IF departure_time <= now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'departure_time must be in the future';
  END IF;
  IF return_time IS NOT NULL AND return_time <= departure_time THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'return_time must be after departure_time';
  END IF;
  IF total_seats NOT BETWEEN 1 AND 60 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'total_seats must be between 1 and 60',
      DETAIL = format('total_seats is %s.', total_seats);
  END IF;
  IF driver_discovery_radius IS NULL OR driver_discovery_radius NOT BETWEEN 100 AND 500000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'driver_discovery_radius must be between 100 and 500000 metres';
  END IF;

  -- zone and currency: the argument, else the tenant's, else Almaty and tenge
  tz := coalesce(timezone, (SELECT t.timezone FROM tenants t WHERE t.id = tenant), 'Asia/Almaty');
  IF NOT is_valid_timezone(tz) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'timezone is not a known IANA time zone',
      DETAIL = format('timezone is %s.', left(tz, 100)), HINT = 'For example Asia/Almaty.';
  END IF;
  cur := coalesce(currency, (SELECT t.currency FROM tenants t WHERE t.id = tenant), 'KZT');
  IF NOT EXISTS (SELECT 1 FROM currencies c WHERE c.code = cur) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'currency is not a known ISO 4217 code',
      DETAIL = format('currency is %s.', left(cur, 10));
  END IF;

  -- prices: PRIVATE the whole vehicle, SHARED by the seat
  IF trip_type = 'PRIVATE' THEN
    IF base_price IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'base_price must not be null for a PRIVATE trip';
    END IF;
    gross := base_price;
  ELSE
    IF price_per_seat IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'price_per_seat must not be null for a SHARED trip';
    END IF;
    gross := price_per_seat * total_seats;
  END IF;
  IF base_price < 0 OR price_per_seat < 0 OR base_price >= 1e12 OR price_per_seat >= 1e10 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'prices must be between 0 and 10^12';
  END IF;
  IF NOT money_fits_currency(coalesce(base_price, 0), cur) OR NOT money_fits_currency(coalesce(price_per_seat, 0), cur) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'prices have more decimals than the currency''s minor unit',
      DETAIL = format('currency %s', cur);
  END IF;
  SELECT * INTO split
    FROM payout_split(gross, platform_rate(tenant), (SELECT c.minor_unit FROM currencies c WHERE c.code = cur));

  INSERT INTO trips (title, description, organizer_id, departure_time, return_time, timezone,
                     origin_name, origin_address, origin_lat, origin_lng,
                     dest_name, dest_address, dest_lat, dest_lng,
                     total_seats, available_seats, base_price, price_per_seat, currency,
                     platform_fee, estimated_earnings, itinerary, status, trip_type, tenant_id,
                     driver_discovery_radius)
  VALUES (btrim(title), description, organizer, departure_time, return_time, tz,
          btrim(origin_name), origin_address, origin_lat, origin_lng,
          btrim(dest_name), dest_address, dest_lat, dest_lng,
          total_seats, total_seats, coalesce(base_price, 0), price_per_seat, cur,
          split.platform_fee, split.driver_amount, itinerary, 'DRAFT', trip_type, tenant,
          driver_discovery_radius)
  RETURNING id INTO new_id;
  INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
  VALUES (new_id, NULL, 'DRAFT', CASE WHEN trusted THEN organizer ELSE current_user_id() END, 'created');

  IF publish THEN
    PERFORM transition_trip(new_id, 'PUBLISHED', CASE WHEN trusted THEN organizer END, NULL);
  END IF;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION create_trip(text, text, float8, float8, text, float8, float8, timestamptz, integer, trip_type,
                                numeric, numeric, text, text, timestamptz, text, text, jsonb, text, integer, uuid, uuid, boolean) IS
  'Creates a trip in DRAFT (published at once with publish => true) and returns its id. PRIVATE: the whole vehicle for one booking at base_price; SHARED: seats sold one by one at price_per_seat. platform_fee and estimated_earnings are the payout split of the full price (base_price, or price_per_seat times total_seats) at the tenant''s platform rate (15 % by default). Zone and currency default to the tenant''s, else Asia/Almaty and KZT. The organizer is the caller (an admin or a trusted backend names organizer_id). Invalid values raise 22023, missing ones 22004, unknown organizer or tenant PT404.';
SELECT api_expose('create_trip(text, text, float8, float8, text, float8, float8, timestamptz, integer, trip_type, numeric, numeric, text, text, timestamptz, text, text, jsonb, text, integer, uuid, uuid, boolean)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- transition_trip: the one way to move a trip by hand
-- ---------------------------------------------------------------------------
CREATE FUNCTION transition_trip(trip_id uuid, new_status trip_status, actor_id uuid DEFAULT NULL,
                                reason text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips%ROWTYPE;
  rule record;
  trusted boolean := is_trusted_caller();
  actor uuid;
  actor_role user_role;
  driver_user uuid;
  who text[] := '{}';
  pending_n integer;
  was_on_road boolean;
BEGIN
  PERFORM require_arg(trip_id, 'trip_id');
  PERFORM require_arg(new_status, 'new_status');
  IF length(reason) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22001', MESSAGE = 'reason must be at most 1000 characters';
  END IF;

  SELECT * INTO t FROM trips WHERE id = transition_trip.trip_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('No trip with id %s.', transition_trip.trip_id);
  END IF;
  PERFORM assert_trip_visible(t.tenant_id, t.id);

  -- the acting user: the caller, or the user a trusted backend names
  IF trusted THEN
    actor := transition_trip.actor_id;
  ELSE
    actor := current_user_id();
    IF actor IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
    END IF;
    IF transition_trip.actor_id IS NOT NULL AND transition_trip.actor_id IS DISTINCT FROM actor THEN
      RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not allowed to act for another user';
    END IF;
  END IF;
  IF actor IS NOT NULL THEN
    SELECT u.role INTO actor_role FROM users u WHERE u.id = actor;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'actor not found',
        DETAIL = format('No user with id %s.', actor);
    END IF;
    IF NOT trusted THEN
      actor_role := current_app_role();
    END IF;
    SELECT d.user_id INTO driver_user FROM drivers d WHERE d.id = t.driver_id;
    IF actor = t.organizer_id THEN who := array_append(who, 'organizer'); END IF;
    IF actor = driver_user THEN who := array_append(who, 'driver'); END IF;
    IF actor_role = 'ADMIN' THEN who := array_append(who, 'admin'); END IF;
  END IF;

  SELECT * INTO rule FROM trip_status_transitions() s
   WHERE s.from_status = t.status AND s.to_status = new_status;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('invalid status transition from %s to %s', t.status, new_status),
      HINT = 'SELECT * FROM steppergo.trip_status_transitions() lists the allowed moves.';
  END IF;
  IF rule.allowed && '{dispatch}' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('the move from %s to %s belongs to dispatch', t.status, new_status),
      HINT = 'Offers move trips into and out of OFFERED: offer_trip, accept_trip, decline_trip.';
  END IF;
  IF rule.allowed && '{seats}' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('the move from %s to %s follows the seats', t.status, new_status),
      HINT = 'book_seats fills a trip, cancel_booking reopens it.';
  END IF;
  IF NOT (trusted AND actor IS NULL) AND NOT (rule.allowed && who) THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('not allowed to move the trip from %s to %s', t.status, new_status),
      DETAIL = format('Allowed: %s.', array_to_string(rule.allowed, ', '));
  END IF;

  -- what the move requires
  IF new_status = 'PUBLISHED' AND t.departure_time <= now() THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'cannot publish a trip whose departure time has passed';
  END IF;
  IF new_status = 'IN_PROGRESS' AND t.driver_id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('cannot move the trip from %s to IN_PROGRESS without a driver', t.status);
  END IF;
  IF t.status = 'DELAYED' THEN
    IF new_status IN ('EN_ROUTE', 'DRIVER_ARRIVED') AND t.passengers_boarded_at IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409',
        MESSAGE = format('invalid status transition from DELAYED to %s: passengers are on board', new_status);
    END IF;
    IF new_status IN ('IN_TRANSIT', 'ARRIVED') AND t.passengers_boarded_at IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409',
        MESSAGE = format('invalid status transition from DELAYED to %s: passengers are not on board', new_status);
    END IF;
    IF new_status = 'CANCELLED' AND t.passengers_boarded_at IS NOT NULL
       AND NOT (trusted AND actor IS NULL) AND NOT ('admin' = ANY (who)) THEN
      RAISE EXCEPTION USING ERRCODE = '42501',
        MESSAGE = 'not allowed to move the trip from DELAYED to CANCELLED: passengers are on board';
    END IF;
  END IF;
  IF new_status = 'PASSENGERS_BOARDED' THEN
    SELECT count(*) INTO pending_n FROM bookings b
     WHERE b.trip_id = t.id AND b.status IN ('PENDING', 'CONFIRMED')
       AND b.boarded_at IS NULL AND b.no_show_at IS NULL;
    IF pending_n > 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409',
        MESSAGE = format('cannot move the trip from %s to PASSENGERS_BOARDED', t.status),
        DETAIL = format('%s live bookings are neither boarded nor marked no-show.', pending_n);
    END IF;
  END IF;

  was_on_road := t.status NOT IN ('DRAFT', 'PUBLISHED', 'OFFERED', 'FULL');

  -- side effects, in this transaction
  IF new_status = 'IN_PROGRESS' THEN
    PERFORM set_driver_availability(t.driver_id, 'BUSY', format('trip %s started', t.id), 'system');
  ELSIF new_status = 'COMPLETED' THEN
    UPDATE bookings b SET status = 'COMPLETED', completed_at = now()
     WHERE b.trip_id = t.id AND b.status = 'CONFIRMED';
    -- unpaid bookings never travelled: cancelled, their seats released
    WITH c AS (
      UPDATE bookings b SET status = 'CANCELLED', cancelled_at = now(), expires_at = NULL,
                            cancellation_reason = 'unpaid when the trip completed'
       WHERE b.trip_id = t.id AND b.status = 'PENDING'
      RETURNING b.seats_booked)
    SELECT coalesce(sum(seats_booked), 0) INTO pending_n FROM c;
    t.available_seats := t.available_seats + pending_n;
    IF t.driver_id IS NOT NULL THEN
      UPDATE drivers d SET completed_trips = d.completed_trips + 1 WHERE d.id = t.driver_id;
      PERFORM set_driver_availability(t.driver_id, 'ONLINE', format('trip %s completed', t.id), 'system');
    END IF;
  ELSIF new_status = 'CANCELLED' THEN
    WITH c AS (
      UPDATE bookings b SET status = 'CANCELLED', cancelled_at = now(), expires_at = NULL,
                            cancellation_reason = left('trip cancelled' || coalesce(': ' || reason, ''), 1000)
       WHERE b.trip_id = t.id AND b.status IN ('PENDING', 'CONFIRMED')
      RETURNING b.id, b.seats_booked),
    p AS (
      UPDATE payments p SET refund_requested_at = now()
        FROM c WHERE p.booking_id = c.id AND p.status = 'SUCCEEDED' AND p.refund_requested_at IS NULL
      RETURNING p.id)
    SELECT coalesce(sum(c.seats_booked), 0) INTO pending_n FROM c;
    t.available_seats := t.available_seats + pending_n;
    IF was_on_road AND t.driver_id IS NOT NULL THEN
      PERFORM set_driver_availability(t.driver_id, 'ONLINE', format('trip %s cancelled', t.id), 'system');
    END IF;
  END IF;

  UPDATE trips x
     SET status = new_status,
         available_seats = t.available_seats,
         published_at = CASE WHEN new_status = 'PUBLISHED' THEN coalesce(x.published_at, now()) ELSE x.published_at END,
         started_at = CASE WHEN new_status = 'IN_PROGRESS' THEN now() ELSE x.started_at END,
         driver_arrived_at = CASE WHEN new_status = 'DRIVER_ARRIVED' THEN now() ELSE x.driver_arrived_at END,
         passengers_boarded_at = CASE WHEN new_status = 'PASSENGERS_BOARDED' THEN now() ELSE x.passengers_boarded_at END,
         completed_at = CASE WHEN new_status = 'COMPLETED' THEN now() ELSE x.completed_at END,
         cancelled_at = CASE WHEN new_status = 'CANCELLED' THEN now() ELSE x.cancelled_at END,
         cancellation_reason = CASE WHEN new_status = 'CANCELLED' THEN reason ELSE x.cancellation_reason END
   WHERE x.id = t.id;
  INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
  VALUES (t.id, t.status, new_status, actor, reason);
END
$$;
COMMENT ON FUNCTION transition_trip(uuid, trip_status, uuid, text) IS
  'Moves a trip to another status by the table of trip_status_transitions(): an illegal move raises PT409 naming both statuses, a move the caller may not make 42501. Records every move in trip_status_history (actor: the caller, or actor_id when a trusted backend acts for a user; NULL for the platform). Side effects in the same transaction: IN_PROGRESS marks the driver BUSY; COMPLETED completes the confirmed bookings (unpaid ones are cancelled), sets completed_at, counts the driver''s completed_trips and frees the driver (ONLINE); CANCELLED cancels every live booking, releases the seats, marks paid payments for refund (payments.refund_requested_at) and frees a driver who was on the road. Moves into and out of OFFERED belong to dispatch, FULL follows the seats.';
SELECT api_expose('transition_trip(uuid, trip_status, uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION publish_trip(trip_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM transition_trip(trip_id, 'PUBLISHED');
END
$$;
COMMENT ON FUNCTION publish_trip(uuid) IS
  'Publishes a DRAFT trip (transition_trip to PUBLISHED): it becomes bookable and visible to dispatch. Only the organizer or an admin; the departure must be in the future.';
SELECT api_expose('publish_trip(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Seats (C): book_seats, cancel_booking, expiry of unpaid bookings
-- ---------------------------------------------------------------------------
CREATE FUNCTION book_seats(trip_id uuid, user_id uuid, seats integer, passengers jsonb DEFAULT '[]',
                           payment_method payment_method_type DEFAULT 'ONLINE')
  RETURNS uuid
  AS 'MODULE_PATHNAME', 'sg_trips_book_seats'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION book_seats(uuid, uuid, integer, jsonb, payment_method_type) IS
  'Books seats on a PUBLISHED or OFFERED trip for the user and returns the booking id. passengers lists one entry per seat ({"name", "phone"? E.164, "age"?, "isChild"?}); an empty array books one seat for the user. SHARED: seats at price_per_seat each. PRIVATE: the whole vehicle (every seat, base_price) for one booking; seats is the party size. ONLINE bookings are PENDING until paid and expire after steppergo.booking_payment_timeout (expires_at); CASH_TO_DRIVER bookings are CONFIRMED at once. Taking the last seat moves a PUBLISHED trip to FULL. Refusals: PT404 unknown trip or user, PT409 not bookable, departed, not enough seats, private trip already booked, the user already has a live booking on the trip; 22023 bad seats or passengers. Seats are allocated under the trip''s row lock: available_seats never drops below zero and always equals total_seats minus the seats of the live bookings.';
SELECT api_expose('book_seats(uuid, uuid, integer, jsonb, payment_method_type)'::regprocedure, 'authenticated');

CREATE FUNCTION cancel_booking(booking_id uuid, reason text DEFAULT NULL)
  RETURNS void
  AS 'MODULE_PATHNAME', 'sg_trips_cancel_booking'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION cancel_booking(uuid, text) IS
  'Cancels a live (PENDING or CONFIRMED) booking of the caller (or any, for an admin): releases its seats, reopens a FULL trip (PUBLISHED) and marks a paid payment for refund (payments.refund_requested_at). Cancelling twice, or a boarded booking, is PT409; unknown booking PT404.';
SELECT api_expose('cancel_booking(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION expire_booking(booking_id uuid)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'sg_trips_expire_booking'
  LANGUAGE C VOLATILE
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION expire_booking(uuid) IS
  'Internal (the expiry job): cancels one booking that is still PENDING past its expires_at and releases its seats, under the same locks as cancel_booking; false when it is not (paid meanwhile, already cancelled).';
REVOKE ALL ON FUNCTION expire_booking(uuid) FROM PUBLIC;

CREATE FUNCTION expire_unpaid_bookings(max_bookings integer DEFAULT 1000) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b record;
  n integer := 0;
BEGIN
  IF NOT is_trusted_caller() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'expire_unpaid_bookings is for trusted backends and the job';
  END IF;
  FOR b IN SELECT x.id FROM bookings x
            WHERE x.status = 'PENDING' AND x.expires_at <= now()
            ORDER BY x.expires_at LIMIT coalesce(max_bookings, 1000) LOOP
    IF expire_booking(b.id) THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION expire_unpaid_bookings(integer) IS
  'The expiry job: cancels unpaid ONLINE bookings past their expires_at (steppergo.booking_payment_timeout after booking, default 15 minutes), at most max_bookings per call, releasing their seats; returns how many. A payment that succeeds afterwards is marked for refund, never given a seat that is gone.';
SELECT api_expose('expire_unpaid_bookings(integer)'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_expire_unpaid_bookings', '* * * * *', 'SELECT steppergo.expire_unpaid_bookings()',
   'Every minute: cancels unpaid ONLINE bookings past their expires_at and releases their seats.');

-- ---------------------------------------------------------------------------
-- Boarding codes
-- ---------------------------------------------------------------------------
CREATE FUNCTION boarding_code_new() RETURNS text
  AS 'MODULE_PATHNAME', 'sg_trips_boarding_code_new'
  LANGUAGE C VOLATILE
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION boarding_code_new() IS 'Internal: four uniformly random digits (libsodium).';
REVOKE ALL ON FUNCTION boarding_code_new() FROM PUBLIC;

CREATE FUNCTION boarding_code_hash(booking_id uuid, code text) RETURNS bytea
  AS 'MODULE_PATHNAME', 'sg_trips_boarding_code_hash'
  LANGUAGE C STABLE
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION boarding_code_hash(uuid, text) IS
  'Internal: keyed BLAKE2b-256 (steppergo.otp_key) of a boarding code, bound to its booking.';
REVOKE ALL ON FUNCTION boarding_code_hash(uuid, text) FROM PUBLIC;

CREATE FUNCTION boarding_code_check(booking_id uuid, code text, stored bytea) RETURNS boolean
  AS 'MODULE_PATHNAME', 'sg_trips_boarding_code_check'
  LANGUAGE C STABLE
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION boarding_code_check(uuid, text, bytea) IS
  'Internal: true when the code matches the stored hash (constant-time comparison); false for a wrong or malformed code.';
REVOKE ALL ON FUNCTION boarding_code_check(uuid, text, bytea) FROM PUBLIC;

CREATE FUNCTION issue_boarding_code(booking_id uuid) RETURNS text
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b bookings%ROWTYPE;
  tstatus trip_status;
  code text;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  SELECT * INTO b FROM bookings x WHERE x.id = issue_boarding_code.booking_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', issue_boarding_code.booking_id);
  END IF;
  PERFORM assert_acting_as(b.user_id);
  IF b.status <> 'CONFIRMED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a CONFIRMED booking gets a boarding code',
      DETAIL = format('The booking is %s.', b.status);
  END IF;
  IF b.boarded_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the passenger has already boarded';
  END IF;
  SELECT t.status INTO tstatus FROM trips t WHERE t.id = b.trip_id;
  IF tstatus IN ('COMPLETED', 'CANCELLED', 'PASSENGERS_BOARDED', 'IN_TRANSIT', 'ARRIVED') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'boarding is over for this trip',
      DETAIL = format('The trip is %s.', tstatus);
  END IF;
  code := boarding_code_new();
  UPDATE bookings x
     SET boarding_code_hash = boarding_code_hash(x.id, code), boarding_code_issued_at = now(), boarding_attempts = 0
   WHERE x.id = b.id;
  RETURN code;
END
$$;
COMMENT ON FUNCTION issue_boarding_code(uuid) IS
  'Issues the 4-digit boarding code of the caller''s CONFIRMED booking and returns it: shown this once, stored only as a keyed hash. Issuing again replaces the code (the old one stops working) and clears wrong attempts. PT409 for a booking that is not CONFIRMED, already boarded, or a trip past boarding.';
SELECT api_expose('issue_boarding_code(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION assert_trip_driver(t trips) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF is_trusted_caller() THEN
    RETURN;
  END IF;
  IF current_user_id() IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  IF current_app_role() IS DISTINCT FROM 'ADMIN'
     AND NOT EXISTS (SELECT 1 FROM drivers d WHERE d.id = (t).driver_id AND d.user_id = current_user_id()) THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the trip''s driver may do this';
  END IF;
END
$$;
COMMENT ON FUNCTION assert_trip_driver(trips) IS
  'Internal: raises 42501 unless the caller is the trip''s driver, an admin or a trusted caller (PT401 when anonymous).';

CREATE FUNCTION board_passenger(booking_id uuid, code text) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  trip_ref uuid;
  t trips%ROWTYPE;
  b bookings%ROWTYPE;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  PERFORM require_arg(code, 'code');
  SELECT x.trip_id INTO trip_ref FROM bookings x WHERE x.id = board_passenger.booking_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', board_passenger.booking_id);
  END IF;
  SELECT * INTO t FROM trips x WHERE x.id = trip_ref FOR NO KEY UPDATE;
  PERFORM assert_trip_driver(t);
  SELECT * INTO b FROM bookings x WHERE x.id = board_passenger.booking_id FOR UPDATE;
  IF t.status <> 'DRIVER_ARRIVED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'passengers board while the trip is DRIVER_ARRIVED',
      DETAIL = format('The trip is %s.', t.status);
  END IF;
  IF b.status <> 'CONFIRMED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a CONFIRMED booking can board',
      DETAIL = format('The booking is %s.', b.status);
  END IF;
  IF b.boarded_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the passenger has already boarded';
  END IF;
  IF b.boarding_code_hash IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'no boarding code was issued for this booking',
      HINT = 'The passenger gets one with issue_boarding_code.';
  END IF;
  IF b.boarding_attempts >= 5 THEN
    RAISE EXCEPTION USING ERRCODE = 'PT429', MESSAGE = 'too many wrong boarding codes',
      HINT = 'The passenger issues a new code with issue_boarding_code.';
  END IF;
  IF NOT boarding_code_check(b.id, code, b.boarding_code_hash) THEN
    UPDATE bookings x SET boarding_attempts = x.boarding_attempts + 1 WHERE x.id = b.id;
    RETURN false;
  END IF;
  UPDATE bookings x SET boarded_at = now(), no_show_at = NULL WHERE x.id = b.id;
  RETURN true;
END
$$;
COMMENT ON FUNCTION board_passenger(uuid, text) IS
  'The driver enters the passenger''s boarding code while the trip is DRIVER_ARRIVED: true marks the booking boarded (clearing a no-show), false is a wrong code (counted; after 5 wrong codes PT429 until the passenger issues a new one). PT409 when the booking is not CONFIRMED, already boarded, or has no code; 42501 unless the trip''s driver or an admin.';
SELECT api_expose('board_passenger(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION mark_no_show(booking_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  trip_ref uuid;
  t trips%ROWTYPE;
  b bookings%ROWTYPE;
  wait interval := current_setting('steppergo.boarding_wait')::interval;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  SELECT x.trip_id INTO trip_ref FROM bookings x WHERE x.id = mark_no_show.booking_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', mark_no_show.booking_id);
  END IF;
  SELECT * INTO t FROM trips x WHERE x.id = trip_ref FOR NO KEY UPDATE;
  PERFORM assert_trip_driver(t);
  SELECT * INTO b FROM bookings x WHERE x.id = mark_no_show.booking_id FOR UPDATE;
  IF t.status <> 'DRIVER_ARRIVED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'no-shows are marked while the trip is DRIVER_ARRIVED',
      DETAIL = format('The trip is %s.', t.status);
  END IF;
  IF b.status NOT IN ('PENDING', 'CONFIRMED') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'booking is not live',
      DETAIL = format('The booking is %s.', b.status);
  END IF;
  IF b.boarded_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the passenger has already boarded';
  END IF;
  IF now() < t.driver_arrived_at + wait THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the waiting time has not passed yet',
      DETAIL = format('A no-show may be marked from %s (steppergo.boarding_wait = %s after the driver arrived).',
                      to_char((t.driver_arrived_at + wait) AT TIME ZONE t.timezone, 'YYYY-MM-DD HH24:MI:SS')
                        || ' ' || t.timezone, wait);
  END IF;
  UPDATE bookings x SET no_show_at = coalesce(x.no_show_at, now()) WHERE x.id = b.id;
END
$$;
COMMENT ON FUNCTION mark_no_show(uuid) IS
  'The driver marks a live booking that has not boarded a no-show, once steppergo.boarding_wait (default 5 minutes) has passed since the trip became DRIVER_ARRIVED; the booking keeps its seats and completes with the trip. PT409 before the waiting time or for a boarded or dead booking; 42501 unless the trip''s driver or an admin.';
SELECT api_expose('mark_no_show(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Driver reviews
-- ---------------------------------------------------------------------------
CREATE FUNCTION recount_driver_rating(driver_id uuid) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  -- lock first, then count in a later statement: its snapshot sees every
  -- review committed by whoever held the lock before us
  PERFORM 1 FROM drivers d WHERE d.id = recount_driver_rating.driver_id FOR UPDATE;
  UPDATE drivers d
     SET rating = coalesce(s.avg_rating, 0), review_count = s.n
    FROM (SELECT round(avg(r.rating), 2) AS avg_rating, count(*)::integer AS n
            FROM reviews r WHERE r.driver_id = recount_driver_rating.driver_id) s
   WHERE d.id = recount_driver_rating.driver_id;
END
$$;
COMMENT ON FUNCTION recount_driver_rating(uuid) IS
  'Internal: sets drivers.rating (average, 2 decimals; 0 without reviews) and review_count from the driver''s reviews, under the driver''s row lock, so concurrent reviews leave them exact.';

CREATE FUNCTION review_driver(booking_id uuid, rating integer, comment text DEFAULT NULL) RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b bookings%ROWTYPE;
  drv uuid;
  new_id uuid;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  PERFORM require_arg(rating, 'rating');
  IF rating NOT BETWEEN 1 AND 5 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'rating must be between 1 and 5',
      DETAIL = format('rating is %s.', rating);
  END IF;
  IF length(comment) > 2000 THEN
    RAISE EXCEPTION USING ERRCODE = '22001', MESSAGE = 'comment must be at most 2000 characters';
  END IF;
  SELECT * INTO b FROM bookings x WHERE x.id = review_driver.booking_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', review_driver.booking_id);
  END IF;
  PERFORM assert_acting_as(b.user_id);
  IF b.status <> 'COMPLETED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a COMPLETED booking can be reviewed',
      DETAIL = format('The booking is %s.', b.status);
  END IF;
  SELECT t.driver_id INTO drv FROM trips t WHERE t.id = b.trip_id;
  IF drv IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the trip had no driver';
  END IF;
  BEGIN
    INSERT INTO reviews (driver_id, trip_id, rating, comment, reviewer_id, reviewer_name)
    VALUES (drv, b.trip_id, rating, comment, b.user_id, (SELECT u.name FROM users u WHERE u.id = b.user_id))
    RETURNING id INTO new_id;
  EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the passenger has already reviewed this trip';
  END;
  PERFORM recount_driver_rating(drv);
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION review_driver(uuid, integer, text) IS
  'The passenger of a COMPLETED booking reviews the trip''s driver: rating 1..5 and an optional comment; once per passenger and trip (again: PT409). drivers.rating and review_count are recomputed in the same transaction. Returns the review id.';
SELECT api_expose('review_driver(uuid, integer, text)'::regprocedure, 'authenticated');

CREATE FUNCTION respond_to_review(review_id uuid, response text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  r reviews%ROWTYPE;
  driver_user uuid;
BEGIN
  PERFORM require_arg(review_id, 'review_id');
  PERFORM require_arg(response, 'response');
  IF length(btrim(response)) NOT BETWEEN 1 AND 2000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'response must be a text of 1 to 2000 characters';
  END IF;
  SELECT * INTO r FROM reviews x WHERE x.id = respond_to_review.review_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'review not found',
      DETAIL = format('No review with id %s.', respond_to_review.review_id);
  END IF;
  SELECT d.user_id INTO driver_user FROM drivers d WHERE d.id = r.driver_id;
  PERFORM assert_acting_as(driver_user);
  IF r.response IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the review already has a response';
  END IF;
  UPDATE reviews x SET response = respond_to_review.response, responded_at = now() WHERE x.id = r.id;
END
$$;
COMMENT ON FUNCTION respond_to_review(uuid, text) IS
  'The reviewed driver responds to a review, once (again: PT409); 42501 for anyone but the driver or an admin.';
SELECT api_expose('respond_to_review(uuid, text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Payments: PaymentIntents and Stripe webhooks
-- ---------------------------------------------------------------------------
CREATE FUNCTION payment_may_move(from_status payment_status, to_status payment_status) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN CASE to_status
           WHEN 'PROCESSING' THEN from_status IN ('PENDING', 'FAILED')
           WHEN 'SUCCEEDED'  THEN from_status IN ('PENDING', 'PROCESSING', 'FAILED', 'CANCELLED')
           WHEN 'FAILED'     THEN from_status IN ('PENDING', 'PROCESSING')
           WHEN 'CANCELLED'  THEN from_status IN ('PENDING', 'PROCESSING', 'FAILED')
           WHEN 'REFUNDED'   THEN from_status <> 'REFUNDED'
           ELSE false
         END;
COMMENT ON FUNCTION payment_may_move(payment_status, payment_status) IS
  'Whether a provider event may move a payment from one status to another: payments only move forwards (PENDING, PROCESSING, FAILED/CANCELLED retryable, SUCCEEDED, REFUNDED last), so a late or repeated event is ignored.';

CREATE FUNCTION attach_payment_intent(booking_id uuid, intent_id text, client_secret text,
                                      amount numeric, currency text DEFAULT 'KZT')
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b bookings%ROWTYPE;
  p payments%ROWTYPE;
  pay_id uuid;
  trip_ref uuid;
  w record;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  PERFORM require_arg(intent_id, 'intent_id');
  PERFORM require_arg(amount, 'amount');
  PERFORM require_arg(currency, 'currency');
  IF intent_id !~ '^pi_[A-Za-z0-9_]{1,252}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'intent_id must be a Stripe PaymentIntent id (pi_...)';
  END IF;
  IF length(client_secret) > 500 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'client_secret must be at most 500 characters';
  END IF;
  -- lock order: trip, booking, payment (applying waiting events locks the trip)
  SELECT x.trip_id INTO trip_ref FROM bookings x WHERE x.id = attach_payment_intent.booking_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', attach_payment_intent.booking_id);
  END IF;
  PERFORM 1 FROM trips t WHERE t.id = trip_ref FOR NO KEY UPDATE;
  SELECT * INTO b FROM bookings x WHERE x.id = attach_payment_intent.booking_id FOR UPDATE;
  PERFORM assert_acting_as(b.user_id);
  IF b.payment_method_type <> 'ONLINE' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the booking is paid in cash to the driver';
  END IF;
  IF amount <> b.total_amount OR upper(currency) <> b.currency THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'amount and currency must match the booking',
      DETAIL = format('The booking costs %s %s; the intent is for %s %s.', b.total_amount, b.currency,
                      amount, left(currency, 10));
  END IF;

  SELECT * INTO p FROM payments x WHERE x.booking_id = b.id FOR UPDATE;
  IF FOUND AND p.stripe_intent_id = intent_id THEN
    UPDATE payments x SET stripe_client_secret = coalesce(client_secret, x.stripe_client_secret) WHERE x.id = p.id;
    pay_id := p.id;
  ELSE
    IF b.status <> 'PENDING' THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a PENDING booking can be paid',
        DETAIL = format('The booking is %s.', b.status);
    END IF;
    IF FOUND THEN
      IF p.status NOT IN ('PENDING', 'FAILED', 'CANCELLED') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the booking''s payment is already under way',
          DETAIL = format('Payment %s is %s with intent %s.', p.id, p.status, p.stripe_intent_id);
      END IF;
      UPDATE payments x
         SET stripe_intent_id = intent_id, stripe_client_secret = client_secret, amount = b.total_amount,
             currency = b.currency, status = 'PENDING', error_message = NULL, failed_at = NULL
       WHERE x.id = p.id;
      pay_id := p.id;
    ELSE
      INSERT INTO payments (booking_id, stripe_intent_id, stripe_client_secret, amount, currency)
      VALUES (b.id, intent_id, client_secret, b.total_amount, b.currency)
      RETURNING id INTO pay_id;
    END IF;
  END IF;

  -- events that arrived before the intent was known are applied now
  FOR w IN SELECT l.id FROM webhook_logs l
            WHERE NOT l.processed AND l.source = 'stripe'
              AND intent_id IN (l.payload #>> '{data,object,id}', l.payload #>> '{data,object,payment_intent}')
            ORDER BY l.created_at LOOP
    PERFORM apply_webhook(w.id);
  END LOOP;
  RETURN pay_id;
END
$$;
COMMENT ON FUNCTION attach_payment_intent(uuid, text, text, numeric, text) IS
  'Records the Stripe PaymentIntent the application created for a PENDING ONLINE booking (id pi_..., client secret, amount, currency) and returns the payment id. The amount and currency must equal the booking''s (22023 otherwise). Attaching the same intent again is harmless; a new intent replaces one that is PENDING, FAILED or CANCELLED. Webhook events of the intent that arrived earlier are applied now.';
SELECT api_expose('attach_payment_intent(uuid, text, text, numeric, text)'::regprocedure, 'service');

-- Releases the seats of a booking that stops being live (refund); the trip
-- row is locked by the caller.
CREATE FUNCTION release_booking_seats(trip_id uuid, seats integer, reason text) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  old trip_status;
BEGIN
  SELECT t.status INTO old FROM trips t WHERE t.id = release_booking_seats.trip_id FOR NO KEY UPDATE;
  UPDATE trips t
     SET available_seats = t.available_seats + seats,
         status = CASE WHEN t.status = 'FULL' THEN 'PUBLISHED' ELSE t.status END
   WHERE t.id = release_booking_seats.trip_id;
  IF old = 'FULL' THEN
    INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
    VALUES (release_booking_seats.trip_id, 'FULL', 'PUBLISHED', NULL, reason);
  END IF;
END
$$;
COMMENT ON FUNCTION release_booking_seats(uuid, integer, text) IS
  'Internal: gives a booking''s seats back to its trip and reopens a FULL trip (recorded in trip_status_history).';

CREATE FUNCTION apply_stripe_intent_event(intent text, target payment_status, obj jsonb) RETURNS text
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  pay_ref uuid;
  trip_ref uuid;
  b bookings%ROWTYPE;
  p payments%ROWTYPE;
  ab record;
  minor integer;
  pmd jsonb;
  v_method text;
  v_last4 text;
BEGIN
  SELECT x.id, bk.trip_id INTO pay_ref, trip_ref
    FROM payments x JOIN bookings bk ON bk.id = x.booking_id WHERE x.stripe_intent_id = intent;
  IF NOT FOUND THEN
    -- an activity booking paid through Stripe: plain update, the activities
    -- domain's triggers keep its aggregates
    SELECT * INTO ab FROM activity_bookings a WHERE a.payment_id = intent FOR UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = format('no payment with intent %s', intent);
    END IF;
    IF NOT payment_may_move(ab.payment_status, target) THEN
      RETURN format('ignored: activity booking payment is %s', ab.payment_status);
    END IF;
    IF target = 'SUCCEEDED' THEN
      minor := (SELECT c.minor_unit FROM currencies c WHERE c.code = ab.currency);
      IF (obj ? 'amount' AND (obj ->> 'amount')::numeric <> ab.total_amount * 10 ^ minor)
         OR (obj ? 'currency' AND upper(obj ->> 'currency') <> ab.currency) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
          MESSAGE = format('amount %s %s of the event does not match the activity booking (%s %s)',
                           obj ->> 'amount', obj ->> 'currency', ab.total_amount, ab.currency);
      END IF;
    END IF;
    UPDATE activity_bookings a
       SET payment_status = target,
           status = CASE WHEN target = 'SUCCEEDED' AND a.status = 'PENDING' THEN 'CONFIRMED'
                         WHEN target = 'REFUNDED' THEN 'REFUNDED'
                         ELSE a.status END,
           confirmed_at = CASE WHEN target = 'SUCCEEDED' AND a.status = 'PENDING' THEN now() ELSE a.confirmed_at END
     WHERE a.id = ab.id;
    RETURN 'applied to activity booking';
  END IF;

  -- lock order: trip, booking, payment
  PERFORM 1 FROM trips t WHERE t.id = trip_ref FOR NO KEY UPDATE;
  SELECT * INTO b FROM bookings x WHERE x.id = (SELECT y.booking_id FROM payments y WHERE y.id = pay_ref) FOR UPDATE;
  SELECT * INTO p FROM payments x WHERE x.id = pay_ref FOR UPDATE;
  IF NOT payment_may_move(p.status, target) THEN
    RETURN format('ignored: payment is %s', p.status);
  END IF;

  IF target = 'SUCCEEDED' THEN
    minor := (SELECT c.minor_unit FROM currencies c WHERE c.code = p.currency);
    IF obj ? 'amount' AND (obj ->> 'amount')::numeric <> p.amount * 10 ^ minor THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('amount %s of the event does not match the payment (%s %s)', obj ->> 'amount', p.amount, p.currency);
    END IF;
    IF obj ? 'currency' AND upper(obj ->> 'currency') <> p.currency THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('currency %s of the event does not match the payment (%s)', obj ->> 'currency', p.currency);
    END IF;
    pmd := coalesce(obj #> '{charges,data,0,payment_method_details}', obj #> '{latest_charge,payment_method_details}');
    v_method := left(coalesce(pmd ->> 'type', obj #>> '{payment_method_types,0}'), 50);
    v_last4 := pmd #>> '{card,last4}';
    IF v_last4 !~ '^[0-9]{4}$' THEN
      v_last4 := NULL;
    END IF;
    UPDATE payments x
       SET status = 'SUCCEEDED', succeeded_at = now(), error_message = NULL,
           payment_method = coalesce(v_method, x.payment_method), last4 = coalesce(v_last4, x.last4),
           refund_requested_at = CASE WHEN b.status IN ('CANCELLED', 'REFUNDED') THEN coalesce(x.refund_requested_at, now())
                                      ELSE x.refund_requested_at END
     WHERE x.id = p.id;
    IF b.status = 'PENDING' THEN
      UPDATE bookings x SET status = 'CONFIRMED', confirmed_at = now(), expires_at = NULL WHERE x.id = b.id;
      RETURN 'booking confirmed';
    END IF;
    IF b.status IN ('CANCELLED', 'REFUNDED') THEN
      RETURN 'paid after the booking was cancelled: marked for refund';
    END IF;
    RETURN 'payment succeeded';
  ELSIF target = 'FAILED' THEN
    UPDATE payments x
       SET status = 'FAILED', failed_at = now(),
           error_message = left(coalesce(obj #>> '{last_payment_error,message}', 'payment failed'), 2000)
     WHERE x.id = p.id;
    RETURN 'payment failed';
  ELSIF target = 'REFUNDED' THEN
    UPDATE payments x SET status = 'REFUNDED', refunded_at = now() WHERE x.id = p.id;
    IF b.status IN ('PENDING', 'CONFIRMED', 'COMPLETED') THEN
      PERFORM release_booking_seats(b.trip_id, b.seats_booked, 'seats released by a refunded booking');
    END IF;
    UPDATE bookings x
       SET status = 'REFUNDED', expires_at = NULL,
           cancelled_at = CASE WHEN b.status IN ('PENDING', 'CONFIRMED') THEN now() ELSE x.cancelled_at END,
           cancellation_reason = CASE WHEN b.status IN ('PENDING', 'CONFIRMED') THEN 'payment refunded' ELSE x.cancellation_reason END
     WHERE x.id = b.id;
    RETURN 'refunded';
  ELSE
    UPDATE payments x SET status = target WHERE x.id = p.id;
    RETURN 'payment ' || lower(target::text);
  END IF;
END
$$;
COMMENT ON FUNCTION apply_stripe_intent_event(text, payment_status, jsonb) IS
  'Internal: applies one PaymentIntent state reported by Stripe to the payment (and booking) with that intent, or to the activity booking whose payment_id it is. Never moves a payment backwards (payment_may_move); raises PT404 when no payment has the intent yet.';

CREATE FUNCTION apply_webhook(log_id uuid) RETURNS boolean
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  w webhook_logs%ROWTYPE;
  obj jsonb;
  intent text;
BEGIN
  SELECT * INTO w FROM webhook_logs l WHERE l.id = log_id FOR UPDATE;
  IF NOT FOUND OR w.processed THEN
    RETURN FOUND;
  END IF;
  BEGIN
    IF w.source = 'stripe' THEN
      obj := w.payload #> '{data,object}';
      IF w.event_type IN ('payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.processing',
                          'payment_intent.canceled', 'charge.refunded') THEN
        IF jsonb_typeof(obj) IS DISTINCT FROM 'object' THEN
          RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the event has no data.object';
        END IF;
        intent := CASE WHEN w.event_type = 'charge.refunded' THEN obj ->> 'payment_intent' ELSE obj ->> 'id' END;
        IF intent IS NULL OR intent !~ '^pi_[A-Za-z0-9_]{1,252}$' THEN
          RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the event names no PaymentIntent';
        END IF;
        IF w.event_type = 'charge.refunded' THEN
          IF coalesce(obj ->> 'refunded', 'true') = 'true' THEN
            PERFORM apply_stripe_intent_event(intent, 'REFUNDED', obj);
          END IF;  -- a partial refund changes no status
        ELSE
          PERFORM apply_stripe_intent_event(intent,
            CASE w.event_type
              WHEN 'payment_intent.succeeded' THEN 'SUCCEEDED'
              WHEN 'payment_intent.payment_failed' THEN 'FAILED'
              WHEN 'payment_intent.processing' THEN 'PROCESSING'
              ELSE 'CANCELLED' END::payment_status, obj);
        END IF;
      END IF;
      -- other Stripe event types are recorded and deliberately ignored
    ELSE
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('no handler for webhooks of source %s', w.source);
    END IF;
    UPDATE webhook_logs l
       SET processed = true, processed_at = now(), processing_error = NULL, attempts = l.attempts + 1
     WHERE l.id = w.id;
    RETURN true;
  EXCEPTION WHEN OTHERS THEN
    UPDATE webhook_logs l
       SET attempts = l.attempts + 1,
           processing_error = left(SQLSTATE || ': ' || SQLERRM, 4000)
     WHERE l.id = w.id;
    RETURN false;
  END;
END
$$;
COMMENT ON FUNCTION apply_webhook(uuid) IS
  'Internal: applies one recorded webhook event in a subtransaction. Applied (or deliberately ignored) events become processed; an event that cannot be applied (unknown intent, mismatching amount, malformed payload) stays processed = false with processing_error and is retried later. Returns whether it was processed.';

CREATE FUNCTION record_webhook(source text, event_id text, event_type text, payload jsonb) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  log_id uuid;
BEGIN
  PERFORM require_arg(source, 'source');
  PERFORM require_arg(event_id, 'event_id');
  PERFORM require_arg(event_type, 'event_type');
  PERFORM require_arg(payload, 'payload');
  IF NOT is_trusted_caller() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'record_webhook is for trusted backends';
  END IF;
  IF source !~ '^[a-z][a-z0-9_-]{0,49}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'source must be a lower-case name (stripe, ...)';
  END IF;
  IF length(event_id) NOT BETWEEN 1 AND 255 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'event_id must be 1 to 255 characters';
  END IF;
  IF length(event_type) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'event_type must be 1 to 200 characters';
  END IF;
  IF jsonb_typeof(payload) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'payload must be a JSON object';
  END IF;
  INSERT INTO webhook_logs (source, event_type, event_id, payload)
  VALUES (source, event_type, event_id, payload)
  ON CONFLICT ON CONSTRAINT webhook_logs_event_id_key DO NOTHING
  RETURNING id INTO log_id;
  IF log_id IS NULL THEN
    RETURN false;   -- a redelivery: recorded before, changes nothing
  END IF;
  PERFORM apply_webhook(log_id);
  RETURN true;
END
$$;
COMMENT ON FUNCTION record_webhook(text, text, text, jsonb) IS
  'Records a webhook event (unique event_id) and applies it; false when that event id was already recorded (nothing is applied twice, also under concurrent redelivery). Stripe: payment_intent.succeeded → payment SUCCEEDED (method, last4) and booking CONFIRMED (or, for a booking cancelled meanwhile, the payment is marked for refund); payment_intent.payment_failed → FAILED with the error message; payment_intent.processing / canceled → PROCESSING / CANCELLED; charge.refunded (full) → payment and booking REFUNDED, seats released. Payments never move backwards: late events are recorded and ignored. Intents matching activity_bookings.payment_id update that booking. An event that cannot be applied stays processed = false with processing_error (see retry_webhooks). Trusted backends only.';
SELECT api_expose('record_webhook(text, text, text, jsonb)'::regprocedure, 'service');

CREATE FUNCTION retry_webhooks(max_events integer DEFAULT 100) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  w record;
  n integer := 0;
BEGIN
  IF NOT is_trusted_caller() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'retry_webhooks is for trusted backends and the job';
  END IF;
  FOR w IN SELECT l.id FROM webhook_logs l
            WHERE NOT l.processed AND l.source = 'stripe'
            ORDER BY l.created_at
            LIMIT coalesce(max_events, 100)
            FOR UPDATE SKIP LOCKED LOOP
    IF apply_webhook(w.id) THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION retry_webhooks(integer) IS
  'Applies again the unprocessed Stripe events (oldest first, at most max_events, skipping rows another session holds) and returns how many were processed now; the others keep their processing_error and attempts count. Trusted backends and the job only.';
SELECT api_expose('retry_webhooks(integer)'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_retry_webhooks', '* * * * *', 'SELECT steppergo.retry_webhooks()',
   'Every minute: applies again webhook events that could not be applied yet (a PaymentIntent not attached yet, a transient error).');
-- ===========================================================================
-- payouts (release 0.2): the split, batching, lifecycle, reconciliation
-- ===========================================================================

CREATE FUNCTION payout_split(gross numeric, platform_rate numeric DEFAULT 0.15, minor_unit integer DEFAULT 2)
  RETURNS TABLE (driver_amount numeric, platform_fee numeric)
  AS 'MODULE_PATHNAME', 'sg_payout_split'
  LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION payout_split(numeric, numeric, integer) IS
  'Splits a gross amount between driver and platform, exactly: platform_fee = round(gross * platform_rate, minor_unit) (halves away from zero), driver_amount = gross - platform_fee, so the two always add up to gross. Rate in [0, 1] (default 0.15, the 85/15 split); minor_unit is the currency''s decimals (KZT: 2). Negative, NaN or infinite amounts, or more decimals than the minor unit, raise 22023; NULLs raise 22004.';
SELECT api_expose('payout_split(numeric, numeric, integer)'::regprocedure, 'anon');

CREATE FUNCTION payout_fee(gross numeric, platform_rate numeric, minor_unit integer)
  RETURNS numeric
  AS 'MODULE_PATHNAME', 'sg_payout_fee'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION payout_fee(numeric, numeric, integer) IS
  'Internal, the per-booking hot path of run_payout_batch: the platform fee of payout_split, round(gross * platform_rate, minor_unit) with halves away from zero, as a scalar. NULL when gross has more decimals than the minor unit (the booking cannot be split exactly and stays unsettled; reconcile_payouts reports it). Same 22023 refusals as payout_split otherwise.';

-- ---------------------------------------------------------------------------
-- Who may touch payouts: admins (of the payout's tenant, when the token
-- names one) and trusted callers (backends, jobs, DBAs).
-- ---------------------------------------------------------------------------
CREATE FUNCTION assert_payout_admin(tenant_id uuid) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF is_trusted_caller() THEN
    RETURN;
  END IF;
  PERFORM assert_app_role('ADMIN');
  IF current_tenant_id() IS NOT NULL AND current_tenant_id() IS DISTINCT FROM assert_payout_admin.tenant_id THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not allowed to act on another tenant''s payouts';
  END IF;
END
$$;
COMMENT ON FUNCTION assert_payout_admin(uuid) IS
  'Internal: raises unless the caller is trusted or an ADMIN (of the given tenant when the token carries a tenant_id claim): PT401 anonymous, 42501 otherwise.';

CREATE FUNCTION assert_service_caller(fn text) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT is_trusted_caller() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = format('%s is for trusted backends and jobs only', fn);
  END IF;
END
$$;
COMMENT ON FUNCTION assert_service_caller(text) IS
  'Internal: raises 42501 unless the caller is trusted (no JWT claims, not an API role): backends, pg_cron jobs, DBAs.';

-- ---------------------------------------------------------------------------
-- run_payout_batch
-- ---------------------------------------------------------------------------
CREATE FUNCTION run_payout_batch(period_end timestamptz DEFAULT now()) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p_end timestamptz := run_payout_batch.period_end;
  default_rate numeric := platform_rate(NULL);
  n_payouts integer;
  n_picked bigint;
  n_settled bigint;
  new_ids uuid[];
BEGIN
  PERFORM require_arg(p_end, 'period_end');
  PERFORM assert_service_caller('run_payout_batch');
  IF NOT isfinite(p_end) OR p_end > now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'period_end must be a finite time not after now',
      DETAIL = format('period_end is %s, now is %s', p_end, now());
  END IF;

  -- One batch at a time.  A second run waits here; in READ COMMITTED its
  -- next statement sees what the first settled.  Under REPEATABLE READ a
  -- stale snapshot makes the settling UPDATE fail with 40001 instead.
  PERFORM pg_advisory_xact_lock(hashtextextended('steppergo.run_payout_batch', 0));

  -- 1. Cash bookings: never paid out; the platform's share becomes a
  --    commission the driver owes, and the booking's split is frozen.
  WITH rates AS (
    SELECT tn.id AS tenant_id, platform_rate(tn.id) AS rate FROM tenants tn
  ), cash AS (
    SELECT b.id, b.trip_id, t.driver_id, t.tenant_id, b.currency, b.total_amount,
           coalesce(r.rate, default_rate) AS rate,
           payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit) AS fee
      FROM bookings b
      JOIN trips t ON t.id = b.trip_id
      JOIN currencies c ON c.code = b.currency
      LEFT JOIN rates r ON r.tenant_id = t.tenant_id
     WHERE b.status = 'COMPLETED' AND b.platform_fee IS NULL
       AND b.payment_method_type = 'CASH_TO_DRIVER'
       AND t.completed_at < p_end AND t.driver_id IS NOT NULL
  ), frozen AS (
    UPDATE bookings b
       SET platform_rate = s.rate, platform_fee = s.fee, driver_amount = s.total_amount - s.fee
      FROM cash s
     WHERE b.id = s.id AND s.fee IS NOT NULL AND b.platform_fee IS NULL
    RETURNING b.id
  )
  INSERT INTO driver_commissions (driver_id, booking_id, trip_id, tenant_id, currency, gross, platform_rate, amount)
  SELECT s.driver_id, s.id, s.trip_id, s.tenant_id, s.currency, s.total_amount, s.rate, s.fee
    FROM cash s JOIN frozen f ON f.id = s.id;

  -- 2. ONLINE bookings: one payout per driver, tenant and currency, and
  --    every booking settled by it, in one statement.  The split of each
  --    booking is computed once, in C, and frozen on the booking.
  WITH rates AS (
    SELECT tn.id AS tenant_id, platform_rate(tn.id) AS rate FROM tenants tn
  ), picked AS (
    SELECT b.id, b.trip_id, t.driver_id, t.tenant_id,
           coalesce(t.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid) AS tkey,
           b.currency, t.completed_at, b.total_amount,
           coalesce(r.rate, default_rate) AS rate,
           payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit) AS fee
      FROM bookings b
      JOIN trips t ON t.id = b.trip_id
      JOIN currencies c ON c.code = b.currency
      LEFT JOIN rates r ON r.tenant_id = t.tenant_id
     WHERE b.status = 'COMPLETED' AND b.platform_fee IS NULL AND NOT b.payout_settled
       AND b.payment_method_type = 'ONLINE'
       AND t.completed_at < p_end AND t.driver_id IS NOT NULL
  ), grp AS (
    SELECT driver_id, tkey, currency, min(tenant_id::text)::uuid AS tenant_id,
           uuid_generate_v7() AS payout_id,
           sum(total_amount - fee) AS amount, count(*) AS n_bookings,
           count(DISTINCT trip_id) AS n_trips, min(completed_at) AS first_completed
      FROM picked
     WHERE fee IS NOT NULL
     GROUP BY driver_id, tkey, currency
  ), ins AS (
    INSERT INTO payouts (id, driver_id, amount, currency, status, period_start, period_end,
                         trips_count, bookings_count, tenant_id)
    SELECT g.payout_id, g.driver_id, g.amount, g.currency, 'PENDING', g.first_completed, p_end,
           g.n_trips, g.n_bookings, g.tenant_id
      FROM grp g
    RETURNING id
  ), upd AS (
    UPDATE bookings b
       SET payout_id = g.payout_id, payout_settled = true, settled_at = now(),
           platform_rate = p.rate, platform_fee = p.fee, driver_amount = p.total_amount - p.fee
      FROM picked p
      JOIN grp g ON g.driver_id = p.driver_id AND g.tkey = p.tkey AND g.currency = p.currency
     WHERE b.id = p.id AND p.fee IS NOT NULL
       AND b.status = 'COMPLETED' AND NOT b.payout_settled AND b.platform_fee IS NULL
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM ins), (SELECT array_agg(id) FROM ins),
         (SELECT coalesce(sum(n_bookings), 0) FROM grp), (SELECT count(*) FROM upd)
    INTO n_payouts, new_ids, n_picked, n_settled;

  -- A booking changed under us (a concurrent refund, a REPEATABLE READ
  -- snapshot older than the last batch): settle nothing rather than pay a
  -- sum that no longer matches its bookings.
  IF n_settled <> n_picked THEN
    RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'bookings changed while the payout batch ran',
      DETAIL = format('%s bookings picked, %s settled', n_picked, n_settled),
      HINT = 'Run the batch again.';
  END IF;

  -- 3. Optionally, deduct owed cash commissions from the new payouts:
  --    oldest first, whole commissions only, never below zero.
  IF n_payouts > 0 AND current_setting('steppergo.payout_net_cash_commission')::boolean THEN
    WITH owed AS (
      SELECT c.id, p.id AS payout_id, p.amount AS payout_amount,
             sum(c.amount) OVER (PARTITION BY p.id ORDER BY c.recorded_at, c.id) AS running
        FROM payouts p
        JOIN driver_commissions c ON c.driver_id = p.driver_id AND c.currency = p.currency
                                 AND c.tenant_id IS NOT DISTINCT FROM p.tenant_id AND c.status = 'OWED'
       WHERE p.id = ANY (new_ids)
    ), marked AS (
      UPDATE driver_commissions c
         SET status = 'NETTED', payout_id = o.payout_id, netted_at = now()
        FROM owed o
       WHERE c.id = o.id AND o.running <= o.payout_amount AND c.status = 'OWED'
      RETURNING c.payout_id, c.amount
    )
    UPDATE payouts p
       SET commission_netted = m.total, amount = p.amount - m.total
      FROM (SELECT marked.payout_id, sum(marked.amount) AS total FROM marked GROUP BY marked.payout_id) m
     WHERE p.id = m.payout_id;
  END IF;

  RETURN n_payouts;
END
$$;
COMMENT ON FUNCTION run_payout_batch(timestamptz) IS
  'The payout batch (daily pg_cron job steppergo_payout_batch). For every driver, tenant and currency, the COMPLETED, ONLINE, unsettled bookings whose trip completed before period_end become one PENDING payout (amount = sum of the driver''s shares, trips_count, bookings_count, period_start = first completion, period_end), and each booking gets payout_id, payout_settled, settled_at and its frozen split, all in one transaction. CASH_TO_DRIVER bookings are never paid out: their platform fee is recorded in driver_commissions (and deducted from the new payouts when steppergo.payout_net_cash_commission is on). Idempotent (a second run finds nothing left); runs are serialised by an advisory lock, so no booking is ever settled twice. Trusted callers only (42501); period_end in the future or infinite raises 22023. Returns the number of payouts created.';
SELECT api_expose('run_payout_batch(timestamptz)'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_payout_batch', '0 21 * * *', 'SELECT steppergo.run_payout_batch()',
   'Daily payout batch at 02:00 in Asia/Almaty (UTC+5, no daylight saving since 2024-03-01), which is 21:00 UTC of the previous day: pg_cron 1.4 evaluates schedules in UTC. Pays every booking whose trip completed before the run.');

-- ---------------------------------------------------------------------------
-- Lifecycle: PENDING -> PROCESSING -> PAID | FAILED; PENDING/PROCESSING -> CANCELLED
-- ---------------------------------------------------------------------------
CREATE FUNCTION lock_payout(payout_id uuid) RETURNS payouts
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
BEGIN
  PERFORM require_arg(payout_id, 'payout_id');
  -- role first, so that non-admins learn nothing about payout ids
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  SELECT * INTO p FROM payouts WHERE id = lock_payout.payout_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'payout not found',
      DETAIL = format('no payout with id %s', lock_payout.payout_id);
  END IF;
  PERFORM assert_payout_admin(p.tenant_id);
  RETURN p;
END
$$;
COMMENT ON FUNCTION lock_payout(uuid) IS
  'Internal: the payout row locked FOR UPDATE after checking the caller (trusted, or ADMIN of its tenant); PT404 when unknown.';

CREATE FUNCTION refuse_payout_move(p payouts, target payout_status, allowed payout_status[]) RETURNS void
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT p.status = ANY (allowed) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('a %s payout cannot become %s', p.status, target),
      DETAIL = format('payout %s is %s; %s needs %s', p.id, p.status, target, array_to_string(allowed, ' or ')),
      HINT = 'Payouts move PENDING -> PROCESSING -> PAID or FAILED; PENDING or PROCESSING -> CANCELLED.';
  END IF;
END
$$;
COMMENT ON FUNCTION refuse_payout_move(payouts, payout_status, payout_status[]) IS
  'Internal: raises PT409 naming the move unless the payout''s status is one of the allowed ones.';

CREATE FUNCTION check_payout_text(value text, name text, max_len integer) RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF value IS NOT NULL AND (length(btrim(value)) = 0 OR length(value) > max_len) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must be a text of 1 to %s characters', name, max_len);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION check_payout_text(text, text, integer) IS 'Internal: returns the text, or raises 22023 when it is blank or longer than max_len.';

CREATE FUNCTION check_transfer_id(stripe_transfer_id text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF stripe_transfer_id IS NOT NULL AND stripe_transfer_id !~ '^[A-Za-z0-9_]{3,255}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'stripe_transfer_id must be 3 to 255 letters, digits or _',
      DETAIL = format('got %s', left(stripe_transfer_id, 60));
  END IF;
  RETURN stripe_transfer_id;
END
$$;
COMMENT ON FUNCTION check_transfer_id(text) IS 'Internal: returns the transfer id, or raises 22023 when it is not a provider id (tr_...).';

CREATE FUNCTION release_payout_bookings(payout_id uuid) RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  n integer;
BEGIN
  INSERT INTO payout_released_bookings (payout_id, booking_id, platform_rate, platform_fee, driver_amount)
  SELECT b.payout_id, b.id, b.platform_rate, b.platform_fee, b.driver_amount
    FROM bookings b WHERE b.payout_id = release_payout_bookings.payout_id;
  UPDATE bookings b
     SET payout_id = NULL, payout_settled = false, settled_at = NULL,
         platform_rate = NULL, platform_fee = NULL, driver_amount = NULL
   WHERE b.payout_id = release_payout_bookings.payout_id;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE driver_commissions c
     SET status = 'OWED', payout_id = NULL, netted_at = NULL
   WHERE c.payout_id = release_payout_bookings.payout_id;
  RETURN n;
END
$$;
COMMENT ON FUNCTION release_payout_bookings(uuid) IS
  'Internal: a FAILED or CANCELLED payout gives its bookings back to the next batch (unsettled, split cleared, recorded in payout_released_bookings) and its netted commissions back to OWED. Returns the bookings released.';

CREATE FUNCTION mark_payout_processing(payout_id uuid, provider text, method text,
                                       stripe_transfer_id text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
BEGIN
  PERFORM require_arg(provider, 'provider');
  PERFORM require_arg(method, 'method');
  PERFORM check_payout_text(provider, 'provider', 50);
  PERFORM check_payout_text(method, 'method', 50);
  PERFORM check_transfer_id(stripe_transfer_id);
  p := lock_payout(payout_id);
  PERFORM refuse_payout_move(p, 'PROCESSING', '{PENDING}');
  UPDATE payouts
     SET status = 'PROCESSING', processed_at = now(), payout_provider = provider, payout_method = method,
         stripe_transfer_id = coalesce(mark_payout_processing.stripe_transfer_id, payouts.stripe_transfer_id)
   WHERE id = p.id;
  PERFORM log_admin_action('PAYOUT_PROCESSING', 'payout', p.id::text,
    jsonb_build_object('from', p.status, 'to', 'PROCESSING', 'provider', provider, 'method', method,
                       'stripe_transfer_id', mark_payout_processing.stripe_transfer_id, 'amount', p.amount,
                       'currency', p.currency, 'driver_id', p.driver_id));
END
$$;
COMMENT ON FUNCTION mark_payout_processing(uuid, text, text, text) IS
  'PENDING -> PROCESSING: the payout was handed to the provider (provider: stripe, kaspi, ...; method: bank_transfer, card, ...; the provider''s transfer id when already known, unique: 23505). Sets processed_at; audited in admin_actions. ADMIN or trusted callers; other states PT409, unknown id PT404, blank or too long texts 22023.';
SELECT api_expose('mark_payout_processing(uuid, text, text, text)'::regprocedure, 'authenticated');

CREATE FUNCTION mark_payout_paid(payout_id uuid, stripe_transfer_id text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
BEGIN
  PERFORM check_transfer_id(stripe_transfer_id);
  p := lock_payout(payout_id);
  PERFORM refuse_payout_move(p, 'PAID', '{PROCESSING}');
  UPDATE payouts
     SET status = 'PAID', paid_at = now(),
         stripe_transfer_id = coalesce(mark_payout_paid.stripe_transfer_id, payouts.stripe_transfer_id)
   WHERE id = p.id;
  UPDATE drivers d SET total_earnings = d.total_earnings + p.amount WHERE d.id = p.driver_id;
  PERFORM log_admin_action('PAYOUT_PAID', 'payout', p.id::text,
    jsonb_build_object('from', p.status, 'to', 'PAID', 'stripe_transfer_id',
                       coalesce(mark_payout_paid.stripe_transfer_id, p.stripe_transfer_id),
                       'amount', p.amount, 'currency', p.currency, 'driver_id', p.driver_id));
END
$$;
COMMENT ON FUNCTION mark_payout_paid(uuid, text) IS
  'PROCESSING -> PAID: the provider confirmed the transfer (its id, unique: 23505). Sets paid_at and adds the amount to the driver''s total_earnings in the same transaction; audited. ADMIN or trusted callers; other states PT409.';
SELECT api_expose('mark_payout_paid(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION mark_payout_failed(payout_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
  n integer;
BEGIN
  PERFORM require_arg(reason, 'reason');
  PERFORM check_payout_text(reason, 'reason', 2000);
  p := lock_payout(payout_id);
  PERFORM refuse_payout_move(p, 'FAILED', '{PROCESSING}');
  UPDATE payouts SET status = 'FAILED', failed_at = now(), failure_reason = reason WHERE id = p.id;
  n := release_payout_bookings(p.id);
  PERFORM log_admin_action('PAYOUT_FAILED', 'payout', p.id::text,
    jsonb_build_object('from', p.status, 'to', 'FAILED', 'reason', reason, 'bookings_released', n,
                       'amount', p.amount, 'currency', p.currency, 'driver_id', p.driver_id));
END
$$;
COMMENT ON FUNCTION mark_payout_failed(uuid, text) IS
  'PROCESSING -> FAILED: the provider reported failure (reason required). Sets failed_at and failure_reason and releases the payout''s bookings for the next batch (and its netted commissions back to OWED); audited. ADMIN or trusted callers; other states PT409.';
SELECT api_expose('mark_payout_failed(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION cancel_payout(payout_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
  n integer;
BEGIN
  PERFORM require_arg(reason, 'reason');
  PERFORM check_payout_text(reason, 'reason', 2000);
  p := lock_payout(payout_id);
  PERFORM refuse_payout_move(p, 'CANCELLED', '{PENDING,PROCESSING}');
  UPDATE payouts SET status = 'CANCELLED', cancelled_at = now(), failure_reason = reason WHERE id = p.id;
  n := release_payout_bookings(p.id);
  PERFORM log_admin_action('PAYOUT_CANCELLED', 'payout', p.id::text,
    jsonb_build_object('from', p.status, 'to', 'CANCELLED', 'reason', reason, 'bookings_released', n,
                       'amount', p.amount, 'currency', p.currency, 'driver_id', p.driver_id));
END
$$;
COMMENT ON FUNCTION cancel_payout(uuid, text) IS
  'PENDING or PROCESSING -> CANCELLED (reason required, kept in failure_reason). Sets cancelled_at and releases the payout''s bookings for the next batch (and its netted commissions back to OWED); audited. ADMIN or trusted callers; other states PT409.';
SELECT api_expose('cancel_payout(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION record_commission_payment(commission_id uuid, reference text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  c driver_commissions;
BEGIN
  PERFORM require_arg(commission_id, 'commission_id');
  PERFORM require_arg(reference, 'reference');
  PERFORM check_payout_text(reference, 'reference', 200);
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  SELECT * INTO c FROM driver_commissions WHERE id = commission_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'commission not found',
      DETAIL = format('no driver commission with id %s', commission_id);
  END IF;
  PERFORM assert_payout_admin(c.tenant_id);
  IF c.status <> 'OWED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('a %s commission cannot be paid', c.status),
      DETAIL = format('commission %s is %s', c.id, c.status);
  END IF;
  UPDATE driver_commissions SET status = 'PAID', paid_at = now(), reference = record_commission_payment.reference
   WHERE id = c.id;
  PERFORM log_admin_action('COMMISSION_PAID', 'driver_commission', c.id::text,
    jsonb_build_object('from', 'OWED', 'to', 'PAID', 'reference', reference, 'amount', c.amount,
                       'currency', c.currency, 'driver_id', c.driver_id));
END
$$;
COMMENT ON FUNCTION record_commission_payment(uuid, text) IS
  'OWED -> PAID: the driver paid a cash-booking commission to the platform (reference: receipt or transfer). Audited. ADMIN or trusted callers; NETTED or PAID commissions PT409.';
SELECT api_expose('record_commission_payment(uuid, text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- The driver's statement
-- ---------------------------------------------------------------------------
CREATE FUNCTION driver_statement(driver_id uuid, period_start timestamptz, period_end timestamptz)
  RETURNS TABLE (booking_id uuid, trip_id uuid, completed_at timestamptz, payment_method payment_method_type,
                 currency text, gross numeric, platform_rate numeric, platform_fee numeric, driver_amount numeric,
                 split_frozen boolean, payout_id uuid, payout_status payout_status,
                 commission_id uuid, commission_status text)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers;
  default_rate numeric := platform_rate(NULL);
BEGIN
  PERFORM require_arg(driver_id, 'driver_id');
  PERFORM require_arg(period_start, 'period_start');
  PERFORM require_arg(period_end, 'period_end');
  IF period_end < period_start THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'period_end must not be before period_start';
  END IF;
  IF NOT is_trusted_caller() AND current_user_id() IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  SELECT * INTO d FROM drivers WHERE id = driver_statement.driver_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
      DETAIL = format('no driver with id %s', driver_statement.driver_id);
  END IF;
  IF NOT is_trusted_caller() AND current_user_id() IS DISTINCT FROM d.user_id THEN
    PERFORM assert_payout_admin(d.tenant_id);
  END IF;
  RETURN QUERY
  SELECT b.id, t.id, t.completed_at, b.payment_method_type, b.currency, b.total_amount,
         coalesce(b.platform_rate, s.rate), coalesce(b.platform_fee, s.fee),
         coalesce(b.driver_amount, b.total_amount - s.fee),
         b.platform_fee IS NOT NULL, b.payout_id, p.status, c.id, c.status
    FROM trips t
    JOIN bookings b ON b.trip_id = t.id
    JOIN currencies cu ON cu.code = b.currency
    LEFT JOIN tenants tn ON tn.id = t.tenant_id
    LEFT JOIN payouts p ON p.id = b.payout_id
    LEFT JOIN driver_commissions c ON c.booking_id = b.id
    CROSS JOIN LATERAL (
      SELECT r.rate, payout_fee(b.total_amount, r.rate, cu.minor_unit) AS fee
        FROM (SELECT CASE WHEN t.tenant_id IS NULL THEN default_rate ELSE platform_rate(t.tenant_id) END AS rate) r
    ) s
   WHERE t.driver_id = driver_statement.driver_id
     AND b.status = 'COMPLETED'
     AND t.completed_at >= driver_statement.period_start AND t.completed_at < driver_statement.period_end
   ORDER BY t.completed_at, b.id;
END
$$;
COMMENT ON FUNCTION driver_statement(uuid, timestamptz, timestamptz) IS
  'A driver''s statement for a period (trips completed in [period_start, period_end)): every COMPLETED booking with its gross, platform rate, fee and driver share (frozen once split_frozen, else what the next batch would compute now), payment method, the payout that settled it and its status, and for CASH_TO_DRIVER bookings the commission the driver owes (commission_status OWED, NETTED or PAID). The driver may read their own; ADMIN (of the driver''s tenant) and trusted callers any. PT404 unknown driver, 22023 period_end before period_start.';
SELECT api_expose('driver_statement(uuid, timestamptz, timestamptz)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Reconciliation: every violated invariant, one row each
-- ---------------------------------------------------------------------------
CREATE FUNCTION reconcile_payouts()
  RETURNS TABLE (invariant text, payout_id uuid, booking_id uuid, driver_id uuid, detail text)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM assert_service_caller('reconcile_payouts');
  RETURN QUERY
  -- 1. a live payout pays exactly its bookings' driver shares (minus netted commissions)
  WITH live AS (
    SELECT b.payout_id, sum(b.driver_amount) AS shares, count(*) AS n, count(DISTINCT b.trip_id) AS trips
      FROM bookings b WHERE b.payout_id IS NOT NULL GROUP BY b.payout_id
  ), released AS (
    SELECT r.payout_id, sum(r.driver_amount) AS shares, count(*) AS n
      FROM payout_released_bookings r GROUP BY r.payout_id
  ), netted AS (
    SELECT c.payout_id, sum(c.amount) AS total FROM driver_commissions c
     WHERE c.payout_id IS NOT NULL GROUP BY c.payout_id
  )
  SELECT 'payout_amount', p.id, NULL::uuid, p.driver_id,
         format('payout %s is %s %s + %s netted; its bookings'' driver shares sum to %s (%s bookings, payout says %s)',
                p.status, p.amount, p.currency, p.commission_netted,
                coalesce(CASE WHEN p.status IN ('FAILED', 'CANCELLED') THEN rl.shares ELSE l.shares END, 0),
                coalesce(CASE WHEN p.status IN ('FAILED', 'CANCELLED') THEN rl.n ELSE l.n END, 0), p.bookings_count)
    FROM payouts p
    LEFT JOIN live l ON l.payout_id = p.id
    LEFT JOIN released rl ON rl.payout_id = p.id
   WHERE p.amount + p.commission_netted
           IS DISTINCT FROM coalesce(CASE WHEN p.status IN ('FAILED', 'CANCELLED') THEN rl.shares ELSE l.shares END, 0)
      OR p.bookings_count IS DISTINCT FROM coalesce(CASE WHEN p.status IN ('FAILED', 'CANCELLED') THEN rl.n ELSE l.n END, 0)
      OR (p.status NOT IN ('FAILED', 'CANCELLED') AND p.trips_count IS DISTINCT FROM coalesce(l.trips, 0))
  UNION ALL
  SELECT 'payout_commission_netted', p.id, NULL, p.driver_id,
         format('payout deducted %s; NETTED commissions pointing to it sum to %s', p.commission_netted, coalesce(n.total, 0))
    FROM payouts p LEFT JOIN netted n ON n.payout_id = p.id
   WHERE p.status NOT IN ('FAILED', 'CANCELLED') AND p.commission_netted IS DISTINCT FROM coalesce(n.total, 0)
  UNION ALL
  -- 2. every settled booking: driver share + fee = gross
  SELECT 'booking_split', b.payout_id, b.id, NULL,
         format('gross %s, fee %s, driver share %s', b.total_amount, b.platform_fee, b.driver_amount)
    FROM bookings b
   WHERE (b.payout_settled OR b.payout_id IS NOT NULL)
     AND (b.platform_fee IS NULL OR b.driver_amount IS NULL
          OR b.platform_fee + b.driver_amount IS DISTINCT FROM b.total_amount)
  UNION ALL
  -- 3. settled without a payout, or a payout without the settled flag
  SELECT 'settled_without_payout', b.payout_id, b.id, NULL,
         format('payout_settled %s, payout_id %s', b.payout_settled, coalesce(b.payout_id::text, 'NULL'))
    FROM bookings b
   WHERE b.payout_settled IS DISTINCT FROM (b.payout_id IS NOT NULL)
  UNION ALL
  -- 4. settled twice: a booking held by a released payout that is not
  --    FAILED/CANCELLED, or by a dead payout still
  SELECT 'settled_twice', r.payout_id, r.booking_id, p.driver_id,
         format('released from payout %s which is %s', r.payout_id, p.status)
    FROM payout_released_bookings r JOIN payouts p ON p.id = r.payout_id
   WHERE p.status NOT IN ('FAILED', 'CANCELLED')
  UNION ALL
  SELECT 'settled_twice', p.id, b.id, p.driver_id,
         format('booking still settled by a %s payout', p.status)
    FROM bookings b JOIN payouts p ON p.id = b.payout_id
   WHERE p.status IN ('FAILED', 'CANCELLED')
  UNION ALL
  -- 5. what a payout settles must be payable to that driver, in its currency
  SELECT 'settled_not_payable', p.id, b.id, p.driver_id,
         format('booking %s %s by %s in %s; payout to driver %s in %s', b.status, b.payment_method_type,
                coalesce(t.driver_id::text, 'no driver'), b.currency, p.driver_id, p.currency)
    FROM bookings b JOIN payouts p ON p.id = b.payout_id JOIN trips t ON t.id = b.trip_id
   WHERE b.status <> 'COMPLETED' OR b.payment_method_type <> 'ONLINE'
      OR t.driver_id IS DISTINCT FROM p.driver_id OR b.currency <> p.currency
      OR t.tenant_id IS DISTINCT FROM p.tenant_id
  UNION ALL
  -- 6. the commission ledger matches the cash bookings' frozen fees
  SELECT 'commission_mismatch', c.payout_id, c.booking_id, c.driver_id,
         format('commission %s %s on gross %s; booking %s %s, fee %s', c.amount, c.currency, c.gross,
                b.payment_method_type, b.total_amount, b.platform_fee)
    FROM driver_commissions c JOIN bookings b ON b.id = c.booking_id
   WHERE b.payment_method_type <> 'CASH_TO_DRIVER' OR c.gross <> b.total_amount
      OR c.amount IS DISTINCT FROM b.platform_fee OR c.currency <> b.currency
  UNION ALL
  -- 7. total_earnings = the sum of the driver's PAID payouts
  SELECT 'total_earnings', NULL, NULL, d.id,
         format('total_earnings %s; PAID payouts sum to %s', d.total_earnings, coalesce(pd.total, 0))
    FROM drivers d
    LEFT JOIN (SELECT p.driver_id, sum(p.amount) AS total FROM payouts p WHERE p.status = 'PAID'
                GROUP BY p.driver_id) pd ON pd.driver_id = d.id
   WHERE d.total_earnings IS DISTINCT FROM coalesce(pd.total, 0)
  UNION ALL
  -- 8. a completed ONLINE booking no batch can pay (finer than the minor unit)
  SELECT 'unpayable_booking', NULL, b.id, t.driver_id,
         format('total_amount %s has more decimals than %s allows (%s)', b.total_amount, b.currency, cu.minor_unit)
    FROM bookings b JOIN trips t ON t.id = b.trip_id JOIN currencies cu ON cu.code = b.currency
   WHERE b.status = 'COMPLETED' AND b.platform_fee IS NULL AND NOT b.payout_settled
     AND b.total_amount <> round(b.total_amount, cu.minor_unit);
END
$$;
COMMENT ON FUNCTION reconcile_payouts() IS
  'Checks the payout books and returns one row per violated invariant (none: the books balance): payout_amount (a payout''s amount plus netted commissions equals the driver shares of its bookings, or of the bookings it released when FAILED/CANCELLED, and its counts match), payout_commission_netted, booking_split (driver share + fee = gross for every settled booking), settled_without_payout, settled_twice, settled_not_payable (wrong status, method, driver, currency or tenant), commission_mismatch, total_earnings (= sum of the driver''s PAID payouts), unpayable_booking. Trusted callers only.';
SELECT api_expose('reconcile_payouts()'::regprocedure, 'service');
-- ===========================================================================
-- messaging (release 0.2): trip chat.  One conversation per trip, kept in
-- step with trips and bookings by triggers; messages with per-type
-- validation; receipts; exact unread counts; moderation; NOTIFY and the
-- notifications outbox.  See src/messaging/README.md.
--
-- Concurrency rule (why the counters are exact): every writer that changes
-- what a participant has unread -- a new message, a hide, a join or leave,
-- a read -- first locks the conversation row (senders FOR NO KEY UPDATE,
-- readers FOR SHARE), then reads with a fresh snapshot.  Senders of one
-- conversation are thereby serialised and send_message hands out sent_at
-- under that lock, so sent_at order is commit order within a conversation,
-- and a reader never misses a message committed before it, nor counts one
-- committed after it.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- Internal helpers
-- ---------------------------------------------------------------------------
CREATE FUNCTION conversation_channel(conversation_id uuid) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN 'steppergo_chat_' || replace(conversation_id::text, '-', '');
COMMENT ON FUNCTION conversation_channel(uuid) IS
  'The LISTEN/NOTIFY channel of a conversation: steppergo_chat_ followed by the conversation id''s 32 hex digits (a plain identifier, LISTEN needs no quotes). Every new, edited, hidden, delivered or read message is announced there with a small JSON payload (README).';
SELECT api_expose('conversation_channel(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_actor(user_id uuid) RETURNS uuid
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  IF user_id IS NULL THEN
    me := current_user_id();
    IF me IS NULL THEN
      IF is_trusted_caller() THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'user_id must not be null',
          HINT = 'A caller without a token names the user it acts for.';
      END IF;
      RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
    END IF;
    RETURN me;
  END IF;
  PERFORM assert_acting_as(user_id);
  RETURN user_id;
END
$$;
COMMENT ON FUNCTION chat_actor(uuid) IS
  'Internal: the user a chat call acts for: the given user (the caller must be that user, an ADMIN or a trusted caller; else 42501), or the caller''s own user when NULL (22004 for a trusted caller without one, PT401 when anonymous).';

CREATE FUNCTION chat_is_entitled(trip_id uuid, user_id uuid) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN EXISTS (SELECT 1 FROM trips t WHERE t.id = chat_is_entitled.trip_id
                    AND t.organizer_id = chat_is_entitled.user_id)
      OR EXISTS (SELECT 1 FROM trips t JOIN drivers d ON d.id = t.driver_id
                  WHERE t.id = chat_is_entitled.trip_id AND d.user_id = chat_is_entitled.user_id)
      OR EXISTS (SELECT 1 FROM bookings b WHERE b.trip_id = chat_is_entitled.trip_id
                    AND b.user_id = chat_is_entitled.user_id AND b.status IN ('CONFIRMED', 'COMPLETED'));
COMMENT ON FUNCTION chat_is_entitled(uuid, uuid) IS
  'Internal: whether a user belongs in a trip''s conversation: the organizer, the assigned driver''s user, or a passenger with a CONFIRMED or COMPLETED booking.';

CREATE FUNCTION chat_ensure_conversation(trip_id uuid) RETURNS uuid
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  cid uuid;
BEGIN
  SELECT c.id INTO cid FROM conversations c WHERE c.trip_id = chat_ensure_conversation.trip_id;
  IF cid IS NULL THEN
    INSERT INTO conversations (trip_id) VALUES (chat_ensure_conversation.trip_id)
    ON CONFLICT ON CONSTRAINT conversations_trip_id_key DO NOTHING
    RETURNING id INTO cid;
    IF cid IS NULL THEN
      SELECT c.id INTO cid FROM conversations c WHERE c.trip_id = chat_ensure_conversation.trip_id;
    END IF;
  END IF;
  RETURN cid;
END
$$;
COMMENT ON FUNCTION chat_ensure_conversation(uuid) IS
  'Internal: the conversation of a trip, created when missing (one per trip).';

CREATE FUNCTION chat_unread_recount(conversation_id uuid, user_id uuid) RETURNS integer
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN (SELECT count(*)::integer
            FROM conversation_participants p
            JOIN messages m ON m.conversation_id = p.conversation_id
           WHERE p.conversation_id = chat_unread_recount.conversation_id
             AND p.user_id = chat_unread_recount.user_id
             AND NOT m.is_hidden
             AND m.sender_id IS DISTINCT FROM p.user_id
             AND m.sent_at >= p.joined_at
             AND (p.last_read_at IS NULL OR m.sent_at > p.last_read_at)
             AND (p.left_at IS NULL OR m.sent_at <= p.left_at));
COMMENT ON FUNCTION chat_unread_recount(uuid, uuid) IS
  'The definition of unread_count, counted from messages: visible messages of others (SYSTEM included) sent since the participant (last) joined, after their last_read_at, and not after they left. conversation_participants.unread_count always equals it.';

CREATE FUNCTION chat_refresh_conversation(conversation_id uuid) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  -- the caller holds the conversation's row lock; a fresh snapshot follows
  UPDATE conversations c
     SET last_message_at = (SELECT max(m.sent_at) FROM messages m
                             WHERE m.conversation_id = c.id AND NOT m.is_hidden)
   WHERE c.id = chat_refresh_conversation.conversation_id;
  UPDATE conversation_participants p
     SET unread_count = chat_unread_recount(p.conversation_id, p.user_id)
   WHERE p.conversation_id = chat_refresh_conversation.conversation_id
     AND p.unread_count IS DISTINCT FROM chat_unread_recount(p.conversation_id, p.user_id);
END
$$;
COMMENT ON FUNCTION chat_refresh_conversation(uuid) IS
  'Internal: recomputes a conversation''s last_message_at and every participant''s unread_count from its messages (after a hide, unhide or delete). The caller holds the conversation''s row lock.';

CREATE FUNCTION refresh_conversation_counts() RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  n integer;
BEGIN
  LOCK TABLE conversations IN SHARE ROW EXCLUSIVE MODE;
  UPDATE conversations c
     SET last_message_at = x.last_at
    FROM (SELECT c2.id, (SELECT max(m.sent_at) FROM messages m
                          WHERE m.conversation_id = c2.id AND NOT m.is_hidden) AS last_at
            FROM conversations c2) x
   WHERE x.id = c.id AND c.last_message_at IS DISTINCT FROM x.last_at;
  UPDATE conversation_participants p
     SET unread_count = x.n
    FROM (SELECT p2.id, count(m.id)::integer AS n
            FROM conversation_participants p2
            LEFT JOIN messages m ON m.conversation_id = p2.conversation_id
                  AND NOT m.is_hidden
                  AND m.sender_id IS DISTINCT FROM p2.user_id
                  AND m.sent_at >= p2.joined_at
                  AND (p2.last_read_at IS NULL OR m.sent_at > p2.last_read_at)
                  AND (p2.left_at IS NULL OR m.sent_at <= p2.left_at)
           GROUP BY p2.id) x
   WHERE x.id = p.id AND p.unread_count IS DISTINCT FROM x.n;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION refresh_conversation_counts() IS
  'Recomputes, set-based, every conversation''s last_message_at and every participant''s unread_count from the messages; returns the participant rows corrected. For DBAs after a bulk import that bypassed the triggers (session_replication_role = replica); otherwise the counters are always exact and it corrects nothing.';

-- The one way messages get their sent_at: under the conversation's lock,
-- strictly after every earlier message of the conversation.
CREATE FUNCTION chat_post(conversation_id uuid, sender_id uuid, type message_type, content text, metadata jsonb)
  RETURNS messages
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  last_at timestamptz;
  ts timestamptz;
  msg messages;
BEGIN
  PERFORM 1 FROM conversations c WHERE c.id = chat_post.conversation_id FOR NO KEY UPDATE;
  SELECT max(m.sent_at) INTO last_at FROM messages m WHERE m.conversation_id = chat_post.conversation_id;
  ts := pg_catalog.clock_timestamp();
  IF last_at IS NOT NULL AND ts <= last_at THEN
    ts := last_at + interval '1 microsecond';
  END IF;
  INSERT INTO messages (conversation_id, sender_id, content, type, metadata, status, sent_at)
  VALUES (chat_post.conversation_id, chat_post.sender_id, chat_post.content, chat_post.type,
          chat_post.metadata, 'SENT', ts)
  RETURNING * INTO msg;
  RETURN msg;
END
$$;
COMMENT ON FUNCTION chat_post(uuid, uuid, message_type, text, jsonb) IS
  'Internal: writes one message with sent_at handed out under the conversation''s row lock, strictly after the conversation''s newest message (so sent_at order is commit order and unique per conversation).';

CREATE FUNCTION chat_post_system(trip_id uuid, content text, metadata jsonb) RETURNS uuid
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  msg messages;
BEGIN
  msg := chat_post(chat_ensure_conversation(trip_id), NULL, 'SYSTEM', left(content, 4000), metadata);
  RETURN msg.id;
END
$$;
COMMENT ON FUNCTION chat_post_system(uuid, text, jsonb) IS
  'Internal: posts a SYSTEM message (no sender) to a trip''s conversation; metadata carries {"event": ...}.';

CREATE FUNCTION chat_sync_member(trip_id uuid, user_id uuid) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  cid uuid;
  p conversation_participants;
  now_ts timestamptz;
BEGIN
  IF user_id IS NULL THEN
    RETURN;
  END IF;
  cid := chat_ensure_conversation(trip_id);
  PERFORM 1 FROM conversations c WHERE c.id = cid FOR NO KEY UPDATE;
  SELECT * INTO p FROM conversation_participants cp
   WHERE cp.conversation_id = cid AND cp.user_id = chat_sync_member.user_id FOR UPDATE;
  now_ts := pg_catalog.clock_timestamp();
  IF chat_is_entitled(trip_id, user_id) THEN
    IF p.id IS NULL THEN
      INSERT INTO conversation_participants (conversation_id, user_id, joined_at, unread_count)
      VALUES (cid, chat_sync_member.user_id, now_ts, 0);
      UPDATE conversation_participants cp SET unread_count = chat_unread_recount(cid, chat_sync_member.user_id)
       WHERE cp.conversation_id = cid AND cp.user_id = chat_sync_member.user_id;
    ELSIF p.left_at IS NOT NULL THEN
      -- rejoin: a new membership; what was said meanwhile is history, not unread
      UPDATE conversation_participants cp SET left_at = NULL, joined_at = now_ts WHERE cp.id = p.id;
      UPDATE conversation_participants cp SET unread_count = chat_unread_recount(cid, chat_sync_member.user_id)
       WHERE cp.id = p.id;
    END IF;
  ELSIF p.id IS NOT NULL AND p.left_at IS NULL THEN
    UPDATE conversation_participants cp SET left_at = greatest(now_ts, cp.joined_at) WHERE cp.id = p.id;
    UPDATE conversation_participants cp SET unread_count = chat_unread_recount(cid, chat_sync_member.user_id)
     WHERE cp.id = p.id;
  END IF;
END
$$;
COMMENT ON FUNCTION chat_sync_member(uuid, uuid) IS
  'Internal: makes a user''s participation in a trip''s conversation match chat_is_entitled: joins (or rejoins, clearing left_at and restarting joined_at) or leaves (left_at). Idempotent.';

CREATE FUNCTION chat_participant(conversation_id uuid, user_id uuid) RETURNS conversation_participants
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  p conversation_participants;
BEGIN
  SELECT * INTO p FROM conversation_participants cp
   WHERE cp.conversation_id = chat_participant.conversation_id AND cp.user_id = chat_participant.user_id;
  IF p.id IS NULL THEN
    IF NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = chat_participant.conversation_id) THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'conversation not found',
        DETAIL = format('no conversation with id %s', chat_participant.conversation_id);
    END IF;
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a participant of this conversation';
  END IF;
  RETURN p;
END
$$;
COMMENT ON FUNCTION chat_participant(uuid, uuid) IS
  'Internal: the participant row of a user in a conversation; PT404 for an unknown conversation, 42501 when the user never took part.';

CREATE FUNCTION chat_is_moderator() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN is_trusted_caller() OR current_app_role() IS NOT DISTINCT FROM 'ADMIN';
COMMENT ON FUNCTION chat_is_moderator() IS
  'Internal: true for an ADMIN or a trusted caller, who may read any conversation including hidden messages.';

-- Per-type validation; returns the metadata to store.
CREATE FUNCTION chat_validate(type message_type, content text, metadata jsonb, sender_id uuid)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  k text;
  f file_uploads;
  fid uuid;
  out jsonb;
BEGIN
  IF metadata IS NULL THEN
    metadata := '{}';
  END IF;
  IF jsonb_typeof(metadata) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'metadata must be a JSON object';
  END IF;
  IF octet_length(metadata::text) > 2000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'metadata is longer than 2000 bytes';
  END IF;
  IF type = 'TEXT' THEN
    IF content IS NULL OR btrim(content, E' \t\r\n') = '' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a text message must not be empty';
    END IF;
    IF length(content) > 4000 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a text message is at most 4000 characters',
        DETAIL = format('the message has %s characters', length(content));
    END IF;
    IF metadata <> '{}' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a text message takes no metadata';
    END IF;
    RETURN '{}';
  END IF;
  IF length(content) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a caption is at most 1000 characters',
      DETAIL = format('the caption has %s characters', length(content));
  END IF;
  IF type = 'LOCATION' THEN
    FOR k IN SELECT jsonb_object_keys(metadata) LOOP
      IF k NOT IN ('lat', 'lng', 'accuracy', 'name') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location metadata has an unknown key',
          DETAIL = format('%s; known keys: lat, lng, accuracy, name', left(k, 60));
      END IF;
    END LOOP;
    IF jsonb_typeof(metadata -> 'lat') IS DISTINCT FROM 'number'
       OR NOT is_valid_lat((metadata ->> 'lat')::float8) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location lat must be a number in -90..90';
    END IF;
    IF jsonb_typeof(metadata -> 'lng') IS DISTINCT FROM 'number'
       OR NOT is_valid_lng((metadata ->> 'lng')::float8) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location lng must be a number in -180..180';
    END IF;
    IF metadata ? 'accuracy' AND (jsonb_typeof(metadata -> 'accuracy') <> 'number'
                                  OR (metadata ->> 'accuracy')::float8 NOT BETWEEN 0 AND 100000) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location accuracy must be a number of metres in 0..100000';
    END IF;
    IF metadata ? 'name' AND (jsonb_typeof(metadata -> 'name') <> 'string'
                              OR length(metadata ->> 'name') > 200) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location name must be a text of at most 200 characters';
    END IF;
    RETURN metadata;
  END IF;
  IF type IN ('IMAGE', 'FILE') THEN
    FOR k IN SELECT jsonb_object_keys(metadata) LOOP
      IF k <> 'file_upload_id' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'attachment metadata has an unknown key',
          DETAIL = format('%s; the only key is file_upload_id', left(k, 60));
      END IF;
    END LOOP;
    IF jsonb_typeof(metadata -> 'file_upload_id') IS DISTINCT FROM 'string'
       OR (metadata ->> 'file_upload_id') !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an attachment needs metadata.file_upload_id, the id of an upload';
    END IF;
    fid := (metadata ->> 'file_upload_id')::uuid;
    SELECT * INTO f FROM file_uploads u WHERE u.id = fid AND u.deleted_at IS NULL;
    IF f.id IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'file upload not found',
        DETAIL = format('no upload with id %s (or it was deleted)', fid);
    END IF;
    IF f.user_id IS DISTINCT FROM sender_id THEN
      RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'the upload belongs to another user';
    END IF;
    IF type = 'IMAGE' AND f.mime_type NOT LIKE 'image/%' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an image message needs an image upload',
        DETAIL = format('the upload is %s', f.mime_type);
    END IF;
    out := jsonb_build_object('file_upload_id', f.id, 'mime_type', f.mime_type, 'size_bytes', f.size_bytes,
                              'name', f.original_name);
    RETURN out;
  END IF;
  RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'SYSTEM messages are written by the platform only';
END
$$;
COMMENT ON FUNCTION chat_validate(message_type, text, jsonb, uuid) IS
  'Internal: per-type validation of a message (22023 naming the problem): TEXT 1..4000 characters, no metadata; LOCATION {"lat", "lng", "accuracy"?, "name"?} with valid coordinates; IMAGE and FILE {"file_upload_id"} of a non-deleted upload of the sender (IMAGE: an image/* upload; PT404 unknown, 42501 another user''s), caption at most 1000 characters; SYSTEM refused (42501). Returns the metadata to store (attachments get mime_type, size_bytes and name of the upload).';

CREATE FUNCTION chat_triggers_active() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN pg_catalog.current_setting('check_function_bodies') <> 'off';
COMMENT ON FUNCTION chat_triggers_active() IS
  'Internal: false while pg_restore (or a pg_dump script) loads data: those always run with check_function_bodies = off, and the dump already holds the conversations, participants, messages and notifications the messaging triggers once made, so the triggers stand aside instead of making them twice.';

-- ---------------------------------------------------------------------------
-- Triggers on messages: unique sent_at, counters, NOTIFY, outbox
-- ---------------------------------------------------------------------------
CREATE FUNCTION messages_sent_at_unique() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NEW;
  END IF;
  WHILE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = NEW.conversation_id AND m.sent_at = NEW.sent_at) LOOP
    NEW.sent_at := NEW.sent_at + interval '1 microsecond';
  END LOOP;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION messages_sent_at_unique() IS
  'Trigger function: moves the sent_at of a directly inserted message on by a microsecond while it collides with another message of the conversation (sent_at is the history keyset). send_message never collides.';
CREATE TRIGGER messages_sent_at_unique BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION messages_sent_at_unique();
COMMENT ON TRIGGER messages_sent_at_unique ON messages IS 'Keeps sent_at unique per conversation for direct inserts.';

CREATE FUNCTION messages_after_insert() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  timeout interval := coalesce(pg_catalog.current_setting('steppergo.chat_presence_timeout', true), '60')::interval;
  trip trips;
  sender_name text;
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  IF NEW.is_hidden THEN
    RETURN NULL;
  END IF;
  -- takes the conversation's row lock (senders serialise here)
  UPDATE conversations c
     SET last_message_at = greatest(coalesce(c.last_message_at, '-infinity'), NEW.sent_at)
   WHERE c.id = NEW.conversation_id;
  UPDATE conversation_participants p
     SET unread_count = p.unread_count + 1
   WHERE p.conversation_id = NEW.conversation_id
     AND p.user_id IS DISTINCT FROM NEW.sender_id
     AND p.left_at IS NULL
     AND p.joined_at <= NEW.sent_at
     AND (p.last_read_at IS NULL OR p.last_read_at < NEW.sent_at);
  PERFORM pg_catalog.pg_notify(conversation_channel(NEW.conversation_id),
    json_build_object('event', 'message', 'conversation_id', NEW.conversation_id, 'message_id', NEW.id,
                      'type', NEW.type, 'sender_id', NEW.sender_id, 'sent_at', NEW.sent_at)::text);
  -- the outbox: participants with notifications on who are not connected
  IF EXISTS (SELECT 1 FROM conversation_participants p
              WHERE p.conversation_id = NEW.conversation_id AND p.left_at IS NULL
                AND p.notifications_enabled AND p.user_id IS DISTINCT FROM NEW.sender_id
                AND NOT EXISTS (SELECT 1 FROM chat_presence s
                                 WHERE s.user_id = p.user_id AND s.last_seen_at > pg_catalog.now() - timeout)) THEN
    SELECT t.* INTO trip FROM trips t JOIN conversations c ON c.trip_id = t.id WHERE c.id = NEW.conversation_id;
    SELECT u.name INTO sender_name FROM users u WHERE u.id = NEW.sender_id;
    INSERT INTO notifications (user_id, type, channel, recipient, subject, body, status)
    SELECT p.user_id, 'CHAT_MESSAGE', x.channel, x.recipient, left(trip.title, 500),
           CASE NEW.type
             WHEN 'SYSTEM' THEN NEW.content
             WHEN 'TEXT' THEN coalesce(sender_name, 'Someone') || ' sent a message'
             WHEN 'IMAGE' THEN coalesce(sender_name, 'Someone') || ' sent a photo'
             WHEN 'FILE' THEN coalesce(sender_name, 'Someone') || ' sent a file'
             WHEN 'LOCATION' THEN coalesce(sender_name, 'Someone') || ' shared a location'
           END,
           'PENDING'
      FROM conversation_participants p
      JOIN users u ON u.id = p.user_id
      CROSS JOIN LATERAL (
        SELECT CASE WHEN p.notification_channel IN ('SMS', 'WHATSAPP') AND u.phone IS NOT NULL THEN p.notification_channel
                    WHEN p.notification_channel = 'EMAIL' AND u.email IS NOT NULL THEN p.notification_channel
                    ELSE 'PUSH'::delivery_channel END AS channel,
               CASE WHEN p.notification_channel IN ('SMS', 'WHATSAPP') AND u.phone IS NOT NULL THEN u.phone
                    WHEN p.notification_channel = 'EMAIL' AND u.email IS NOT NULL THEN u.email
                    ELSE u.id::text END AS recipient) x
     WHERE p.conversation_id = NEW.conversation_id AND p.left_at IS NULL
       AND p.notifications_enabled AND p.user_id IS DISTINCT FROM NEW.sender_id
       AND NOT EXISTS (SELECT 1 FROM chat_presence s
                        WHERE s.user_id = p.user_id AND s.last_seen_at > pg_catalog.now() - timeout);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION messages_after_insert() IS
  'Trigger function: for a new visible message, under the conversation''s row lock, advances last_message_at, adds one to the unread_count of every active participant but the sender, announces it on the conversation''s NOTIFY channel, and queues a CHAT_MESSAGE notification for each participant with notifications on who is not connected (chat_presence).';
CREATE TRIGGER messages_after_insert AFTER INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION messages_after_insert();
COMMENT ON TRIGGER messages_after_insert ON messages IS 'Counters, NOTIFY and outbox for every new message, whoever writes it.';

CREATE FUNCTION messages_after_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  IF OLD.is_hidden IS DISTINCT FROM NEW.is_hidden OR OLD.sent_at IS DISTINCT FROM NEW.sent_at
     OR OLD.sender_id IS DISTINCT FROM NEW.sender_id THEN
    PERFORM 1 FROM conversations c WHERE c.id = NEW.conversation_id FOR NO KEY UPDATE;
    PERFORM chat_refresh_conversation(NEW.conversation_id);
  END IF;
  IF OLD.is_hidden IS DISTINCT FROM NEW.is_hidden THEN
    PERFORM pg_catalog.pg_notify(conversation_channel(NEW.conversation_id),
      json_build_object('event', CASE WHEN NEW.is_hidden THEN 'hidden' ELSE 'unhidden' END,
                        'conversation_id', NEW.conversation_id, 'message_id', NEW.id,
                        'type', NEW.type, 'sender_id', NEW.sender_id, 'sent_at', NEW.sent_at)::text);
  ELSIF (OLD.content IS DISTINCT FROM NEW.content OR OLD.metadata IS DISTINCT FROM NEW.metadata) AND NOT NEW.is_hidden THEN
    PERFORM pg_catalog.pg_notify(conversation_channel(NEW.conversation_id),
      json_build_object('event', 'edited', 'conversation_id', NEW.conversation_id, 'message_id', NEW.id,
                        'type', NEW.type, 'sender_id', NEW.sender_id, 'sent_at', NEW.sent_at,
                        'edited_at', NEW.edited_at)::text);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION messages_after_change() IS
  'Trigger function: after a message is hidden, unhidden, or its sent_at or sender changes, recomputes the conversation''s last_message_at and unread counts under its row lock; announces hides and edits on the NOTIFY channel (never with content).';
CREATE TRIGGER messages_after_change AFTER UPDATE ON messages
  FOR EACH ROW
  WHEN (OLD.is_hidden IS DISTINCT FROM NEW.is_hidden OR OLD.sent_at IS DISTINCT FROM NEW.sent_at
        OR OLD.sender_id IS DISTINCT FROM NEW.sender_id OR OLD.content IS DISTINCT FROM NEW.content
        OR OLD.metadata IS DISTINCT FROM NEW.metadata)
  EXECUTE FUNCTION messages_after_change();
COMMENT ON TRIGGER messages_after_change ON messages IS 'Keeps counters exact and announces hides and edits.';

CREATE FUNCTION messages_after_delete() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  cid uuid;
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  FOR cid IN SELECT DISTINCT o.conversation_id FROM old_rows o ORDER BY 1 LOOP
    PERFORM 1 FROM conversations c WHERE c.id = cid FOR NO KEY UPDATE;
    IF FOUND THEN
      PERFORM chat_refresh_conversation(cid);
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION messages_after_delete() IS
  'Trigger function: after messages are deleted, recomputes last_message_at and unread counts of the conversations that still exist.';
CREATE TRIGGER messages_after_delete AFTER DELETE ON messages
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_after_delete();
COMMENT ON TRIGGER messages_after_delete ON messages IS 'Keeps counters exact when messages are deleted.';

-- ---------------------------------------------------------------------------
-- Triggers on the other domains' tables: membership and SYSTEM messages
-- ---------------------------------------------------------------------------
CREATE FUNCTION chat_trip_inserted() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  PERFORM chat_ensure_conversation(NEW.id);
  PERFORM chat_sync_member(NEW.id, NEW.organizer_id);
  IF NEW.driver_id IS NOT NULL THEN
    PERFORM chat_sync_member(NEW.id, (SELECT d.user_id FROM drivers d WHERE d.id = NEW.driver_id));
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION chat_trip_inserted() IS
  'Trigger function: a new trip gets its conversation with the organizer (and the driver, if already assigned) as participants.';
CREATE TRIGGER chat_trip_inserted AFTER INSERT ON trips
  FOR EACH ROW EXECUTE FUNCTION chat_trip_inserted();
COMMENT ON TRIGGER chat_trip_inserted ON trips IS 'Messaging: one conversation per trip, created with it.';

CREATE FUNCTION chat_trip_people_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  old_user uuid;
  new_user uuid;
  new_name text;
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  IF OLD.organizer_id IS DISTINCT FROM NEW.organizer_id THEN
    PERFORM chat_sync_member(NEW.id, OLD.organizer_id);
    PERFORM chat_sync_member(NEW.id, NEW.organizer_id);
  END IF;
  IF OLD.driver_id IS DISTINCT FROM NEW.driver_id THEN
    SELECT d.user_id INTO old_user FROM drivers d WHERE d.id = OLD.driver_id;
    SELECT d.user_id, u.name INTO new_user, new_name FROM drivers d JOIN users u ON u.id = d.user_id
     WHERE d.id = NEW.driver_id;
    IF OLD.driver_id IS NOT NULL THEN
      PERFORM chat_post_system(NEW.id, 'The driver is no longer assigned to this trip',
                               jsonb_build_object('event', 'driver_unassigned', 'driver_id', OLD.driver_id));
      PERFORM chat_sync_member(NEW.id, old_user);
    END IF;
    IF NEW.driver_id IS NOT NULL THEN
      PERFORM chat_sync_member(NEW.id, new_user);
      PERFORM chat_post_system(NEW.id, format('%s is the driver of this trip', coalesce(new_name, 'A driver')),
                               jsonb_build_object('event', 'driver_assigned', 'driver_id', NEW.driver_id));
    END IF;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION chat_trip_people_changed() IS
  'Trigger function: when a trip''s driver is assigned, changed or cleared (or its organizer changes), the users join or leave the conversation and a SYSTEM message says so.';
CREATE TRIGGER chat_trip_people_changed AFTER UPDATE OF driver_id, organizer_id ON trips
  FOR EACH ROW
  WHEN (OLD.driver_id IS DISTINCT FROM NEW.driver_id OR OLD.organizer_id IS DISTINCT FROM NEW.organizer_id)
  EXECUTE FUNCTION chat_trip_people_changed();
COMMENT ON TRIGGER chat_trip_people_changed ON trips IS 'Messaging: the driver and organizer follow the trip.';

CREATE FUNCTION chat_booking_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  who text;
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.user_id IS DISTINCT FROM NEW.user_id THEN
    PERFORM chat_sync_member(OLD.trip_id, OLD.user_id);
  END IF;
  -- the cancellation is told while the passenger is still in, so they see it
  IF TG_OP = 'UPDATE' AND OLD.status IN ('CONFIRMED', 'COMPLETED') AND NEW.status IN ('CANCELLED', 'REFUNDED') THEN
    SELECT u.name INTO who FROM users u WHERE u.id = NEW.user_id;
    PERFORM chat_post_system(NEW.trip_id,
      format('%s cancelled their booking (%s %s)', coalesce(who, 'A passenger'), NEW.seats_booked,
             CASE WHEN NEW.seats_booked = 1 THEN 'seat' ELSE 'seats' END),
      jsonb_build_object('event', 'booking_cancelled', 'booking_id', NEW.id, 'seats', NEW.seats_booked));
  END IF;
  PERFORM chat_sync_member(NEW.trip_id, NEW.user_id);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION chat_booking_changed() IS
  'Trigger function: a passenger joins the trip''s conversation when their booking becomes CONFIRMED (or is written COMPLETED), rejoining if they had left, and leaves when it is CANCELLED or REFUNDED unless another live booking, the organizer''s or the driver''s role keeps them in; a cancelled confirmed booking is announced by a SYSTEM message.';
CREATE TRIGGER chat_booking_inserted AFTER INSERT ON bookings
  FOR EACH ROW WHEN (NEW.status IN ('CONFIRMED', 'COMPLETED'))
  EXECUTE FUNCTION chat_booking_changed();
COMMENT ON TRIGGER chat_booking_inserted ON bookings IS 'Messaging: a passenger with a confirmed booking joins the chat.';
CREATE TRIGGER chat_booking_changed AFTER UPDATE OF status, user_id ON bookings
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.user_id IS DISTINCT FROM NEW.user_id)
  EXECUTE FUNCTION chat_booking_changed();
COMMENT ON TRIGGER chat_booking_changed ON bookings IS 'Messaging: passengers join and leave with their bookings.';

CREATE FUNCTION chat_trip_status_text(to_status trip_status, reason text) RETURNS text
  LANGUAGE sql IMMUTABLE
  SET search_path FROM CURRENT
  RETURN CASE to_status
    WHEN 'DRAFT' THEN 'The trip is back in draft'
    WHEN 'PUBLISHED' THEN 'The trip is open for booking'
    WHEN 'FULL' THEN 'All seats are booked'
    WHEN 'IN_PROGRESS' THEN 'The trip has started'
    WHEN 'DEPARTED' THEN 'The vehicle has left the starting point'
    WHEN 'EN_ROUTE' THEN 'The driver is on the way'
    WHEN 'DRIVER_ARRIVED' THEN 'The driver has arrived at the pickup point'
    WHEN 'PASSENGERS_BOARDED' THEN 'All passengers are on board'
    WHEN 'IN_TRANSIT' THEN 'On the way to the destination'
    WHEN 'DELAYED' THEN 'The trip is running late'
    WHEN 'ARRIVED' THEN 'Arrived at the destination'
    WHEN 'COMPLETED' THEN 'The trip is completed'
    WHEN 'CANCELLED' THEN 'The trip was cancelled' || coalesce(': ' || left(reason, 500), '')
    ELSE 'The trip is now ' || to_status::text
  END;
COMMENT ON FUNCTION chat_trip_status_text(trip_status, text) IS
  'Internal: the text of the SYSTEM message for a trip status change.';

CREATE FUNCTION chat_trip_status_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  -- offers come and go many times before a driver accepts; the assignment
  -- itself is announced by chat_trip_people_changed
  IF NEW.to_status = 'OFFERED' OR NEW.from_status = 'OFFERED'
     OR NEW.from_status IS NOT DISTINCT FROM NEW.to_status THEN
    RETURN NULL;
  END IF;
  PERFORM chat_post_system(NEW.trip_id, chat_trip_status_text(NEW.to_status, NEW.reason),
    jsonb_build_object('event', 'trip_status', 'from', NEW.from_status, 'to', NEW.to_status,
                       'history_id', NEW.id));
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION chat_trip_status_changed() IS
  'Trigger function: every trip status change recorded in trip_status_history becomes a SYSTEM message in the trip''s conversation (moves into or out of OFFERED excepted: dispatch churn, the driver assignment is announced on its own).';
CREATE TRIGGER chat_trip_status_changed AFTER INSERT ON trip_status_history
  FOR EACH ROW EXECUTE FUNCTION chat_trip_status_changed();
COMMENT ON TRIGGER chat_trip_status_changed ON trip_status_history IS 'Messaging: trip status changes are told in the chat.';

-- ---------------------------------------------------------------------------
-- Public API
-- ---------------------------------------------------------------------------
CREATE FUNCTION trip_conversation(trip_id uuid, user_id uuid DEFAULT NULL) RETURNS uuid
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  cid uuid;
  me uuid;
BEGIN
  PERFORM require_arg(trip_id, 'trip_id');
  SELECT c.id INTO cid FROM conversations c WHERE c.trip_id = trip_conversation.trip_id;
  IF cid IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('no trip (conversation) with id %s', trip_id);
  END IF;
  IF user_id IS NULL AND chat_is_moderator() THEN
    RETURN cid;
  END IF;
  me := chat_actor(user_id);
  PERFORM chat_participant(cid, me);
  RETURN cid;
END
$$;
COMMENT ON FUNCTION trip_conversation(uuid, uuid) IS
  'The conversation id of a trip, for a participant (the calling user, or user_id), an ADMIN or a trusted caller. PT404 for an unknown trip, 42501 for a non-participant.';
SELECT api_expose('trip_conversation(uuid,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION send_message(conversation_id uuid, content text, type message_type DEFAULT 'TEXT',
                             metadata jsonb DEFAULT '{}', user_id uuid DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  p conversation_participants;
  md jsonb;
  msg messages;
BEGIN
  PERFORM require_arg(conversation_id, 'conversation_id');
  PERFORM require_arg(type, 'type');
  IF type = 'TEXT' THEN
    PERFORM require_arg(content, 'content');
  END IF;
  me := chat_actor(user_id);
  md := chat_validate(type, coalesce(content, ''), metadata, me);
  -- lock first, then look at the membership with a fresh snapshot
  PERFORM 1 FROM conversations c WHERE c.id = send_message.conversation_id FOR NO KEY UPDATE;
  p := chat_participant(conversation_id, me);
  IF p.left_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'you left this conversation',
      DETAIL = format('left at %s', p.left_at);
  END IF;
  msg := chat_post(conversation_id, me, type, coalesce(content, ''), md);
  RETURN msg.id;
END
$$;
COMMENT ON FUNCTION send_message(uuid, text, message_type, jsonb, uuid) IS
  'Sends a message to a conversation as the calling user (or user_id, for a trusted backend or an ADMIN) and returns its id. Types: TEXT (1..4000 characters), IMAGE and FILE (metadata {"file_upload_id"}: a non-deleted upload of the sender; content is an optional caption of at most 1000 characters), LOCATION (metadata {"lat", "lng", "accuracy"?, "name"?}). Refusals: 22023 empty, oversize or malformed; 22004 NULL; 42501 not an active participant, or type SYSTEM; PT404 unknown conversation or upload. The message is announced on conversation_channel(conversation_id) and queued as a notification for participants who are not connected.';
SELECT api_expose('send_message(uuid,text,message_type,jsonb,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION edit_message(message_id uuid, content text, metadata jsonb DEFAULT NULL, user_id uuid DEFAULT NULL)
  RETURNS timestamptz
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  m messages;
  p conversation_participants;
  md jsonb;
  ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
  PERFORM require_arg(message_id, 'message_id');
  me := chat_actor(user_id);
  SELECT * INTO m FROM messages x WHERE x.id = edit_message.message_id FOR UPDATE;
  IF m.id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found',
      DETAIL = format('no message with id %s', message_id);
  END IF;
  p := chat_participant(m.conversation_id, me);
  IF m.sender_id IS DISTINCT FROM me THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the sender may edit a message';
  END IF;
  IF p.left_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'you left this conversation';
  END IF;
  IF m.is_hidden THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the message was hidden by a moderator';
  END IF;
  IF m.type IN ('IMAGE', 'FILE') THEN
    IF metadata IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the attachment of a message cannot be changed',
        HINT = 'Edit the caption only (metadata NULL), or send a new message.';
    END IF;
    IF length(content) > 1000 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a caption is at most 1000 characters',
        DETAIL = format('the caption has %s characters', length(content));
    END IF;
    md := m.metadata;
  ELSIF m.type = 'LOCATION' THEN
    md := chat_validate(m.type, coalesce(content, ''), coalesce(metadata, m.metadata), me);
  ELSE
    IF m.type = 'TEXT' THEN
      PERFORM require_arg(content, 'content');
    END IF;
    md := chat_validate(m.type, content, coalesce(metadata, '{}'), me);
  END IF;
  UPDATE messages x SET content = coalesce(edit_message.content, ''), metadata = md, edited_at = ts
   WHERE x.id = m.id;
  RETURN ts;
END
$$;
COMMENT ON FUNCTION edit_message(uuid, text, jsonb, uuid) IS
  'Edits one''s own message (its text, a caption, or a LOCATION''s metadata) with the same validation as send_message; sets edited_at and returns it. 42501 for another''s message or after leaving, PT409 for a hidden message, PT404 unknown message. The attachment of IMAGE and FILE messages cannot change (22023).';
SELECT api_expose('edit_message(uuid,text,jsonb,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_target_time(conversation_id uuid, up_to_message_id uuid, p conversation_participants)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  ts timestamptz;
BEGIN
  IF up_to_message_id IS NULL THEN
    SELECT max(m.sent_at) INTO ts FROM messages m
     WHERE m.conversation_id = chat_target_time.conversation_id AND NOT m.is_hidden
       AND (p.left_at IS NULL OR m.sent_at <= p.left_at);
    RETURN ts;
  END IF;
  SELECT m.sent_at INTO ts FROM messages m
   WHERE m.id = up_to_message_id AND m.conversation_id = chat_target_time.conversation_id;
  IF ts IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found in this conversation',
      DETAIL = format('no message with id %s in conversation %s', up_to_message_id, conversation_id);
  END IF;
  IF p.left_at IS NOT NULL AND ts > p.left_at THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'the message was sent after you left';
  END IF;
  RETURN ts;
END
$$;
COMMENT ON FUNCTION chat_target_time(uuid, uuid, conversation_participants) IS
  'Internal: sent_at of the message a receipt goes up to (the newest visible one when NULL), checked to belong to the conversation and to the participant''s membership.';

CREATE FUNCTION mark_delivered(conversation_id uuid, up_to_message_id uuid DEFAULT NULL, user_id uuid DEFAULT NULL)
  RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  p conversation_participants;
  target timestamptz;
  n integer;
BEGIN
  PERFORM require_arg(conversation_id, 'conversation_id');
  me := chat_actor(user_id);
  PERFORM 1 FROM conversations c WHERE c.id = mark_delivered.conversation_id FOR SHARE;
  p := chat_participant(conversation_id, me);
  target := chat_target_time(conversation_id, up_to_message_id, p);
  IF target IS NULL THEN
    RETURN 0;
  END IF;
  UPDATE messages m SET status = 'DELIVERED', delivered_at = coalesce(m.delivered_at, pg_catalog.clock_timestamp())
   WHERE m.conversation_id = mark_delivered.conversation_id
     AND m.sent_at >= p.joined_at AND m.sent_at <= target
     AND (p.last_read_at IS NULL OR m.sent_at > p.last_read_at)
     AND m.sender_id IS DISTINCT FROM me AND NOT m.is_hidden
     AND m.status = 'SENT';
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    PERFORM pg_catalog.pg_notify(conversation_channel(conversation_id),
      json_build_object('event', 'delivered', 'conversation_id', conversation_id, 'user_id', me,
                        'up_to', target)::text);
  END IF;
  RETURN n;
END
$$;
COMMENT ON FUNCTION mark_delivered(uuid, uuid, uuid) IS
  'Receipt from a participant''s device: others'' messages up to the given one (the newest when NULL), sent since the participant joined and after their read position, move SENT to DELIVERED (never backwards). Returns how many moved; announces it on the NOTIFY channel. 42501 for a non-participant or a message after leaving, PT404 for a message of another conversation.';
SELECT api_expose('mark_delivered(uuid,uuid,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION mark_read(conversation_id uuid, up_to_message_id uuid DEFAULT NULL, user_id uuid DEFAULT NULL)
  RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  p conversation_participants;
  target timestamptz;
  n integer;
  ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
  PERFORM require_arg(conversation_id, 'conversation_id');
  me := chat_actor(user_id);
  -- readers share the conversation lock: they wait for senders in flight,
  -- not for each other; the participant row serialises one user's devices
  PERFORM 1 FROM conversations c WHERE c.id = mark_read.conversation_id FOR SHARE;
  PERFORM 1 FROM conversation_participants cp
   WHERE cp.conversation_id = mark_read.conversation_id AND cp.user_id = me FOR UPDATE;
  p := chat_participant(conversation_id, me);
  target := chat_target_time(conversation_id, up_to_message_id, p);
  IF target IS NULL OR (p.last_read_at IS NOT NULL AND target <= p.last_read_at) THEN
    RETURN p.unread_count;
  END IF;
  UPDATE messages m SET status = 'READ', read_at = coalesce(m.read_at, ts), delivered_at = coalesce(m.delivered_at, ts)
   WHERE m.conversation_id = mark_read.conversation_id
     AND m.sent_at >= p.joined_at AND m.sent_at <= target
     AND (p.last_read_at IS NULL OR m.sent_at > p.last_read_at)
     AND m.sender_id IS DISTINCT FROM me AND NOT m.is_hidden
     AND m.status IN ('SENT', 'DELIVERED');
  UPDATE conversation_participants cp SET last_read_at = target WHERE cp.id = p.id;
  UPDATE conversation_participants cp SET unread_count = chat_unread_recount(cp.conversation_id, cp.user_id)
   WHERE cp.id = p.id
  RETURNING cp.unread_count INTO n;
  PERFORM pg_catalog.pg_notify(conversation_channel(conversation_id),
    json_build_object('event', 'read', 'conversation_id', conversation_id, 'user_id', me, 'up_to', target)::text);
  RETURN n;
END
$$;
COMMENT ON FUNCTION mark_read(uuid, uuid, uuid) IS
  'The participant has read up to the given message (the newest visible one when NULL): their last_read_at moves forward to its sent_at (never back), others'' messages up to it move to READ (SENT and DELIVERED only), and unread_count is recounted. Returns the remaining unread_count; announces the receipt on the NOTIFY channel. 42501 non-participant or a message after leaving, PT404 message of another conversation.';
SELECT api_expose('mark_read(uuid,uuid,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION report_message(message_id uuid, reason text, user_id uuid DEFAULT NULL) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  m messages;
  p conversation_participants;
BEGIN
  PERFORM require_arg(message_id, 'message_id');
  PERFORM require_arg(reason, 'reason');
  IF btrim(reason) = '' OR length(reason) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'reason must be a text of 1 to 1000 characters';
  END IF;
  me := chat_actor(user_id);
  SELECT * INTO m FROM messages x WHERE x.id = report_message.message_id FOR UPDATE;
  IF m.id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found';
  END IF;
  p := chat_participant(m.conversation_id, me);
  IF m.is_hidden OR (p.left_at IS NOT NULL AND m.sent_at > p.left_at) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found';
  END IF;
  IF m.sender_id IS NOT DISTINCT FROM me THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'you cannot report your own message';
  END IF;
  IF m.type = 'SYSTEM' THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'SYSTEM messages cannot be reported';
  END IF;
  IF m.is_reported THEN
    RETURN false;
  END IF;
  UPDATE messages x SET is_reported = true, report_reason = btrim(reason), reported_at = pg_catalog.clock_timestamp(),
                        reported_by = me
   WHERE x.id = m.id;
  RETURN true;
END
$$;
COMMENT ON FUNCTION report_message(uuid, text, uuid) IS
  'A participant reports another''s message for moderation (reason, 1..1000 characters). Returns true, or false when it was already reported (the first report is kept). 42501 for one''s own or a SYSTEM message or a non-participant; PT404 for an unknown, hidden, or after-leaving message. Reported, not yet hidden messages are listed by the messages_reported_idx index.';
SELECT api_expose('report_message(uuid,text,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION hide_message(message_id uuid, reason text DEFAULT NULL) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  m messages;
BEGIN
  PERFORM require_arg(message_id, 'message_id');
  PERFORM assert_app_role('ADMIN');
  IF length(reason) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'reason is at most 1000 characters';
  END IF;
  -- the conversation first, as senders and readers lock it (no deadlock
  -- with a mark_read updating this message under the conversation's lock)
  PERFORM 1 FROM conversations c
   WHERE c.id = (SELECT x.conversation_id FROM messages x WHERE x.id = hide_message.message_id)
     FOR NO KEY UPDATE;
  SELECT * INTO m FROM messages x WHERE x.id = hide_message.message_id FOR UPDATE;
  IF m.id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found';
  END IF;
  IF m.is_hidden THEN
    RETURN false;
  END IF;
  UPDATE messages x SET is_hidden = true, hidden_at = pg_catalog.clock_timestamp(), hidden_by = current_user_id()
   WHERE x.id = m.id;
  PERFORM log_admin_action('HIDE_MESSAGE', 'message', m.id::text,
    jsonb_build_object('conversation_id', m.conversation_id, 'sender_id', m.sender_id, 'type', m.type,
                       'was_reported', m.is_reported, 'report_reason', m.report_reason, 'reason', reason));
  RETURN true;
END
$$;
COMMENT ON FUNCTION hide_message(uuid, text) IS
  'ADMIN: hides a message from participants (history, counters and last_message_at follow), audited in admin_actions (HIDE_MESSAGE) in the same transaction. Returns false when it was already hidden. 42501 for other roles, PT404 unknown message.';
SELECT api_expose('hide_message(uuid,text)'::regprocedure, 'authenticated');

CREATE FUNCTION unhide_message(message_id uuid, reason text DEFAULT NULL) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  m messages;
BEGIN
  PERFORM require_arg(message_id, 'message_id');
  PERFORM assert_app_role('ADMIN');
  IF length(reason) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'reason is at most 1000 characters';
  END IF;
  -- the conversation first, as senders and readers lock it (no deadlock
  -- with a mark_read updating this message under the conversation's lock)
  PERFORM 1 FROM conversations c
   WHERE c.id = (SELECT x.conversation_id FROM messages x WHERE x.id = unhide_message.message_id)
     FOR NO KEY UPDATE;
  SELECT * INTO m FROM messages x WHERE x.id = unhide_message.message_id FOR UPDATE;
  IF m.id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found';
  END IF;
  IF NOT m.is_hidden THEN
    RETURN false;
  END IF;
  UPDATE messages x SET is_hidden = false, hidden_at = NULL, hidden_by = NULL WHERE x.id = m.id;
  PERFORM log_admin_action('UNHIDE_MESSAGE', 'message', m.id::text,
    jsonb_build_object('conversation_id', m.conversation_id, 'hidden_by', m.hidden_by, 'hidden_at', m.hidden_at,
                       'reason', reason));
  RETURN true;
END
$$;
COMMENT ON FUNCTION unhide_message(uuid, text) IS
  'ADMIN: reverses hide_message (audited as UNHIDE_MESSAGE). Returns false when the message was not hidden.';
SELECT api_expose('unhide_message(uuid,text)'::regprocedure, 'authenticated');

CREATE FUNCTION set_notifications(conversation_id uuid, enabled boolean, channel delivery_channel DEFAULT NULL,
                                  user_id uuid DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  p conversation_participants;
BEGIN
  PERFORM require_arg(conversation_id, 'conversation_id');
  PERFORM require_arg(enabled, 'enabled');
  me := chat_actor(user_id);
  p := chat_participant(conversation_id, me);
  UPDATE conversation_participants cp
     SET notifications_enabled = enabled, notification_channel = coalesce(channel, cp.notification_channel)
   WHERE cp.id = p.id;
END
$$;
COMMENT ON FUNCTION set_notifications(uuid, boolean, delivery_channel, uuid) IS
  'A participant switches the outbox notifications of a conversation on or off, optionally choosing their channel (PUSH, SMS, WHATSAPP, EMAIL; unchanged when NULL). 42501 for a non-participant.';
SELECT api_expose('set_notifications(uuid,boolean,delivery_channel,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION message_history(conversation_id uuid, before timestamptz DEFAULT NULL, page_size integer DEFAULT 50,
                                user_id uuid DEFAULT NULL)
  RETURNS TABLE (id uuid, sender_id uuid, type message_type, content text, metadata jsonb, status message_status,
                 sent_at timestamptz, delivered_at timestamptz, read_at timestamptz, edited_at timestamptz,
                 is_reported boolean, is_hidden boolean)
  AS 'MODULE_PATHNAME', 'sg_messaging_history'
  LANGUAGE C STABLE SECURITY DEFINER ROWS 50
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION message_history(uuid, timestamptz, integer, uuid) IS
  'One page of a conversation''s history, newest first: at most page_size (1..200, default 50) messages sent before before (NULL: the newest); pass the sent_at of a page''s last row as before to get the next page (keyset on messages_conversation_sent_idx; sent_at is unique per conversation). Participants never get hidden messages, and one who left gets the history up to their leaving; an ADMIN or a trusted caller without user_id reads everything with is_hidden shown. 42501 non-participant, PT404 unknown conversation, 22023 bad page_size.';
SELECT api_expose('message_history(uuid,timestamptz,integer,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION my_conversations(user_id uuid DEFAULT NULL, include_left boolean DEFAULT false)
  RETURNS TABLE (conversation_id uuid, trip_id uuid, trip_title text, trip_status trip_status,
                 departure_time timestamptz, last_message_at timestamptz, unread_count integer,
                 last_read_at timestamptz, notifications_enabled boolean, notification_channel delivery_channel,
                 joined_at timestamptz, left_at timestamptz)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  me := chat_actor(user_id);
  RETURN QUERY
    SELECT c.id, t.id, t.title, t.status, t.departure_time, c.last_message_at, p.unread_count,
           p.last_read_at, p.notifications_enabled, p.notification_channel, p.joined_at, p.left_at
      FROM conversation_participants p
      JOIN conversations c ON c.id = p.conversation_id
      JOIN trips t ON t.id = c.trip_id
     WHERE p.user_id = me AND (include_left OR p.left_at IS NULL)
     ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC;
END
$$;
COMMENT ON FUNCTION my_conversations(uuid, boolean) IS
  'The conversations of the calling user (or user_id) with their unread counts, the trip they belong to, and the newest activity first; conversations they left only with include_left.';
SELECT api_expose('my_conversations(uuid,boolean)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_heartbeat(user_id uuid DEFAULT NULL, client text DEFAULT NULL) RETURNS timestamptz
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  timeout interval := coalesce(pg_catalog.current_setting('steppergo.chat_presence_timeout', true), '60')::interval;
  ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
  me := chat_actor(user_id);
  IF length(client) > 200 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'client is at most 200 characters';
  END IF;
  INSERT INTO chat_presence AS s (user_id, connected_at, last_seen_at, client)
  VALUES (me, ts, ts, client)
  ON CONFLICT ON CONSTRAINT chat_presence_pkey DO UPDATE
    SET connected_at = CASE WHEN s.last_seen_at > ts - timeout THEN s.connected_at ELSE ts END,
        last_seen_at = ts, client = coalesce(EXCLUDED.client, s.client);
  RETURN ts + timeout;
END
$$;
COMMENT ON FUNCTION chat_heartbeat(uuid, text) IS
  'Called by the real-time gateway (or the app) while the user is connected, at least once per steppergo.chat_presence_timeout: the user counts as listening and gets new messages by NOTIFY only, no outbox notification. Returns the time until which the heartbeat holds.';
SELECT api_expose('chat_heartbeat(uuid,text)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_disconnect(user_id uuid DEFAULT NULL) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  me := chat_actor(user_id);
  DELETE FROM chat_presence s WHERE s.user_id = me;
  RETURN FOUND;
END
$$;
COMMENT ON FUNCTION chat_disconnect(uuid) IS
  'Called by the gateway when the user''s last connection closes: from now on new messages also queue outbox notifications. Returns false when the user was not connected.';
SELECT api_expose('chat_disconnect(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_presence_cleanup() RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  timeout interval := coalesce(pg_catalog.current_setting('steppergo.chat_presence_timeout', true), '60')::interval;
  n integer;
BEGIN
  DELETE FROM chat_presence s WHERE s.last_seen_at < pg_catalog.now() - timeout - interval '1 hour';
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION chat_presence_cleanup() IS
  'Removes presence rows whose heartbeat stopped more than an hour (plus the timeout) ago; they already count as not listening, this only keeps the table small. Returns rows removed. The job steppergo_chat_presence_cleanup runs it hourly.';
SELECT api_expose('chat_presence_cleanup()'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_chat_presence_cleanup', '17 * * * *', 'SELECT steppergo.chat_presence_cleanup()',
   'Hourly: drops chat presence rows of users whose heartbeat stopped long ago (they already count as not listening).');

-- ---------------------------------------------------------------------------
-- Backfill: trips created before these triggers (an upgrade from 0.1) get
-- their conversation and participants; counters are computed once.
-- ---------------------------------------------------------------------------
INSERT INTO conversations (trip_id)
SELECT t.id FROM trips t
 WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.trip_id = t.id);
INSERT INTO conversation_participants (conversation_id, user_id, joined_at)
SELECT DISTINCT ON (c.id, x.user_id) c.id, x.user_id, c.created_at
  FROM conversations c
  JOIN trips t ON t.id = c.trip_id
  CROSS JOIN LATERAL (
    SELECT t.organizer_id AS user_id
    UNION ALL SELECT d.user_id FROM drivers d WHERE d.id = t.driver_id
    UNION ALL SELECT b.user_id FROM bookings b WHERE b.trip_id = t.id AND b.status IN ('CONFIRMED', 'COMPLETED')) x
ON CONFLICT ON CONSTRAINT conversation_participants_once DO NOTHING;
SELECT refresh_conversation_counts();
-- ===========================================================================
-- activities (release 0.2): owners, listings, photos, schedules,
-- availability, capacity-safe booking, cancellation refunds, reviews, search
--
-- See src/activities/README.md for the status workflow, the JSON shapes, the
-- refund rule and the time-zone rule.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- Internal helpers
-- ---------------------------------------------------------------------------
CREATE FUNCTION activity_json_keys(doc jsonb, allowed text[], what text) RETURNS text[]
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  keys text[];
  bad text;
BEGIN
  IF doc IS NULL OR jsonb_typeof(doc) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must be a JSON object', what);
  END IF;
  SELECT array_agg(k ORDER BY k) INTO keys FROM jsonb_object_keys(doc) k;
  SELECT k INTO bad FROM unnest(keys) k WHERE NOT k = ANY (allowed) LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s has an unknown or read-only key', what),
      DETAIL = format('%s.%s; known keys: %s', what, left(bad, 60), array_to_string(allowed, ', '));
  END IF;
  RETURN coalesce(keys, '{}');
END
$$;
COMMENT ON FUNCTION activity_json_keys(jsonb, text[], text) IS
  'Internal: the keys of a JSON object argument, sorted; raises 22023 when it is not an object or has a key outside the allowed list.';

-- The editable fields of an activity listing (create_activity, update_activity).
CREATE FUNCTION activity_editable_fields() RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN ARRAY['title', 'description', 'category', 'address', 'city', 'latitude', 'longitude',
               'price_per_person', 'currency', 'group_pricing', 'min_participants', 'max_participants',
               'duration_minutes', 'schedule_type', 'available_days', 'blackout_dates',
               'advance_booking_days', 'cancellation_policy', 'inclusions', 'exclusions', 'requirements',
               'timezone', 'min_notice_hours'];
COMMENT ON FUNCTION activity_editable_fields() IS
  'The keys create_activity and update_activity accept: the columns of activities an owner edits.';

CREATE FUNCTION activity_owner_editable_fields() RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN ARRAY['business_name', 'business_type', 'tax_id', 'registration_number', 'business_address',
               'city', 'country', 'phone', 'website', 'categories', 'documents_url'];
COMMENT ON FUNCTION activity_owner_editable_fields() IS
  'The keys create_activity_owner and update_activity_owner accept: the business details of activity_owners.';

-- The owner's user of an activity, locking nothing; PT404 when unknown.
CREATE FUNCTION activity_owner_user(activity_id uuid) RETURNS uuid
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  u uuid;
BEGIN
  SELECT o.user_id INTO u
    FROM activities a JOIN activity_owners o ON o.id = a.owner_id
   WHERE a.id = activity_owner_user.activity_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'activity not found',
      DETAIL = format('no activity with id %s', activity_owner_user.activity_id);
  END IF;
  RETURN u;
END
$$;
COMMENT ON FUNCTION activity_owner_user(uuid) IS
  'Internal: the user id of the owner of an activity; PT404 when the activity does not exist.';

CREATE FUNCTION caller_is_admin() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN is_trusted_caller() OR current_app_role() IS NOT DISTINCT FROM 'ADMIN';
COMMENT ON FUNCTION caller_is_admin() IS
  'Internal: true for a trusted caller or a request whose app_role is ADMIN.';

-- ---------------------------------------------------------------------------
-- Aggregates kept exact by triggers.  Each recount first locks the row it
-- rewrites and then counts with a fresh snapshot, so concurrent writers
-- serialise on that row and each sees the others' committed work (READ
-- COMMITTED), or fails with 40001 (REPEATABLE READ / SERIALIZABLE).  A
-- recount, not a delta, so that replaying rows (pg_restore) cannot count
-- anything twice.
-- ---------------------------------------------------------------------------
CREATE FUNCTION activity_owner_recount(owner_id uuid) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM 1 FROM activity_owners o WHERE o.id = activity_owner_recount.owner_id FOR NO KEY UPDATE;
  UPDATE activity_owners o
     SET total_activities = s.na, total_bookings = s.nb, total_revenue = s.rev,
         review_count = s.rc, rating_total = s.rt,
         average_rating = CASE WHEN s.rc > 0 THEN round(s.rt::numeric / s.rc, 2) ELSE 0 END
    FROM (SELECT count(*)::int AS na, coalesce(sum(a.total_bookings), 0)::int AS nb,
                 coalesce(sum(a.total_revenue), 0) AS rev, coalesce(sum(a.review_count), 0)::int AS rc,
                 coalesce(sum(a.rating_total), 0)::bigint AS rt
            FROM activities a WHERE a.owner_id = activity_owner_recount.owner_id) s
   WHERE o.id = activity_owner_recount.owner_id
     AND (o.total_activities, o.total_bookings, o.total_revenue, o.review_count, o.rating_total)
         IS DISTINCT FROM (s.na, s.nb, s.rev, s.rc, s.rt);
END
$$;
COMMENT ON FUNCTION activity_owner_recount(uuid) IS
  'Internal: recomputes an owner''s total_activities, total_bookings, total_revenue, review_count, rating_total and average_rating from its activities, under a lock on the owner row.';

CREATE FUNCTION activity_recount(activity_id uuid) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  own uuid;
BEGIN
  SELECT a.owner_id INTO own FROM activities a WHERE a.id = activity_recount.activity_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN;   -- the activity is being deleted
  END IF;
  UPDATE activities a
     SET total_bookings = s.nb, total_revenue = s.rev
    FROM (SELECT (count(*) FILTER (WHERE b.status IN ('CONFIRMED', 'COMPLETED')))::int AS nb,
                 coalesce(sum(b.total_amount - b.refund_amount)
                            FILTER (WHERE b.payment_status IN ('SUCCEEDED', 'REFUNDED')), 0) AS rev
            FROM activity_bookings b WHERE b.activity_id = activity_recount.activity_id) s
   WHERE a.id = activity_recount.activity_id
     AND (a.total_bookings, a.total_revenue) IS DISTINCT FROM (s.nb, s.rev);
  UPDATE activities a
     SET review_count = s.rc, rating_total = s.rt,
         average_rating = CASE WHEN s.rc > 0 THEN round(s.rt::numeric / s.rc, 2) ELSE 0 END
    FROM (SELECT count(*)::int AS rc, coalesce(sum(r.rating), 0)::bigint AS rt
            FROM activity_reviews r WHERE r.activity_id = activity_recount.activity_id) s
   WHERE a.id = activity_recount.activity_id
     AND (a.review_count, a.rating_total) IS DISTINCT FROM (s.rc, s.rt);
  PERFORM activity_owner_recount(own);
END
$$;
COMMENT ON FUNCTION activity_recount(uuid) IS
  'Internal: recomputes an activity''s total_bookings (CONFIRMED and COMPLETED bookings), total_revenue (total_amount - refund_amount of bookings whose payment_status is SUCCEEDED or REFUNDED), review_count, rating_total and average_rating, then its owner''s; under a lock on the activity row.';

-- What a booking contributes to the aggregates; the trigger recounts only
-- when this changes, so an unpaid PENDING booking costs no recount.
CREATE FUNCTION activity_booking_weight(b activity_bookings) RETURNS text
  LANGUAGE sql IMMUTABLE
  SET search_path FROM CURRENT
  RETURN b.activity_id::text || ':' || (b.status IN ('CONFIRMED', 'COMPLETED'))::text || ':'
         || CASE WHEN b.payment_status IN ('SUCCEEDED', 'REFUNDED') THEN (b.total_amount - b.refund_amount)::text ELSE '0' END;
COMMENT ON FUNCTION activity_booking_weight(activity_bookings) IS
  'Internal: what one booking contributes to its activity''s aggregates (activity, counted, revenue), as text to compare.';

CREATE FUNCTION activity_bookings_aggregates() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status IN ('CONFIRMED', 'COMPLETED') OR NEW.payment_status IN ('SUCCEEDED', 'REFUNDED') THEN
      PERFORM activity_recount(NEW.activity_id);
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF OLD.status IN ('CONFIRMED', 'COMPLETED') OR OLD.payment_status IN ('SUCCEEDED', 'REFUNDED') THEN
      PERFORM activity_recount(OLD.activity_id);
    END IF;
  ELSIF activity_booking_weight(OLD) IS DISTINCT FROM activity_booking_weight(NEW) THEN
    PERFORM activity_recount(NEW.activity_id);
    IF OLD.activity_id <> NEW.activity_id THEN
      PERFORM activity_recount(OLD.activity_id);
    END IF;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION activity_bookings_aggregates() IS
  'Trigger function: after any write to activity_bookings that changes what a booking counts for, recounts the activity''s and its owner''s total_bookings and total_revenue.';
CREATE TRIGGER activity_bookings_aggregates AFTER INSERT OR UPDATE OR DELETE ON activity_bookings
  FOR EACH ROW EXECUTE FUNCTION activity_bookings_aggregates();
COMMENT ON TRIGGER activity_bookings_aggregates ON activity_bookings IS
  'Keeps total_bookings and total_revenue of the activity and its owner exact, whoever writes the booking (the booking functions, the payment webhook, a DBA).';

CREATE FUNCTION activity_bookings_stamp() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  -- A cancelled booking never comes back: its places may be sold already.
  -- A payment that succeeds after the cancellation (a late webhook after the
  -- hold expired) is owed back in full.
  IF OLD.status IN ('CANCELLED', 'REFUNDED') AND NEW.status IN ('PENDING', 'CONFIRMED') THEN
    NEW.status := OLD.status;
  END IF;
  IF NEW.status = 'CANCELLED' AND OLD.status = 'CANCELLED'
     AND NEW.payment_status = 'SUCCEEDED' AND OLD.payment_status <> 'SUCCEEDED' THEN
    NEW.refund_amount := NEW.total_amount;
  END IF;
  -- payment REFUNDED means the provider gave the whole charge back (the
  -- Stripe webhook applies only full refunds)
  IF NEW.payment_status = 'REFUNDED' AND OLD.payment_status <> 'REFUNDED' THEN
    NEW.refund_amount := NEW.total_amount;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NEW.status = 'CONFIRMED' AND NEW.confirmed_at IS NULL THEN
      NEW.confirmed_at := pg_catalog.now();
    ELSIF NEW.status = 'COMPLETED' AND NEW.completed_at IS NULL THEN
      NEW.completed_at := pg_catalog.now();
    ELSIF NEW.status IN ('CANCELLED', 'REFUNDED') AND NEW.cancelled_at IS NULL THEN
      NEW.cancelled_at := pg_catalog.now();
    END IF;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION activity_bookings_stamp() IS
  'Trigger function: stamps confirmed_at, completed_at or cancelled_at when a booking''s status moves there and the writer did not set it; keeps a CANCELLED or REFUNDED booking from returning to PENDING or CONFIRMED, makes a payment that succeeds after the cancellation refundable in full, and sets refund_amount to the whole amount when the payment becomes REFUNDED.';
CREATE TRIGGER activity_bookings_stamp BEFORE UPDATE OF status, payment_status ON activity_bookings
  FOR EACH ROW EXECUTE FUNCTION activity_bookings_stamp();
COMMENT ON TRIGGER activity_bookings_stamp ON activity_bookings IS
  'Stamps the time of a status change (for writers such as the payment webhook that only set the status); a cancelled booking stays cancelled, a late payment on it is refunded in full.';

CREATE FUNCTION activity_reviews_aggregates() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM activity_recount(NEW.activity_id);
  END IF;
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.activity_id <> NEW.activity_id) THEN
    PERFORM activity_recount(OLD.activity_id);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION activity_reviews_aggregates() IS
  'Trigger function: after a review is written, changed or removed, recounts review_count, rating_total and average_rating of the activity and its owner.';
CREATE TRIGGER activity_reviews_aggregates AFTER INSERT OR DELETE OR UPDATE OF rating, activity_id ON activity_reviews
  FOR EACH ROW EXECUTE FUNCTION activity_reviews_aggregates();
COMMENT ON TRIGGER activity_reviews_aggregates ON activity_reviews IS
  'Keeps the ratings of the activity and its owner exact, whoever writes the review.';

CREATE FUNCTION activities_owner_aggregates() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM activity_owner_recount(NEW.owner_id);
  END IF;
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.owner_id <> NEW.owner_id) THEN
    PERFORM activity_owner_recount(OLD.owner_id);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION activities_owner_aggregates() IS
  'Trigger function: after an activity is added, removed, moved to another owner or its aggregates change, recounts the owner''s totals.';
CREATE TRIGGER activities_owner_aggregates AFTER INSERT OR DELETE OR UPDATE OF owner_id ON activities
  FOR EACH ROW EXECUTE FUNCTION activities_owner_aggregates();
COMMENT ON TRIGGER activities_owner_aggregates ON activities IS
  'Keeps the owner''s total_activities (and its other totals when an activity changes owner) exact.';

-- One cover per activity that has photos: never two (the unique index
-- activity_photos_one_cover), and never none after an INSERT or a DELETE by
-- any writer (these statement triggers give the cover to the first photo in
-- gallery order).  A check at commit would queue trigger events that block
-- ALTER TABLE in the same transaction; a refusal would break bulk loads that
-- mark the cover on a later row.
CREATE FUNCTION activity_photos_keep_cover() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  UPDATE activity_photos p SET is_cover = true
   WHERE p.id IN (SELECT DISTINCT ON (q.activity_id) q.id
                    FROM activity_photos q
                   WHERE q.activity_id IN (SELECT c.activity_id FROM changed c)
                     AND NOT EXISTS (SELECT 1 FROM activity_photos r WHERE r.activity_id = q.activity_id AND r.is_cover)
                   ORDER BY q.activity_id, q."order", q.id);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION activity_photos_keep_cover() IS
  'Trigger function: after photos are inserted or deleted, every affected activity that has photos but no cover gets its first photo (gallery order) as the cover.';
CREATE TRIGGER activity_photos_cover_on_insert AFTER INSERT ON activity_photos
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION activity_photos_keep_cover();
COMMENT ON TRIGGER activity_photos_cover_on_insert ON activity_photos IS
  'The first photo of an activity becomes its cover when none of the inserted photos is.';
CREATE TRIGGER activity_photos_cover_on_delete AFTER DELETE ON activity_photos
  REFERENCING OLD TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION activity_photos_keep_cover();
COMMENT ON TRIGGER activity_photos_cover_on_delete ON activity_photos IS
  'When the cover is deleted, the next photo in gallery order becomes the cover.';

-- ---------------------------------------------------------------------------
-- Owners
-- ---------------------------------------------------------------------------
CREATE FUNCTION create_activity_owner(user_id uuid, business_name text, details jsonb DEFAULT '{}')
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  keys text[];
  r user_role;
  new_id uuid;
  cols text;
BEGIN
  PERFORM require_arg(user_id, 'user_id');
  PERFORM require_arg(business_name, 'business_name');
  keys := activity_json_keys(coalesce(details, '{}'), activity_owner_editable_fields(), 'details');
  IF 'business_name' = ANY (keys) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'details must not repeat business_name';
  END IF;
  PERFORM assert_acting_as(user_id);
  SELECT u.role INTO r FROM users u WHERE u.id = create_activity_owner.user_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'user not found',
      DETAIL = format('no user with id %s', user_id);
  END IF;
  IF r NOT IN ('PASSENGER', 'ACTIVITY_OWNER') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a passenger account can become an activity owner',
      DETAIL = format('the user''s role is %s', r);
  END IF;
  IF EXISTS (SELECT 1 FROM activity_owners o WHERE o.user_id = create_activity_owner.user_id) THEN
    RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'the user already has an activity owner profile';
  END IF;
  cols := (SELECT string_agg(format('%I', k), ', ') FROM unnest(keys) k);
  EXECUTE format('INSERT INTO steppergo.activity_owners (user_id, business_name%1$s) '
                 'SELECT $1, $2%1$s FROM jsonb_populate_record(NULL::steppergo.activity_owners, $3) RETURNING id',
                 CASE WHEN cols IS NULL THEN '' ELSE ', ' || cols END)
    INTO new_id USING user_id, business_name, coalesce(details, '{}');
  UPDATE users u SET role = 'ACTIVITY_OWNER' WHERE u.id = create_activity_owner.user_id AND u.role <> 'ACTIVITY_OWNER';
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION create_activity_owner(uuid, text, jsonb) IS
  'Creates the activity-owner profile of a user (the user or an admin), verification PENDING, and makes the user an ACTIVITY_OWNER (new tokens carry the role). details: business_type, tax_id, registration_number, business_address, city, country, phone, website, categories, documents_url. 23505 when the user has a profile, PT409 for driver or admin accounts.';
SELECT api_expose('create_activity_owner(uuid,text,jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION update_activity_owner(owner_id uuid, changes jsonb) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  keys text[];
  o activity_owners;
  cols text;
BEGIN
  PERFORM require_arg(owner_id, 'owner_id');
  keys := activity_json_keys(require_arg(changes, 'changes'), activity_owner_editable_fields(), 'changes');
  SELECT * INTO o FROM activity_owners x WHERE x.id = update_activity_owner.owner_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'activity owner not found',
      DETAIL = format('no activity owner with id %s', owner_id);
  END IF;
  PERFORM assert_acting_as(o.user_id);
  IF cardinality(keys) = 0 THEN
    RETURN;
  END IF;
  cols := (SELECT string_agg(format('%I', k), ', ') FROM unnest(keys) k);
  -- a rejected owner who corrects the details is reviewed again
  EXECUTE format('UPDATE steppergo.activity_owners o SET (%1$s, verification_status) = '
                 '(SELECT %1$s, CASE WHEN o.verification_status = ''REJECTED'' THEN ''PENDING'' ELSE o.verification_status END '
                 'FROM jsonb_populate_record(NULL::steppergo.activity_owners, $2)) WHERE o.id = $1', cols)
    USING owner_id, changes;
END
$$;
COMMENT ON FUNCTION update_activity_owner(uuid, jsonb) IS
  'Changes an owner''s business details (the owner or an admin); the keys are those of create_activity_owner''s details plus business_name. A REJECTED owner goes back to PENDING for another review.';
SELECT api_expose('update_activity_owner(uuid,jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION verify_activity_owner(owner_id uuid, status text, reason text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  o activity_owners;
  paused uuid[];
BEGIN
  PERFORM require_arg(owner_id, 'owner_id');
  PERFORM require_arg(status, 'status');
  IF status NOT IN ('VERIFIED', 'REJECTED', 'SUSPENDED') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'status must be VERIFIED, REJECTED or SUSPENDED';
  END IF;
  IF status IN ('REJECTED', 'SUSPENDED') AND nullif(btrim(reason), '') IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'reason must not be null when rejecting or suspending';
  END IF;
  PERFORM assert_app_role('ADMIN');
  SELECT * INTO o FROM activity_owners x WHERE x.id = verify_activity_owner.owner_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'activity owner not found',
      DETAIL = format('no activity owner with id %s', owner_id);
  END IF;
  IF NOT (o.verification_status, status) IN (('PENDING', 'VERIFIED'), ('PENDING', 'REJECTED'),
                                             ('VERIFIED', 'SUSPENDED'), ('SUSPENDED', 'VERIFIED')) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'invalid owner verification transition',
      DETAIL = format('%s -> %s', o.verification_status, status);
  END IF;
  UPDATE activity_owners x
     SET verification_status = status,
         verified_at = CASE WHEN status = 'VERIFIED' THEN now() ELSE x.verified_at END,
         verified_by = CASE WHEN status = 'VERIFIED' THEN current_user_id() ELSE x.verified_by END,
         rejection_reason = CASE WHEN status = 'VERIFIED' THEN NULL ELSE left(reason, 1000) END
   WHERE x.id = owner_id;
  -- a suspended owner's listings leave the marketplace
  IF status = 'SUSPENDED' THEN
    WITH p AS (UPDATE activities a SET status = 'PAUSED'
                WHERE a.owner_id = verify_activity_owner.owner_id AND a.status = 'ACTIVE' RETURNING a.id)
    SELECT array_agg(id ORDER BY id) INTO paused FROM p;
  END IF;
  PERFORM log_admin_action('ACTIVITY_OWNER_' || status, 'activity_owner', owner_id::text,
    jsonb_build_object('from', o.verification_status, 'to', status, 'reason', reason)
    || CASE WHEN paused IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('paused_activities', to_jsonb(paused)) END);
END
$$;
COMMENT ON FUNCTION verify_activity_owner(uuid, text, text) IS
  'Admin decision on an owner: PENDING -> VERIFIED | REJECTED, VERIFIED -> SUSPENDED (its ACTIVE listings are PAUSED), SUSPENDED -> VERIFIED; reason required to reject or suspend. Audited (ACTIVITY_OWNER_<STATUS>). 42501 for non-admins, PT409 for other transitions.';
SELECT api_expose('verify_activity_owner(uuid,text,text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Listings
-- ---------------------------------------------------------------------------
CREATE FUNCTION create_activity(owner_id uuid, activity jsonb) RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  keys text[];
  o activity_owners;
  cols text;
  new_id uuid;
BEGIN
  PERFORM require_arg(owner_id, 'owner_id');
  keys := activity_json_keys(require_arg(activity, 'activity'), activity_editable_fields(), 'activity');
  SELECT * INTO o FROM activity_owners x WHERE x.id = create_activity.owner_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'activity owner not found',
      DETAIL = format('no activity owner with id %s', owner_id);
  END IF;
  PERFORM assert_acting_as(o.user_id);
  IF o.verification_status IN ('REJECTED', 'SUSPENDED') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('the owner is %s', lower(o.verification_status));
  END IF;
  FOREACH cols IN ARRAY ARRAY['title', 'category', 'price_per_person'] LOOP
    IF NOT cols = ANY (keys) OR activity -> cols = 'null' THEN
      RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('activity.%s must not be null', cols);
    END IF;
  END LOOP;
  cols := (SELECT string_agg(format('%I', k), ', ') FROM unnest(keys) k);
  EXECUTE format('INSERT INTO steppergo.activities (owner_id, %1$s) '
                 'SELECT $1, %1$s FROM jsonb_populate_record(NULL::steppergo.activities, $2) RETURNING id', cols)
    INTO new_id USING owner_id, activity;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION create_activity(uuid, jsonb) IS
  'Creates a DRAFT listing for an owner (the owner or an admin) from a JSON object of the editable fields (activity_editable_fields(); title, category and price_per_person required). Everything is validated on write (22023 / 23514 naming the field). Returns the activity id.';
SELECT api_expose('create_activity(uuid,jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION update_activity(activity_id uuid, changes jsonb) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  keys text[];
  st text;
  cols text;
BEGIN
  PERFORM require_arg(activity_id, 'activity_id');
  keys := activity_json_keys(require_arg(changes, 'changes'), activity_editable_fields(), 'changes');
  PERFORM assert_acting_as(activity_owner_user(activity_id));
  SELECT a.status INTO st FROM activities a WHERE a.id = update_activity.activity_id FOR NO KEY UPDATE;
  IF st = 'ARCHIVED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'an archived activity cannot be changed';
  END IF;
  IF cardinality(keys) = 0 THEN
    RETURN;
  END IF;
  cols := (SELECT string_agg(format('%I', k), ', ') FROM unnest(keys) k);
  EXECUTE format('UPDATE steppergo.activities a SET (%1$s) = '
                 '(SELECT %1$s FROM jsonb_populate_record(NULL::steppergo.activities, $2)) WHERE a.id = $1', cols)
    USING activity_id, changes;
END
$$;
COMMENT ON FUNCTION update_activity(uuid, jsonb) IS
  'Changes the editable fields of a listing (the owner or an admin), validated as on create; not for ARCHIVED listings (PT409). Existing bookings keep their price and cancellation policy.';
SELECT api_expose('update_activity(uuid,jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION transition_activity(activity_id uuid, new_status text, reason text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  a activities;
  o activity_owners;
  admin_move boolean;
  owner_move boolean;
BEGIN
  PERFORM require_arg(activity_id, 'activity_id');
  PERFORM require_arg(new_status, 'new_status');
  IF new_status NOT IN ('DRAFT', 'PENDING_APPROVAL', 'ACTIVE', 'PAUSED', 'ARCHIVED', 'REJECTED') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unknown activity status',
      DETAIL = 'statuses: DRAFT, PENDING_APPROVAL, ACTIVE, PAUSED, ARCHIVED, REJECTED';
  END IF;
  SELECT * INTO a FROM activities x WHERE x.id = transition_activity.activity_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'activity not found',
      DETAIL = format('no activity with id %s', activity_id);
  END IF;
  SELECT * INTO o FROM activity_owners x WHERE x.id = a.owner_id;
  -- the table of README.md: who may make which move
  admin_move := (a.status, new_status) IN (('PENDING_APPROVAL', 'ACTIVE'), ('PENDING_APPROVAL', 'REJECTED'));
  owner_move := (a.status, new_status) IN (('DRAFT', 'PENDING_APPROVAL'), ('PENDING_APPROVAL', 'DRAFT'),
                                           ('REJECTED', 'DRAFT'), ('ACTIVE', 'PAUSED'), ('PAUSED', 'ACTIVE'),
                                           ('DRAFT', 'ARCHIVED'), ('ACTIVE', 'ARCHIVED'), ('PAUSED', 'ARCHIVED'),
                                           ('REJECTED', 'ARCHIVED'));
  IF NOT (admin_move OR owner_move) THEN
    -- the caller must still be allowed to look at it
    PERFORM assert_acting_as(o.user_id);
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'invalid activity status transition',
      DETAIL = format('%s -> %s', a.status, new_status);
  END IF;
  IF admin_move THEN
    PERFORM assert_app_role('ADMIN');
  ELSE
    PERFORM assert_acting_as(o.user_id);   -- the owner, an admin or a trusted caller
  END IF;
  IF new_status = 'REJECTED' AND nullif(btrim(reason), '') IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'reason must not be null when rejecting';
  END IF;
  IF new_status IN ('PENDING_APPROVAL', 'ACTIVE') AND o.verification_status <> 'VERIFIED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a verified owner can publish',
      DETAIL = format('the owner''s verification status is %s', o.verification_status);
  END IF;
  IF new_status = 'PENDING_APPROVAL'
     AND NOT EXISTS (SELECT 1 FROM activity_schedules s WHERE s.activity_id = a.id) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'an activity needs a schedule before approval',
      HINT = 'Add time slots or opening hours with add_activity_schedule.';
  END IF;
  IF new_status = 'ARCHIVED' AND EXISTS (
       SELECT 1 FROM activity_bookings b
        WHERE b.activity_id = a.id AND b.status IN ('PENDING', 'CONFIRMED')) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the activity has live bookings',
      HINT = 'Cancel or complete its PENDING and CONFIRMED bookings first.';
  END IF;
  UPDATE activities x
     SET status = new_status,
         published_at = CASE WHEN new_status = 'ACTIVE' THEN coalesce(x.published_at, now()) ELSE x.published_at END
   WHERE x.id = a.id;
  IF admin_move OR current_app_role() IS NOT DISTINCT FROM 'ADMIN' THEN
    PERFORM log_admin_action(CASE WHEN admin_move AND new_status = 'ACTIVE' THEN 'ACTIVITY_APPROVED'
                                  WHEN admin_move THEN 'ACTIVITY_REJECTED'
                                  ELSE 'ACTIVITY_' || new_status END,
                             'activity', a.id::text,
                             jsonb_build_object('from', a.status, 'to', new_status, 'reason', reason));
  END IF;
END
$$;
COMMENT ON FUNCTION transition_activity(uuid, text, text) IS
  'Moves a listing through its workflow (README): owner DRAFT -> PENDING_APPROVAL (verified owner, with a schedule), admin PENDING_APPROVAL -> ACTIVE | REJECTED (audited; published_at set on the first ACTIVE), owner ACTIVE <-> PAUSED, REJECTED/PENDING_APPROVAL -> DRAFT, -> ARCHIVED without live bookings. PT409 for any other move.';
SELECT api_expose('transition_activity(uuid,text,text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Photos
-- ---------------------------------------------------------------------------
CREATE FUNCTION add_activity_photo(activity_id uuid, url text, cloudinary_id text DEFAULT NULL,
                                   thumbnail_url text DEFAULT NULL, caption text DEFAULT NULL,
                                   width integer DEFAULT NULL, height integer DEFAULT NULL,
                                   size integer DEFAULT NULL, format text DEFAULT NULL,
                                   is_cover boolean DEFAULT false)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  pos integer;
  first boolean;
  new_id uuid;
BEGIN
  PERFORM require_arg(activity_id, 'activity_id');
  PERFORM require_arg(url, 'url');
  PERFORM assert_acting_as(activity_owner_user(activity_id));
  PERFORM 1 FROM activities a WHERE a.id = add_activity_photo.activity_id FOR NO KEY UPDATE;
  SELECT coalesce(max(p."order") + 1, 0), count(*) = 0 INTO pos, first
    FROM activity_photos p WHERE p.activity_id = add_activity_photo.activity_id;
  IF coalesce(is_cover, false) AND NOT first THEN
    UPDATE activity_photos p SET is_cover = false WHERE p.activity_id = add_activity_photo.activity_id AND p.is_cover;
  END IF;
  INSERT INTO activity_photos (activity_id, url, thumbnail_url, cloudinary_id, width, height, size, format, caption,
                               "order", is_cover)
  VALUES (activity_id, url, thumbnail_url, cloudinary_id, width, height, size, format, caption,
          pos, first OR coalesce(add_activity_photo.is_cover, false))
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION add_activity_photo(uuid, text, text, text, text, integer, integer, integer, text, boolean) IS
  'Adds a photo at the end of an activity''s gallery (the owner or an admin). The first photo becomes the cover; is_cover moves the cover to the new photo. 23505 when the cloudinary_id is taken.';
SELECT api_expose('add_activity_photo(uuid,text,text,text,text,integer,integer,integer,text,boolean)'::regprocedure, 'authenticated');

CREATE FUNCTION set_activity_cover(photo_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  act uuid;
BEGIN
  PERFORM require_arg(photo_id, 'photo_id');
  SELECT p.activity_id INTO act FROM activity_photos p WHERE p.id = set_activity_cover.photo_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'photo not found',
      DETAIL = format('no activity photo with id %s', photo_id);
  END IF;
  PERFORM assert_acting_as(activity_owner_user(act));
  PERFORM 1 FROM activities a WHERE a.id = act FOR NO KEY UPDATE;
  -- one statement: the unique index on the cover is checked per row, so
  -- clear the old cover first, then set the new one
  UPDATE activity_photos p SET is_cover = false WHERE p.activity_id = act AND p.is_cover AND p.id <> photo_id;
  UPDATE activity_photos p SET is_cover = true WHERE p.id = photo_id AND NOT p.is_cover;
END
$$;
COMMENT ON FUNCTION set_activity_cover(uuid) IS
  'Makes a photo the cover of its activity, taking the mark from the previous cover in the same transaction (the owner or an admin).';
SELECT api_expose('set_activity_cover(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION reorder_activity_photos(activity_id uuid, photo_ids uuid[]) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM require_arg(activity_id, 'activity_id');
  PERFORM require_arg(photo_ids, 'photo_ids');
  PERFORM assert_acting_as(activity_owner_user(activity_id));
  PERFORM 1 FROM activities a WHERE a.id = reorder_activity_photos.activity_id FOR NO KEY UPDATE;
  IF (SELECT array_agg(p.id ORDER BY p.id) FROM activity_photos p WHERE p.activity_id = reorder_activity_photos.activity_id)
     IS DISTINCT FROM (SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest(photo_ids) x)
     OR cardinality(photo_ids) <> (SELECT count(*) FROM activity_photos p WHERE p.activity_id = reorder_activity_photos.activity_id) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'photo_ids must list every photo of the activity exactly once';
  END IF;
  UPDATE activity_photos p SET "order" = x.n - 1
    FROM unnest(photo_ids) WITH ORDINALITY x(id, n)
   WHERE p.id = x.id AND p."order" <> x.n - 1;
END
$$;
COMMENT ON FUNCTION reorder_activity_photos(uuid, uuid[]) IS
  'Sets the gallery order of an activity''s photos to the order of photo_ids (0, 1, 2, ...), which must list each of its photos once (22023 otherwise).';
SELECT api_expose('reorder_activity_photos(uuid,uuid[])'::regprocedure, 'authenticated');

CREATE FUNCTION remove_activity_photo(photo_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p activity_photos;
BEGIN
  PERFORM require_arg(photo_id, 'photo_id');
  SELECT * INTO p FROM activity_photos x WHERE x.id = remove_activity_photo.photo_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'photo not found',
      DETAIL = format('no activity photo with id %s', photo_id);
  END IF;
  PERFORM assert_acting_as(activity_owner_user(p.activity_id));
  PERFORM 1 FROM activities a WHERE a.id = p.activity_id FOR NO KEY UPDATE;
  DELETE FROM activity_photos x WHERE x.id = photo_id;   -- a cover passes on by trigger
END
$$;
COMMENT ON FUNCTION remove_activity_photo(uuid) IS
  'Removes a photo (the owner or an admin); when it was the cover, the first remaining photo becomes the cover.';
SELECT api_expose('remove_activity_photo(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Schedules
-- ---------------------------------------------------------------------------
CREATE FUNCTION add_activity_schedule(activity_id uuid, start_time time, end_time time,
                                      day_of_week text DEFAULT NULL, specific_date date DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  new_id uuid;
BEGIN
  PERFORM require_arg(activity_id, 'activity_id');
  PERFORM require_arg(start_time, 'start_time');
  PERFORM require_arg(end_time, 'end_time');
  IF (day_of_week IS NULL) = (specific_date IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'give either day_of_week (weekly) or specific_date (one-off)';
  END IF;
  IF day_of_week IS NOT NULL AND NOT day_of_week = ANY (weekdays()) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'day_of_week must be one of MON, TUE, WED, THU, FRI, SAT, SUN';
  END IF;
  IF end_time <= start_time THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'end_time must be after start_time';
  END IF;
  PERFORM assert_acting_as(activity_owner_user(activity_id));
  IF (SELECT a.status FROM activities a WHERE a.id = add_activity_schedule.activity_id) = 'ARCHIVED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'an archived activity cannot be changed';
  END IF;
  INSERT INTO activity_schedules (activity_id, day_of_week, start_time, end_time, is_recurring, specific_date)
  VALUES (activity_id, day_of_week, start_time, end_time, day_of_week IS NOT NULL, specific_date)
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION add_activity_schedule(uuid, time, time, text, date) IS
  'Adds a weekly (day_of_week) or one-off (specific_date) schedule row in the activity''s local time: a time slot of a FIXED activity, opening hours of a FLEXIBLE one (the owner or an admin).';
SELECT api_expose('add_activity_schedule(uuid,time,time,text,date)'::regprocedure, 'authenticated');

CREATE FUNCTION remove_activity_schedule(schedule_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  act uuid;
BEGIN
  PERFORM require_arg(schedule_id, 'schedule_id');
  SELECT s.activity_id INTO act FROM activity_schedules s WHERE s.id = remove_activity_schedule.schedule_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'schedule not found',
      DETAIL = format('no activity schedule with id %s', schedule_id);
  END IF;
  PERFORM assert_acting_as(activity_owner_user(act));
  DELETE FROM activity_schedules s WHERE s.id = schedule_id;
END
$$;
COMMENT ON FUNCTION remove_activity_schedule(uuid) IS
  'Removes a schedule row (the owner or an admin). Bookings already made for its slots stay valid.';
SELECT api_expose('remove_activity_schedule(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Slots and availability
-- ---------------------------------------------------------------------------
-- Every slot an activity runs between two local dates, ignoring the booking
-- window: FIXED = its schedule rows; FLEXIBLE = start times every
-- steppergo.activity_slot_step_minutes inside the opening hours such that the
-- activity ends by closing time.  Weekly rows count on days that are in
-- available_days (all days when it is empty); blackout dates have no slots.
CREATE FUNCTION activity_slots(a activities, from_date date, to_date date)
  RETURNS TABLE (slot_date date, start_time time, end_time time)
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
BEGIN ATOMIC
  WITH days AS (
    SELECT d::date AS d, (ARRAY['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'])[extract(isodow FROM d)::int] AS dow
      FROM generate_series(from_date::timestamp, to_date::timestamp, interval '1 day') d
     WHERE NOT d::date = ANY (a.blackout_dates)
  ), hours AS (
    SELECT days.d, s.start_time, s.end_time
      FROM days JOIN activity_schedules s ON s.activity_id = a.id
     WHERE (s.is_recurring AND s.day_of_week = days.dow
            AND (cardinality(a.available_days) = 0 OR days.dow = ANY (a.available_days)))
        OR (NOT s.is_recurring AND s.specific_date = days.d)
  )
  SELECT h.d, h.start_time, max(h.end_time)
    FROM hours h WHERE a.schedule_type = 'FIXED'
   GROUP BY h.d, h.start_time
  UNION ALL
  SELECT h.d, t.ts::time, max((t.ts + make_interval(mins => a.duration_minutes))::time)
    FROM hours h
    CROSS JOIN LATERAL generate_series(h.d + h.start_time,
                                       h.d + h.end_time - make_interval(mins => a.duration_minutes),
                                       make_interval(mins => coalesce(current_setting('steppergo.activity_slot_step_minutes', true)::int, 30))) t(ts)
   WHERE a.schedule_type = 'FLEXIBLE'
   GROUP BY h.d, t.ts
   ORDER BY 1, 2;
END;
COMMENT ON FUNCTION activity_slots(activities, date, date) IS
  'Internal: every slot (local date, start, end) an activity runs between two local dates, ignoring the booking window; see README (FIXED slots, FLEXIBLE start times, available_days, blackout_dates).';

-- The same rule as activity_slots for one date and start time, without
-- generating the day's slots (the booking hot path).
CREATE FUNCTION activity_has_slot(a activities, slot_date date, slot_time time) RETURNS boolean
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  dow text := (ARRAY['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'])[extract(isodow FROM slot_date)::int];
  step integer;
BEGIN
  IF slot_date = ANY (a.blackout_dates) THEN
    RETURN false;
  END IF;
  IF a.schedule_type = 'FIXED' THEN
    RETURN EXISTS (
      SELECT 1 FROM activity_schedules s
       WHERE s.activity_id = a.id AND s.start_time = slot_time
         AND ((s.is_recurring AND s.day_of_week = dow
               AND (cardinality(a.available_days) = 0 OR dow = ANY (a.available_days)))
              OR (NOT s.is_recurring AND s.specific_date = slot_date)));
  END IF;
  step := coalesce(current_setting('steppergo.activity_slot_step_minutes', true)::int, 30);
  RETURN EXISTS (
    SELECT 1 FROM activity_schedules s
     WHERE s.activity_id = a.id AND s.start_time <= slot_time
       AND slot_date + slot_time + make_interval(mins => a.duration_minutes) <= slot_date + s.end_time
       AND (extract(epoch FROM slot_time - s.start_time)::bigint % (step * 60)) = 0
       AND ((s.is_recurring AND s.day_of_week = dow
             AND (cardinality(a.available_days) = 0 OR dow = ANY (a.available_days)))
            OR (NOT s.is_recurring AND s.specific_date = slot_date)));
END
$$;
COMMENT ON FUNCTION activity_has_slot(activities, date, time) IS
  'Internal: true when the activity runs a slot starting at that local date and time (the rule of activity_slots, checked directly).';

CREATE FUNCTION activity_availability(activity_id uuid, from_date date, to_date date)
  RETURNS TABLE (scheduled_date date, scheduled_time time, end_time time, starts_at timestamptz,
                 capacity integer, booked integer, remaining integer)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  a activities;
  today date;
  earliest timestamptz;
BEGIN
  PERFORM require_arg(activity_id, 'activity_id');
  PERFORM require_arg(from_date, 'from_date');
  PERFORM require_arg(to_date, 'to_date');
  IF to_date < from_date OR to_date - from_date > 366 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the date range must run forwards over at most 367 days';
  END IF;
  SELECT * INTO a FROM activities x WHERE x.id = activity_availability.activity_id;
  IF NOT FOUND OR (a.status <> 'ACTIVE' AND NOT is_trusted_caller()
                   AND current_user_id() IS DISTINCT FROM (SELECT o.user_id FROM activity_owners o WHERE o.id = a.owner_id)
                   AND current_app_role() IS DISTINCT FROM 'ADMIN') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'activity not found',
      DETAIL = format('no published activity with id %s', activity_id);
  END IF;
  today := (now() AT TIME ZONE a.timezone)::date;
  earliest := now() + make_interval(hours => a.min_notice_hours);
  RETURN QUERY
  SELECT s.slot_date, s.start_time, s.end_time, (s.slot_date + s.start_time) AT TIME ZONE a.timezone,
         a.max_participants, coalesce(b.n, 0)::int, greatest(a.max_participants - coalesce(b.n, 0), 0)::int
    FROM activity_slots(a, greatest(from_date, today), least(to_date, today + a.advance_booking_days)) s
    LEFT JOIN (SELECT x.scheduled_date, x.scheduled_time, sum(x.participants) AS n
                 FROM activity_bookings x
                WHERE x.activity_id = a.id AND x.scheduled_date BETWEEN from_date AND to_date
                  AND x.status IN ('PENDING', 'CONFIRMED')
                GROUP BY 1, 2) b ON b.scheduled_date = s.slot_date AND b.scheduled_time = s.start_time
   WHERE (s.slot_date + s.start_time) AT TIME ZONE a.timezone >= earliest
   ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION activity_availability(uuid, date, date) IS
  'The bookable slots of an activity between two local dates (at most 367 days): each with its local date and times, the instant it starts, capacity (max_participants), places held by PENDING and CONFIRMED bookings and remaining places. Only slots inside the booking window (from now + min_notice_hours up to local today + advance_booking_days). Anyone may ask about ACTIVE activities; the owner and admins about any.';
SELECT api_expose('activity_availability(uuid,date,date)'::regprocedure, 'anon');

-- ---------------------------------------------------------------------------
-- Booking
-- ---------------------------------------------------------------------------
CREATE FUNCTION activity_price(group_pricing jsonb, price_per_person integer, participants integer) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN coalesce((SELECT (t ->> 'pricePerPerson')::int FROM jsonb_array_elements(group_pricing) t
                    WHERE participants BETWEEN (t ->> 'minParticipants')::int AND (t ->> 'maxParticipants')::int
                    LIMIT 1), price_per_person);
COMMENT ON FUNCTION activity_price(jsonb, integer, integer) IS
  'The price per person for a group size: the pricePerPerson of the group_pricing tier containing it, else the base price_per_person.';

CREATE FUNCTION activity_slot_lock(activity_id uuid, scheduled_date date, scheduled_time time) RETURNS integer
  AS 'MODULE_PATHNAME', 'sg_activities_slot_lock'
  LANGUAGE C VOLATILE;
COMMENT ON FUNCTION activity_slot_lock(uuid, date, time) IS
  'Internal (C): takes the transaction''s lock on one activity slot (one booker per slot at a time) and returns the participants of its PENDING and CONFIRMED bookings, counted with the latest snapshot so that it sees every booking committed before the lock, at any isolation level.';

CREATE FUNCTION book_activity(activity_id uuid, user_id uuid, scheduled_date date, scheduled_time time,
                              participants integer, participant_details jsonb DEFAULT '[]')
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  a activities;
  starts timestamptz;
  held integer;
  price integer;
  new_id uuid;
BEGIN
  PERFORM require_arg(activity_id, 'activity_id');
  PERFORM require_arg(user_id, 'user_id');
  PERFORM require_arg(scheduled_date, 'scheduled_date');
  PERFORM require_arg(scheduled_time, 'scheduled_time');
  PERFORM require_arg(participants, 'participants');
  IF participant_details IS NULL OR jsonb_typeof(participant_details) <> 'array'
     OR jsonb_array_length(participant_details) > participants THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'participant_details must be a JSON array of at most participants entries';
  END IF;
  PERFORM assert_acting_as(user_id);
  SELECT * INTO a FROM activities x WHERE x.id = book_activity.activity_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'activity not found',
      DETAIL = format('no activity with id %s', activity_id);
  END IF;
  IF a.status <> 'ACTIVE' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the activity is not open for booking',
      DETAIL = format('its status is %s', a.status);
  END IF;
  IF participants < a.min_participants OR participants > a.max_participants THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'participants outside the activity''s range',
      DETAIL = format('the activity takes %s..%s participants per booking', a.min_participants, a.max_participants);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = book_activity.user_id) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'user not found', DETAIL = format('no user with id %s', user_id);
  END IF;
  IF scheduled_date = ANY (a.blackout_dates) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the activity does not run on that date';
  END IF;
  IF NOT activity_has_slot(a, scheduled_date, scheduled_time) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'no such slot',
      DETAIL = format('the activity has no slot at %s %s', scheduled_date, scheduled_time),
      HINT = 'activity_availability lists the bookable slots.';
  END IF;
  starts := (scheduled_date + scheduled_time) AT TIME ZONE a.timezone;
  IF starts <= now() THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the slot is in the past';
  END IF;
  IF starts < now() + make_interval(hours => a.min_notice_hours) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'too late to book this slot',
      DETAIL = format('bookings close %s hours before the start', a.min_notice_hours);
  END IF;
  IF scheduled_date > (now() AT TIME ZONE a.timezone)::date + a.advance_booking_days THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'too early to book this slot',
      DETAIL = format('bookings open %s days ahead', a.advance_booking_days);
  END IF;
  -- one booker per slot at a time; the count sees every booking committed
  -- before the lock, whatever the isolation level (slot_lock.c)
  held := activity_slot_lock(a.id, scheduled_date, scheduled_time);
  IF held + participants > a.max_participants THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'not enough places left',
      DETAIL = format('%s of %s places left', greatest(a.max_participants - held, 0), a.max_participants);
  END IF;
  price := activity_price(a.group_pricing, a.price_per_person, participants);
  INSERT INTO activity_bookings (activity_id, passenger_id, scheduled_date, scheduled_time, participants,
                                 participant_details, price_per_person, total_amount, currency, cancellation_policy)
  VALUES (a.id, user_id, scheduled_date, scheduled_time, participants,
          participant_details, price, price * participants, a.currency, a.cancellation_policy)
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION book_activity(uuid, uuid, date, time, integer, jsonb) IS
  'Books places on a slot of an ACTIVE activity for a user (the user or an admin): the slot must exist on that local date and time, not be blacked out, in the past, closer than min_notice_hours or beyond advance_booking_days; participants within min/max and the slot''s remaining places (never oversold: one booker per slot at a time). Prices by group tier else price_per_person, copies the cancellation policy, issues the ACT-YYYY-NNNNNN number. Returns the PENDING booking (payment via the Stripe webhook on payment_id).';
SELECT api_expose('book_activity(uuid,uuid,date,time,integer,jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION activity_refund(policy jsonb, paid integer, hours_before numeric) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN least(paid, floor(paid * coalesce(
           (SELECT (t ->> 'refundPercent')::numeric FROM jsonb_array_elements(coalesce(policy -> 'tiers', '[]')) t
             WHERE (t ->> 'hoursBefore')::numeric <= hours_before
             ORDER BY (t ->> 'hoursBefore')::numeric DESC LIMIT 1), 0) / 100))::int;
COMMENT ON FUNCTION activity_refund(jsonb, integer, numeric) IS
  'The refund a cancellation policy grants on an amount paid, hours_before the start: the refundPercent of the tier with the most hoursBefore not above hours_before, rounded down to whole units; 0 when no tier applies.';

CREATE FUNCTION cancel_activity_booking(booking_id uuid, reason text DEFAULT NULL, cancelled_by uuid DEFAULT NULL)
  RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b activity_bookings;
  a activities;
  owner_user uuid;
  actor uuid;
  by_owner boolean;
  paid integer;
  refund integer;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  SELECT * INTO b FROM activity_bookings x WHERE x.id = cancel_activity_booking.booking_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('no activity booking with id %s', booking_id);
  END IF;
  SELECT * INTO a FROM activities x WHERE x.id = b.activity_id;
  SELECT o.user_id INTO owner_user FROM activity_owners o WHERE o.id = a.owner_id;
  IF is_trusted_caller() THEN
    actor := coalesce(cancelled_by, b.passenger_id);
    IF actor NOT IN (b.passenger_id, owner_user)
       AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = actor AND u.role = 'ADMIN') THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'cancelled_by must be the passenger, the owner or an admin';
    END IF;
    by_owner := actor <> b.passenger_id;
  ELSE
    actor := current_user_id();
    IF actor IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
    END IF;
    IF cancelled_by IS DISTINCT FROM NULL AND cancelled_by <> actor THEN
      RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'cancelled_by is set by trusted callers only';
    END IF;
    IF actor = b.passenger_id THEN
      by_owner := false;
    ELSIF actor = owner_user OR current_app_role() = 'ADMIN' THEN
      by_owner := true;
    ELSE
      RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the passenger, the owner or an admin can cancel this booking';
    END IF;
  END IF;
  IF b.status NOT IN ('PENDING', 'CONFIRMED') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the booking cannot be cancelled',
      DETAIL = format('its status is %s', b.status);
  END IF;
  paid := CASE WHEN b.payment_status = 'SUCCEEDED' THEN b.total_amount ELSE 0 END;
  IF by_owner THEN
    refund := paid;
  ELSE
    refund := activity_refund(b.cancellation_policy, paid,
      extract(epoch FROM ((b.scheduled_date + coalesce(b.scheduled_time, '00:00')) AT TIME ZONE a.timezone) - now()) / 3600);
  END IF;
  UPDATE activity_bookings x
     SET status = 'CANCELLED', cancelled_at = now(), cancelled_by = actor,
         cancellation_reason = left(reason, 1000), refund_amount = refund
   WHERE x.id = b.id;
  IF by_owner AND actor <> owner_user THEN
    PERFORM log_admin_action('ACTIVITY_BOOKING_CANCELLED', 'activity_booking', b.id::text,
      jsonb_build_object('reason', reason, 'refund_amount', refund), actor);
  END IF;
  RETURN refund;
END
$$;
COMMENT ON FUNCTION cancel_activity_booking(uuid, text, uuid) IS
  'Cancels a PENDING or CONFIRMED activity booking (its passenger, the activity''s owner or an admin) and returns the refund due, stored in refund_amount: by the owner or an admin all that was paid; by the passenger by the cancellation policy copied onto the booking, hours before the local start (README). Nothing is refunded that was not paid. Trusted callers name the canceller in cancelled_by (default: the passenger).';
SELECT api_expose('cancel_activity_booking(uuid,text,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION complete_activity_booking(booking_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b activity_bookings;
  a activities;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  SELECT * INTO b FROM activity_bookings x WHERE x.id = complete_activity_booking.booking_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('no activity booking with id %s', booking_id);
  END IF;
  PERFORM assert_acting_as(activity_owner_user(b.activity_id));
  SELECT * INTO a FROM activities x WHERE x.id = b.activity_id;
  IF b.status <> 'CONFIRMED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a confirmed booking can be completed',
      DETAIL = format('its status is %s', b.status);
  END IF;
  IF (b.scheduled_date + coalesce(b.scheduled_time, '00:00')) AT TIME ZONE a.timezone > now() THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the activity has not started yet';
  END IF;
  UPDATE activity_bookings x SET status = 'COMPLETED', completed_at = now() WHERE x.id = b.id;
END
$$;
COMMENT ON FUNCTION complete_activity_booking(uuid) IS
  'Marks a CONFIRMED booking COMPLETED once its slot has started (the owner or an admin); the passenger may then review it.';
SELECT api_expose('complete_activity_booking(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION complete_activity_bookings(at timestamptz DEFAULT now()) RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  n integer;
BEGIN
  UPDATE activity_bookings b SET status = 'COMPLETED', completed_at = now()
    FROM activities a
   WHERE a.id = b.activity_id AND b.status = 'CONFIRMED'
     AND b.scheduled_date <= (at AT TIME ZONE a.timezone)::date
     AND (b.scheduled_date + coalesce(b.scheduled_time, '00:00')) AT TIME ZONE a.timezone
         + make_interval(mins => a.duration_minutes) <= at;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION complete_activity_bookings(timestamptz) IS
  'Job: marks COMPLETED every CONFIRMED booking whose activity ended (local start + duration_minutes) by the given time. Returns how many.';
INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_activity_complete', '*/10 * * * *', 'SELECT steppergo.complete_activity_bookings()',
   'Marks confirmed activity bookings COMPLETED once the activity has ended, so passengers can review them; every 10 minutes is soon enough for that.');

CREATE FUNCTION expire_activity_holds(at timestamptz DEFAULT now()) RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  hold integer := coalesce(current_setting('steppergo.activity_hold_minutes', true)::int, 30);
  n integer;
BEGIN
  IF hold = 0 THEN
    RETURN 0;
  END IF;
  UPDATE activity_bookings b
     SET status = 'CANCELLED', cancelled_at = now(), cancellation_reason = 'payment not received in time', refund_amount = 0
   WHERE b.status = 'PENDING' AND b.payment_status IN ('PENDING', 'FAILED', 'CANCELLED')
     AND b.created_at < at - make_interval(mins => hold);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION expire_activity_holds(timestamptz) IS
  'Job: cancels PENDING activity bookings whose payment has not started (payment_status PENDING, FAILED or CANCELLED) within steppergo.activity_hold_minutes of booking, releasing their places. Returns how many.';
INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_activity_expire_holds', '* * * * *', 'SELECT steppergo.expire_activity_holds()',
   'Releases the places of unpaid activity bookings after steppergo.activity_hold_minutes; every minute so abandoned checkouts do not block a slot for long.');

-- ---------------------------------------------------------------------------
-- Reviews
-- ---------------------------------------------------------------------------
CREATE FUNCTION review_activity(booking_id uuid, rating integer, comment text DEFAULT NULL, photos text[] DEFAULT '{}')
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b activity_bookings;
  new_id uuid;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  PERFORM require_arg(rating, 'rating');
  IF rating NOT BETWEEN 1 AND 5 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'rating must be 1..5';
  END IF;
  IF cardinality(photos) > 10 OR EXISTS (SELECT 1 FROM unnest(photos) p WHERE NOT coalesce(is_http_url(p), false)) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'photos must be at most 10 http(s) URLs';
  END IF;
  SELECT * INTO b FROM activity_bookings x WHERE x.id = review_activity.booking_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('no activity booking with id %s', booking_id);
  END IF;
  IF NOT is_trusted_caller() AND current_user_id() IS DISTINCT FROM b.passenger_id THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the passenger of the booking can review it';
  END IF;
  IF b.status <> 'COMPLETED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a completed booking can be reviewed',
      DETAIL = format('its status is %s', b.status);
  END IF;
  IF EXISTS (SELECT 1 FROM activity_reviews r WHERE r.booking_id = b.id) THEN
    RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'the booking has already been reviewed';
  END IF;
  INSERT INTO activity_reviews (activity_id, booking_id, passenger_id, rating, comment, photos)
  VALUES (b.activity_id, b.id, b.passenger_id, rating, comment, coalesce(photos, '{}'))
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION review_activity(uuid, integer, text, text[]) IS
  'The passenger of a COMPLETED booking reviews it, once (23505 the second time): rating 1..5, optional comment and up to 10 photo URLs. The activity''s and owner''s ratings follow by trigger.';
SELECT api_expose('review_activity(uuid,integer,text,text[])'::regprocedure, 'authenticated');

CREATE FUNCTION activity_details(activity_id uuid) RETURNS jsonb
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  a activities;
  owner_user uuid;
  doc jsonb;
BEGIN
  PERFORM require_arg(activity_id, 'activity_id');
  SELECT * INTO a FROM activities x WHERE x.id = activity_details.activity_id;
  IF FOUND THEN
    SELECT o.user_id INTO owner_user FROM activity_owners o WHERE o.id = a.owner_id;
  END IF;
  IF NOT FOUND OR (a.status <> 'ACTIVE' AND NOT is_trusted_caller()
                   AND current_user_id() IS DISTINCT FROM owner_user
                   AND current_app_role() IS DISTINCT FROM 'ADMIN') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'activity not found',
      DETAIL = format('no published activity with id %s', activity_id);
  END IF;
  doc := to_jsonb(a) - 'geog' - 'rating_total';
  RETURN doc
    || jsonb_build_object(
         'owner', (SELECT jsonb_build_object('id', o.id, 'business_name', o.business_name, 'city', o.city,
                                             'website', o.website, 'verification_status', o.verification_status,
                                             'average_rating', o.average_rating, 'total_activities', o.total_activities)
                     FROM activity_owners o WHERE o.id = a.owner_id),
         'photos', coalesce((SELECT jsonb_agg(jsonb_build_object('id', p.id, 'url', p.url, 'thumbnail_url', p.thumbnail_url,
                                                                 'caption', p.caption, 'width', p.width, 'height', p.height,
                                                                 'order', p."order", 'is_cover', p.is_cover)
                                              ORDER BY p."order", p.id)
                               FROM activity_photos p WHERE p.activity_id = a.id), '[]'),
         'schedules', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'day_of_week', s.day_of_week,
                                                                    'specific_date', s.specific_date,
                                                                    'start_time', s.start_time, 'end_time', s.end_time)
                                                 ORDER BY s.specific_date NULLS FIRST,
                                                          array_position(weekdays(), s.day_of_week), s.start_time)
                                  FROM activity_schedules s WHERE s.activity_id = a.id), '[]'),
         'recent_reviews', coalesce((SELECT jsonb_agg(jsonb_build_object('rating', r.rating, 'comment', r.comment,
                                                                         'photos', r.photos, 'created_at', r.created_at)
                                                      ORDER BY r.created_at DESC)
                                       FROM (SELECT * FROM activity_reviews r WHERE r.activity_id = a.id
                                              ORDER BY r.created_at DESC LIMIT 10) r), '[]'));
END
$$;
COMMENT ON FUNCTION activity_details(uuid) IS
  'A listing as one JSON object: the columns of activities (without geog and rating_total) plus owner (business summary), photos (in gallery order), schedules and the 10 most recent reviews (without reviewer ids). Anyone may read ACTIVE listings; the owner and admins any (PT404 otherwise).';
SELECT api_expose('activity_details(uuid)'::regprocedure, 'anon');

-- ---------------------------------------------------------------------------
-- Search
-- ---------------------------------------------------------------------------
CREATE TYPE activity_search_result AS (
  id                uuid,
  title             text,
  category          text,
  city              text,
  price_per_person  integer,
  currency          text,
  duration_minutes  integer,
  average_rating    numeric,
  review_count      integer,
  latitude          double precision,
  longitude         double precision,
  distance_m        double precision,
  cover_url         text
);
COMMENT ON TYPE activity_search_result IS
  'One row of search_activities: the listing''s summary, its distance from the searched point in metres (NULL without a point) and the URL of its cover photo.';

CREATE FUNCTION search_activities(city text DEFAULT NULL, category text DEFAULT NULL,
                                  lat double precision DEFAULT NULL, lng double precision DEFAULT NULL,
                                  radius_m integer DEFAULT NULL, sort text DEFAULT 'rating',
                                  max_results integer DEFAULT 20)
  RETURNS SETOF activity_search_result
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
  SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  cats text[];
  here geography;
BEGIN
  IF sort IS NULL OR sort NOT IN ('rating', 'distance') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'sort must be rating or distance';
  END IF;
  IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 100 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'max_results must be 1..100';
  END IF;
  IF category IS NOT NULL AND NOT category = ANY (activity_categories()) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'unknown category',
      DETAIL = format('categories: %s', array_to_string(activity_categories(), ', '));
  END IF;
  IF (lat IS NULL) <> (lng IS NULL) OR NOT coalesce(is_valid_lat(lat) AND is_valid_lng(lng), true) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'lat and lng must be given together, within -90..90 and -180..180';
  END IF;
  IF radius_m IS NOT NULL AND (radius_m NOT BETWEEN 1 AND 1000000 OR lat IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'radius_m must be 1..1000000 metres around lat/lng';
  END IF;
  IF sort = 'distance' AND lat IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'lat and lng must not be null when sorting by distance';
  END IF;
  -- Each query below has no OR of parameters, so that its generic plan keeps
  -- the index; the function forces generic plans because planning afresh on
  -- every call (the plan cache keeps choosing custom plans for the KNN
  -- query) costs more than running the query.
  cats := CASE WHEN category IS NULL THEN activity_categories() ELSE ARRAY[category] END;
  here := geog_point(lat, lng);
  IF sort = 'distance' THEN
    -- nearest first through the GiST index on geog (KNN); one query per
    -- combination of filters, so that each generic plan keeps the KNN scan
    IF search_activities.city IS NULL AND radius_m IS NULL THEN
      RETURN QUERY
    SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
           a.average_rating, a.review_count, a.latitude, a.longitude,
           ST_Distance(a.geog, here), (SELECT p.url FROM activity_photos p WHERE p.activity_id = a.id AND p.is_cover)
      FROM activities a
     WHERE a.status = 'ACTIVE' AND a.category = ANY (cats) AND a.geog IS NOT NULL
       ORDER BY a.geog <-> here LIMIT max_results;
    ELSIF radius_m IS NULL THEN
      RETURN QUERY
    SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
           a.average_rating, a.review_count, a.latitude, a.longitude,
           ST_Distance(a.geog, here), (SELECT p.url FROM activity_photos p WHERE p.activity_id = a.id AND p.is_cover)
      FROM activities a
     WHERE a.status = 'ACTIVE' AND a.category = ANY (cats) AND a.geog IS NOT NULL
         AND a.city = search_activities.city
       ORDER BY a.geog <-> here LIMIT max_results;
    ELSIF search_activities.city IS NULL THEN
      RETURN QUERY
    SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
           a.average_rating, a.review_count, a.latitude, a.longitude,
           ST_Distance(a.geog, here), (SELECT p.url FROM activity_photos p WHERE p.activity_id = a.id AND p.is_cover)
      FROM activities a
     WHERE a.status = 'ACTIVE' AND a.category = ANY (cats) AND a.geog IS NOT NULL
         AND ST_DWithin(a.geog, here, radius_m)
       ORDER BY a.geog <-> here LIMIT max_results;
    ELSE
      RETURN QUERY
    SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
           a.average_rating, a.review_count, a.latitude, a.longitude,
           ST_Distance(a.geog, here), (SELECT p.url FROM activity_photos p WHERE p.activity_id = a.id AND p.is_cover)
      FROM activities a
     WHERE a.status = 'ACTIVE' AND a.category = ANY (cats) AND a.geog IS NOT NULL
         AND a.city = search_activities.city AND ST_DWithin(a.geog, here, radius_m)
       ORDER BY a.geog <-> here LIMIT max_results;
    END IF;
  ELSIF search_activities.city IS NOT NULL AND here IS NULL THEN
    -- best rated in a city: the (city, category) index
    RETURN QUERY
    SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
           a.average_rating, a.review_count, a.latitude, a.longitude,
           NULL::double precision, (SELECT p.url FROM activity_photos p WHERE p.activity_id = a.id AND p.is_cover)
      FROM activities a
     WHERE a.city = search_activities.city AND a.category = ANY (cats) AND a.status = 'ACTIVE'
     ORDER BY a.average_rating DESC, a.review_count DESC, a.id LIMIT max_results;
  ELSIF search_activities.city IS NOT NULL THEN
    RETURN QUERY
    SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
           a.average_rating, a.review_count, a.latitude, a.longitude,
           ST_Distance(a.geog, here), (SELECT p.url FROM activity_photos p WHERE p.activity_id = a.id AND p.is_cover)
      FROM activities a
     WHERE a.city = search_activities.city AND a.category = ANY (cats) AND a.status = 'ACTIVE'
       AND (radius_m IS NULL OR ST_DWithin(a.geog, here, radius_m))
     ORDER BY a.average_rating DESC, a.review_count DESC, a.id LIMIT max_results;
  ELSIF here IS NULL THEN
    RETURN QUERY
    SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
           a.average_rating, a.review_count, a.latitude, a.longitude,
           NULL::double precision, (SELECT p.url FROM activity_photos p WHERE p.activity_id = a.id AND p.is_cover)
      FROM activities a
     WHERE a.status = 'ACTIVE' AND a.category = ANY (cats)
     ORDER BY a.average_rating DESC, a.review_count DESC, a.id LIMIT max_results;
  ELSE
    RETURN QUERY
    SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
           a.average_rating, a.review_count, a.latitude, a.longitude,
           ST_Distance(a.geog, here), (SELECT p.url FROM activity_photos p WHERE p.activity_id = a.id AND p.is_cover)
      FROM activities a
     WHERE a.status = 'ACTIVE' AND a.category = ANY (cats)
       AND (radius_m IS NULL OR ST_DWithin(a.geog, here, radius_m))
     ORDER BY a.average_rating DESC, a.review_count DESC, a.id LIMIT max_results;
  END IF;
END
$$;
COMMENT ON FUNCTION search_activities(text, text, double precision, double precision, integer, text, integer) IS
  'Published (ACTIVE) activities, optionally in a city, of a category (activity_categories()) and within radius_m metres of lat/lng; sort rating (best rated first, then most reviewed) or distance (nearest to lat/lng first, through the GiST index); distance_m is NULL without a point. At most max_results (1..100) rows with the cover photo''s URL.';
SELECT api_expose('search_activities(text,text,double precision,double precision,integer,text,integer)'::regprocedure, 'anon');
-- ===========================================================================
-- admin (release 0.2): audit chain, document verification, file uploads,
-- analytics, the notification outbox, credential delivery, retention jobs.
-- See src/admin/README.md.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- Audit trail: append-only, hash-chained
-- ---------------------------------------------------------------------------
CREATE FUNCTION admin_actions_chain() RETURNS trigger
  AS 'MODULE_PATHNAME', 'sg_admin_audit_chain'
  LANGUAGE C;
COMMENT ON FUNCTION admin_actions_chain() IS
  'Trigger function (C): gives each new admin_actions row its seq, prev_hash and keyed BLAKE2b row_hash, under an advisory lock that serialises appends until the transaction ends.';
CREATE TRIGGER admin_actions_chain BEFORE INSERT ON admin_actions
  FOR EACH ROW EXECUTE FUNCTION admin_actions_chain();
COMMENT ON TRIGGER admin_actions_chain ON admin_actions IS
  'Links every audit row into the hash chain (seq, prev_hash, row_hash).';

CREATE FUNCTION admin_action_hash(a admin_actions) RETURNS bytea
  AS 'MODULE_PATHNAME', 'sg_admin_action_hash'
  LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION admin_action_hash(admin_actions) IS
  'The keyed BLAKE2b-256 hash an audit row must carry, recomputed from its seq, content and prev_hash with steppergo.audit_key; NULL for a row outside the chain.';

CREATE FUNCTION admin_actions_refuse_change() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = '42501',
    MESSAGE = format('admin_actions is append-only: %s is not allowed', lower(TG_OP)),
    HINT = 'Archiving is done by a superuser as src/admin/README.md describes.';
END
$$;
COMMENT ON FUNCTION admin_actions_refuse_change() IS
  'Trigger function: refuses UPDATE, DELETE and TRUNCATE on admin_actions (42501), whoever the caller.';
-- Statement-level, so that every UPDATE, DELETE or TRUNCATE is refused, also
-- one whose rows row-level security hides from the caller (it would change
-- nothing, and still says the table is append-only).
CREATE TRIGGER admin_actions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON admin_actions
  FOR EACH STATEMENT EXECUTE FUNCTION admin_actions_refuse_change();
COMMENT ON TRIGGER admin_actions_append_only ON admin_actions IS
  'The audit trail is append-only: no UPDATE, DELETE or TRUNCATE, whoever the caller (42501). A superuser archiving disables it for the deletion (README).';

CREATE FUNCTION verify_audit_chain(anchor bytea DEFAULT NULL)
  RETURNS TABLE (valid boolean, rows_checked bigint, first_seq bigint, last_seq bigint, last_hash bytea,
                 broken_seq bigint, broken_id uuid, problem text)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  genesis constant bytea := decode(repeat('00', 32), 'hex');
  bad record;
BEGIN
  PERFORM assert_app_role('ADMIN');
  IF anchor IS NOT NULL AND length(anchor) <> 32 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'anchor must be a 32-byte hash';
  END IF;
  SELECT count(*), min(a.seq), max(a.seq) INTO rows_checked, first_seq, last_seq FROM admin_actions a;
  SELECT a.row_hash INTO last_hash FROM admin_actions a WHERE a.seq = last_seq;

  SELECT x.seq, x.id, x.problem INTO bad
    FROM (SELECT a.seq, a.id,
                 CASE
                   WHEN a.seq IS NULL OR a.prev_hash IS NULL OR a.row_hash IS NULL
                     THEN 'row is outside the chain (no seq or hash)'
                   WHEN lag(a.seq) OVER w IS NULL AND a.seq = 1 AND a.prev_hash <> genesis
                     THEN 'first row does not start from the genesis hash'
                   WHEN lag(a.seq) OVER w IS NULL AND a.seq > 1 AND anchor IS NOT NULL AND a.prev_hash <> anchor
                     THEN 'first row does not link to the given anchor'
                   WHEN lag(a.seq) OVER w IS NOT NULL AND a.seq <> lag(a.seq) OVER w + 1
                     THEN format('row %s is missing before this one', lag(a.seq) OVER w + 1)
                   WHEN lag(a.seq) OVER w IS NOT NULL AND a.prev_hash <> lag(a.row_hash) OVER w
                     THEN 'prev_hash does not match the previous row''s hash'
                   WHEN a.row_hash <> admin_action_hash(a)
                     THEN 'row content does not match its hash (edited)'
                 END AS problem
            FROM admin_actions a
          WINDOW w AS (ORDER BY a.seq NULLS FIRST)) x
   WHERE x.problem IS NOT NULL
   ORDER BY x.seq NULLS FIRST
   LIMIT 1;
  valid := bad IS NULL;
  IF NOT valid THEN
    broken_seq := bad.seq;
    broken_id := bad.id;
    problem := bad.problem;
  END IF;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION verify_audit_chain(bytea) IS
  'Checks the admin_actions hash chain (ADMIN or trusted callers): every row''s hash against its content, every prev_hash against the row before, seq without gaps. Returns valid, the rows checked, the first and last seq, the last hash (keep it outside the database to detect a truncated tail), and the first broken link (seq, id, problem). anchor: the boundary hash kept when older rows were archived (else the first remaining row''s prev_hash is trusted).';
SELECT api_expose('verify_audit_chain(bytea)'::regprocedure, 'authenticated');

CREATE FUNCTION admin_action_log(target_type text DEFAULT NULL, target_id text DEFAULT NULL,
                                 since timestamptz DEFAULT NULL, max_rows integer DEFAULT 100)
  RETURNS SETOF admin_actions
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM assert_app_role('ADMIN');
  IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 10000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'max_rows must be between 1 and 10000';
  END IF;
  RETURN QUERY
    SELECT a.* FROM admin_actions a
     WHERE (admin_action_log.target_type IS NULL OR a.target_type = admin_action_log.target_type)
       AND (admin_action_log.target_id IS NULL OR a.target_id = admin_action_log.target_id)
       AND (since IS NULL OR a.created_at >= since)
     ORDER BY a.seq DESC NULLS LAST
     LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION admin_action_log(text, text, timestamptz, integer) IS
  'The audit trail for ADMINs, newest first, optionally for one target (type and id) and since an instant; at most max_rows (1..10000) rows.';
SELECT api_expose('admin_action_log(text,text,timestamptz,integer)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Notification outbox
-- ---------------------------------------------------------------------------
CREATE FUNCTION admin_setting_int(name text, fallback integer) RETURNS integer
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN coalesce(nullif(pg_catalog.current_setting('steppergo.' || name, true), '')::integer, fallback);
COMMENT ON FUNCTION admin_setting_int(text, integer) IS
  'Internal: the integer setting steppergo.<name>, or the fallback when the module is not loaded.';

CREATE FUNCTION is_push_first_type(type text) RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN type = ANY (string_to_array(replace(coalesce(pg_catalog.current_setting('steppergo.notification_push_first_types', true),
                                                      'TRIP_OFFER,DRIVER_ARRIVED'), ' ', ''), ','));
COMMENT ON FUNCTION is_push_first_type(text) IS
  'True for notification types routed to PUSH first (steppergo.notification_push_first_types: TRIP_OFFER, DRIVER_ARRIVED by default).';

CREATE FUNCTION notification_recipient(user_id uuid, channel delivery_channel) RETURNS text
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN (SELECT CASE channel WHEN 'PUSH' THEN 'user:' || u.id
                              WHEN 'EMAIL' THEN u.email
                              ELSE u.phone END
            FROM users u WHERE u.id = notification_recipient.user_id);
COMMENT ON FUNCTION notification_recipient(uuid, delivery_channel) IS
  'The address of a user on a channel: the phone for WHATSAPP and SMS, the e-mail for EMAIL, user:<id> for PUSH (the push sender resolves the user''s devices); NULL when the user has none.';

CREATE FUNCTION notifications_route() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  -- time-critical types go to the app first, whatever channel the writer chose;
  -- the chosen channel (and the usual ones) become the fallback
  IF is_push_first_type(NEW.type) THEN
    -- (a fallback row is past PUSH already)
    IF NEW.channel <> 'PUSH' AND NEW.user_id IS NOT NULL AND NEW.fallback_of IS NULL THEN
      NEW.fallback_channels := ARRAY[NEW.channel] || array_remove(NEW.fallback_channels, NEW.channel);
      NEW.channel := 'PUSH';
      NEW.recipient := 'user:' || NEW.user_id;
    END IF;
    IF NEW.priority = 0 THEN
      NEW.priority := 10;
    END IF;
    -- a few seconds matter: no long backoff on PUSH, fall back at once
    IF NEW.channel = 'PUSH' THEN
      NEW.max_attempts := coalesce(NEW.max_attempts, 1);
    END IF;
  END IF;
  NEW.fallback_channels := array_remove(NEW.fallback_channels, NEW.channel);
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION notifications_route() IS
  'Trigger function: routes time-critical notification types to PUSH first (priority 10, one attempt, the original channel as fallback), whoever inserts them.';
CREATE TRIGGER notifications_route BEFORE INSERT ON notifications
  FOR EACH ROW EXECUTE FUNCTION notifications_route();
COMMENT ON TRIGGER notifications_route ON notifications IS 'PUSH first for time-critical types.';

CREATE FUNCTION notifications_wake() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  ch text;
BEGIN
  FOR ch IN SELECT DISTINCT n.channel::text FROM new_rows n WHERE n.status = 'PENDING' ORDER BY 1 LOOP
    PERFORM pg_catalog.pg_notify('steppergo_notifications', ch);
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION notifications_wake() IS
  'Trigger function: after queueing, sends pg_notify(''steppergo_notifications'', channel) once per channel and statement, so LISTENing senders wake up (delivered at commit).';
CREATE TRIGGER notifications_wake AFTER INSERT ON notifications
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION notifications_wake();
COMMENT ON TRIGGER notifications_wake ON notifications IS 'Wakes the senders listening on steppergo_notifications.';

CREATE FUNCTION enqueue_notification(user_id uuid, type text, body text, subject text DEFAULT NULL,
                                     payload jsonb DEFAULT '{}', channel delivery_channel DEFAULT NULL,
                                     recipient text DEFAULT NULL, expires_at timestamptz DEFAULT NULL,
                                     fallback_channels delivery_channel[] DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  chain delivery_channel[];
  first_ch delivery_channel;
  rcpt text := recipient;
  i integer;
  new_id uuid;
BEGIN
  PERFORM require_arg(type, 'type');
  PERFORM require_arg(body, 'body');
  IF type !~ '^[A-Z][A-Z0-9_]{1,63}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'type must be upper snake case';
  END IF;
  IF payload IS NOT NULL AND jsonb_typeof(payload) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'payload must be a JSON object';
  END IF;
  IF user_id IS NULL AND (channel IS NULL OR recipient IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'a notification without a user needs channel and recipient';
  END IF;
  IF user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = enqueue_notification.user_id) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'user not found';
  END IF;
  -- the channels to try, in order: the given ones, else the usual chain
  chain := CASE WHEN channel IS NOT NULL THEN ARRAY[channel] ELSE '{}' END
           || coalesce(fallback_channels, CASE WHEN channel IS NULL THEN ARRAY['WHATSAPP', 'SMS', 'EMAIL']::delivery_channel[]
                                               ELSE '{}' END);
  IF is_push_first_type(type) AND user_id IS NOT NULL THEN
    chain := ARRAY['PUSH']::delivery_channel[] || array_remove(chain, 'PUSH');
  END IF;
  -- drop the channels the user has no address on (the first one may have an explicit recipient)
  FOR i IN 1 .. coalesce(cardinality(chain), 0) LOOP
    IF rcpt IS NULL THEN
      rcpt := notification_recipient(user_id, chain[i]);
    END IF;
    IF rcpt IS NOT NULL THEN
      first_ch := chain[i];
      chain := chain[i + 1:];
      EXIT;
    END IF;
  END LOOP;
  IF first_ch IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the user cannot be reached on any of the channels',
      DETAIL = format('channels tried: %s', array_to_string(CASE WHEN channel IS NOT NULL THEN ARRAY[channel] ELSE '{}' END || chain, ', '));
  END IF;
  INSERT INTO notifications (user_id, type, channel, recipient, subject, body, payload, expires_at, fallback_channels)
  VALUES (enqueue_notification.user_id, type, first_ch, rcpt, subject, body, coalesce(payload, '{}'),
          expires_at, chain)
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION enqueue_notification(uuid, text, text, text, jsonb, delivery_channel, text, timestamptz, delivery_channel[]) IS
  'Queues a notification in the outbox (trusted callers and backends): to a user on the given channel (else WHATSAPP, then SMS, then EMAIL, the first the user has an address on), the rest of the chain kept as fallback; time-critical types (steppergo.notification_push_first_types) go to PUSH first. Returns its id.';
SELECT api_expose('enqueue_notification(uuid,text,text,text,jsonb,delivery_channel,text,timestamptz,delivery_channel[])'::regprocedure, 'service');

CREATE FUNCTION claim_notifications(sender text, batch integer DEFAULT 10, channels delivery_channel[] DEFAULT NULL)
  RETURNS TABLE (id uuid, user_id uuid, type text, channel delivery_channel, recipient text, subject text,
                 body text, payload jsonb, attempts integer, expires_at timestamptz)
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF sender IS NULL OR btrim(sender) = '' OR length(sender) > 200 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'sender must name the sender (1 to 200 characters)';
  END IF;
  IF batch IS NULL OR batch NOT BETWEEN 1 AND 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'batch must be between 1 and 1000';
  END IF;
  -- "= ANY (ARRAY(...))" keeps the cached generic plan a primary-key probe
  -- per claimed row whatever the batch size (a join on a CTE would be planned
  -- for an unknown LIMIT and could scan the whole table)
  RETURN QUERY
    UPDATE notifications n
       SET status = 'SENDING', claimed_by = sender, claimed_at = now(), attempts = n.attempts + 1
     WHERE n.id = ANY (ARRAY(
             SELECT q.id FROM notifications q
              WHERE q.status = 'PENDING' AND q.next_attempt_at <= now()
                AND (channels IS NULL OR q.channel = ANY (channels))
                AND (q.expires_at IS NULL OR q.expires_at > now())
              ORDER BY q.priority DESC, q.next_attempt_at
              LIMIT batch
              FOR UPDATE SKIP LOCKED))
    RETURNING n.id, n.user_id, n.type, n.channel, n.recipient, n.subject, n.body, n.payload, n.attempts, n.expires_at;
END
$$;
COMMENT ON FUNCTION claim_notifications(text, integer, delivery_channel[]) IS
  'For senders (service): claims up to batch (1..1000) due PENDING notifications, optionally only on some channels, highest priority first, with FOR UPDATE SKIP LOCKED, so concurrent senders never get the same row; they become SENDING, claimed by sender, attempts + 1. Report each with report_notification; a claim not reported within steppergo.notification_claim_timeout_seconds goes back to the queue. LISTEN steppergo_notifications to be woken when rows are queued.';
SELECT api_expose('claim_notifications(text,integer,delivery_channel[])'::regprocedure, 'service');

-- A failed attempt: back to the queue with exponential backoff, or FAILED
-- for good and on to the next channel.  Returns the new status.
CREATE FUNCTION notification_failed(n notifications, error text) RETURNS text
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  max_att integer := coalesce(n.max_attempts, admin_setting_int('notification_max_attempts', 5));
  delay integer;
  c delivery_channel;
  rest delivery_channel[] := n.fallback_channels;
  rcpt text;
BEGIN
  IF n.attempts < max_att AND (n.expires_at IS NULL OR n.expires_at > now()) THEN
    delay := least(admin_setting_int('notification_backoff_max_seconds', 3600)::bigint,
                   admin_setting_int('notification_backoff_base_seconds', 30)::bigint * (2::bigint ^ least(n.attempts - 1, 30))::bigint);
    UPDATE notifications q
       SET status = 'PENDING', next_attempt_at = now() + make_interval(secs => delay), last_error = left(error, 2000)
     WHERE q.id = n.id;
    RETURN 'PENDING';
  END IF;
  UPDATE notifications q
     SET status = 'FAILED', last_error = left(error, 2000),
         body = CASE WHEN q.type = 'DRIVER_CREDENTIALS' THEN '[redacted]' ELSE q.body END
   WHERE q.id = n.id;
  IF n.type = 'DRIVER_CREDENTIALS' AND (n.payload ->> 'driver_id') IS NOT NULL THEN
    INSERT INTO driver_credential_deliveries (driver_id, channel, status, sent_at, error_message, notification_id)
    VALUES ((n.payload ->> 'driver_id')::uuid, n.channel, 'FAILED', NULL, left(error, 2000), n.id);
  END IF;
  -- fall back to the next channel the user can be reached on
  IF n.user_id IS NOT NULL AND (n.expires_at IS NULL OR n.expires_at > now()) THEN
    WHILE cardinality(rest) > 0 LOOP
      c := rest[1];
      rest := rest[2:];
      rcpt := notification_recipient(n.user_id, c);
      IF rcpt IS NOT NULL THEN
        INSERT INTO notifications (user_id, type, channel, recipient, subject, body, payload, priority,
                                   expires_at, fallback_channels, fallback_of)
        VALUES (n.user_id, n.type, c, rcpt, n.subject, n.body, n.payload, n.priority,
                n.expires_at, rest, n.id);
        EXIT;
      END IF;
    END LOOP;
  END IF;
  RETURN 'FAILED';
END
$$;
COMMENT ON FUNCTION notification_failed(notifications, text) IS
  'Internal: records a failed attempt: back to PENDING after base * 2^(attempts-1) seconds (capped) while attempts remain, else FAILED for good, a FAILED driver_credential_deliveries row for credentials, and a new notification on the next fallback channel the user has an address on.';

CREATE FUNCTION report_notification(notification_id uuid, sender text, status text, error text DEFAULT NULL,
                                    provider_message_id text DEFAULT NULL)
  RETURNS text
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  n notifications;
BEGIN
  PERFORM require_arg(notification_id, 'notification_id');
  PERFORM require_arg(status, 'status');
  IF status NOT IN ('SENT', 'FAILED', 'DELIVERED', 'READ') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'status must be SENT, FAILED, DELIVERED or READ';
  END IF;
  SELECT * INTO n FROM notifications q WHERE q.id = notification_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'notification not found';
  END IF;
  IF status IN ('SENT', 'FAILED') THEN
    IF n.status <> 'SENDING' OR n.claimed_by IS DISTINCT FROM sender THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the notification is not claimed by this sender',
        DETAIL = format('status %s, claimed by %s', n.status, coalesce(n.claimed_by, 'nobody'));
    END IF;
  ELSIF status = 'DELIVERED' AND n.status <> 'SENT'
     OR status = 'READ' AND n.status NOT IN ('SENT', 'DELIVERED') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('a %s notification cannot become %s', lower(n.status), lower(status));
  END IF;

  IF status = 'FAILED' THEN
    RETURN notification_failed(n, coalesce(error, 'failed without a reason'));
  END IF;
  UPDATE notifications q
     SET status = report_notification.status,
         sent_at = CASE WHEN report_notification.status = 'SENT' THEN now() ELSE q.sent_at END,
         last_error = CASE WHEN report_notification.status = 'SENT' THEN NULL ELSE q.last_error END,
         provider_message_id = coalesce(left(report_notification.provider_message_id, 255), q.provider_message_id),
         body = CASE WHEN q.type = 'DRIVER_CREDENTIALS' THEN '[redacted]' ELSE q.body END
   WHERE q.id = n.id;
  IF n.type = 'DRIVER_CREDENTIALS' AND (n.payload ->> 'driver_id') IS NOT NULL THEN
    IF status = 'SENT' THEN
      INSERT INTO driver_credential_deliveries (driver_id, channel, status, sent_at, notification_id)
      VALUES ((n.payload ->> 'driver_id')::uuid, n.channel, 'SENT', now(), n.id);
    ELSE
      UPDATE driver_credential_deliveries d
         SET status = report_notification.status::delivery_status,
             delivered_at = coalesce(d.delivered_at, now())
       WHERE d.notification_id = n.id;
    END IF;
  END IF;
  RETURN status;
END
$$;
COMMENT ON FUNCTION report_notification(uuid, text, text, text, text) IS
  'For senders (service): reports the outcome of a claimed notification. SENT or FAILED only by the sender that claimed it (else PT409); FAILED retries with exponential backoff until the attempts are spent, then falls back to the next channel. DELIVERED and READ record receipts after SENT. Credentials are redacted from the body once sent or failed and each attempt lands in driver_credential_deliveries. Returns the resulting status (PENDING when a retry is scheduled).';
SELECT api_expose('report_notification(uuid,text,text,text,text)'::regprocedure, 'service');

CREATE FUNCTION sweep_notifications() RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  n notifications;
  done integer := 0;
BEGIN
  -- claims whose sender went silent count as a failed attempt
  FOR n IN SELECT * FROM notifications q
            WHERE q.status = 'SENDING'
              AND q.claimed_at < now() - make_interval(secs => admin_setting_int('notification_claim_timeout_seconds', 300))
            FOR UPDATE SKIP LOCKED LOOP
    PERFORM notification_failed(n, format('claim by %s timed out', n.claimed_by));
    done := done + 1;
  END LOOP;
  -- queued notifications past their deadline are no longer worth sending
  UPDATE notifications q SET status = 'CANCELLED', last_error = 'expired before it was sent'
   WHERE q.status = 'PENDING' AND q.expires_at <= now();
  RETURN done + (SELECT 0);
END
$$;
COMMENT ON FUNCTION sweep_notifications() IS
  'Job: puts notifications claimed longer than steppergo.notification_claim_timeout_seconds ago back through the failure path (retry or fallback), and cancels queued ones past expires_at. Returns the timed-out claims handled.';
INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_notification_sweep', '* * * * *', 'SELECT steppergo.sweep_notifications()',
   'Every minute: retries notifications whose sender died mid-send and cancels expired ones.');

-- ---------------------------------------------------------------------------
-- Driver credentials through the outbox: WHATSAPP, then SMS, then EMAIL
-- ---------------------------------------------------------------------------
CREATE FUNCTION deliver_driver_credentials(driver_id uuid, body text,
                                           subject text DEFAULT 'Your StepperGO driver account')
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  uid uuid;
  nid uuid;
BEGIN
  PERFORM assert_app_role('ADMIN');
  PERFORM require_arg(driver_id, 'driver_id');
  PERFORM require_arg(body, 'body');
  SELECT d.user_id INTO uid FROM drivers d WHERE d.id = deliver_driver_credentials.driver_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found';
  END IF;
  nid := enqueue_notification(uid, 'DRIVER_CREDENTIALS', body, subject,
                              jsonb_build_object('driver_id', driver_id), NULL, NULL, NULL,
                              ARRAY['WHATSAPP', 'SMS', 'EMAIL']::delivery_channel[]);
  PERFORM log_admin_action('DRIVER_CREDENTIALS_SENT', 'driver', driver_id::text,
                           jsonb_build_object('notification_id', nid));
  RETURN nid;
END
$$;
COMMENT ON FUNCTION deliver_driver_credentials(uuid, text, text) IS
  'ADMIN: queues a driver''s login credentials through the outbox, by WhatsApp, falling back to SMS, then e-mail when a channel fails for good; each attempt is recorded in driver_credential_deliveries and the body is redacted once sent. Audited. Returns the first notification''s id.';
SELECT api_expose('deliver_driver_credentials(uuid,text,text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Document verification
-- ---------------------------------------------------------------------------
CREATE FUNCTION upload_document(document_type text, document_url text, expiry_date timestamptz DEFAULT NULL,
                                document_number text DEFAULT NULL, driver_id uuid DEFAULT NULL,
                                user_id uuid DEFAULT NULL, metadata jsonb DEFAULT '{}')
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  uid uuid := coalesce(user_id, current_user_id());
  owner_id uuid;
  new_id uuid;
BEGIN
  PERFORM require_arg(document_type, 'document_type');
  PERFORM require_arg(document_url, 'document_url');
  IF uid IS NULL AND driver_id IS NOT NULL THEN
    SELECT d.user_id INTO uid FROM drivers d WHERE d.id = upload_document.driver_id;
  END IF;
  PERFORM require_arg(uid, 'user_id');
  PERFORM assert_acting_as(uid);
  IF document_type NOT IN ('LICENSE', 'INSURANCE', 'REGISTRATION', 'ID_CARD', 'PASSPORT',
                           'VEHICLE_PHOTO', 'BUSINESS_LICENSE', 'TAX_CERTIFICATE', 'OTHER') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('unknown document type %s', document_type);
  END IF;
  IF NOT is_http_url(document_url) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'document_url must be an http(s) URL';
  END IF;
  IF expiry_date IS NOT NULL AND expiry_date <= now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the document has already expired';
  END IF;
  IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'metadata must be a JSON object';
  END IF;
  IF length(document_number) > 100 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'document_number is longer than 100 characters';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = uid) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'user not found';
  END IF;
  IF driver_id IS NOT NULL THEN
    SELECT d.user_id INTO owner_id FROM drivers d WHERE d.id = upload_document.driver_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found';
    END IF;
    IF owner_id <> uid THEN
      RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'the driver profile belongs to another user';
    END IF;
  END IF;
  INSERT INTO document_verifications (user_id, driver_id, document_type, document_number, document_url,
                                      expiry_date, metadata)
  VALUES (uid, upload_document.driver_id, document_type, document_number, document_url,
          expiry_date, coalesce(metadata, '{}'))
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION upload_document(text, text, timestamptz, text, uuid, uuid, jsonb) IS
  'Submits a document for verification (PENDING): the caller''s own (or, for ADMINs and trusted callers, user_id''s), optionally for their driver profile. The expiry must be in the future. Returns the document id.';
SELECT api_expose('upload_document(text,text,timestamptz,text,uuid,uuid,jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION verify_document(document_id uuid, expiry_date timestamptz DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d document_verifications;
  exp timestamptz;
BEGIN
  PERFORM assert_app_role('ADMIN');
  PERFORM require_arg(document_id, 'document_id');
  SELECT * INTO d FROM document_verifications v WHERE v.id = document_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'document not found';
  END IF;
  IF d.status <> 'PENDING' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('only a pending document can be verified; this one is %s', d.status);
  END IF;
  exp := coalesce(verify_document.expiry_date, d.expiry_date);
  IF exp IS NOT NULL AND exp <= now() THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'an expired document cannot be verified';
  END IF;
  UPDATE document_verifications v
     SET status = 'VERIFIED', verified_at = now(), verified_by = current_user_id(), expiry_date = exp,
         rejection_reason = NULL
   WHERE v.id = d.id;
  PERFORM log_admin_action('DOCUMENT_VERIFIED', 'document_verification', d.id::text,
    jsonb_build_object('before', jsonb_build_object('status', d.status, 'expiry_date', d.expiry_date),
                       'after', jsonb_build_object('status', 'VERIFIED', 'expiry_date', exp),
                       'user_id', d.user_id, 'driver_id', d.driver_id, 'document_type', d.document_type));
END
$$;
COMMENT ON FUNCTION verify_document(uuid, timestamptz) IS
  'ADMIN: marks a PENDING document VERIFIED (PT409 otherwise, or when it has expired), optionally setting its expiry date. Audited.';
SELECT api_expose('verify_document(uuid,timestamptz)'::regprocedure, 'authenticated');

CREATE FUNCTION reject_document(document_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d document_verifications;
BEGIN
  PERFORM assert_app_role('ADMIN');
  PERFORM require_arg(document_id, 'document_id');
  PERFORM require_arg(reason, 'reason');
  IF btrim(reason) = '' OR length(reason) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'reason must be 1 to 1000 characters';
  END IF;
  SELECT * INTO d FROM document_verifications v WHERE v.id = document_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'document not found';
  END IF;
  IF d.status NOT IN ('PENDING', 'VERIFIED') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('a %s document cannot be rejected', lower(d.status));
  END IF;
  UPDATE document_verifications v
     SET status = 'REJECTED', verified_at = now(), verified_by = current_user_id(), rejection_reason = reason
   WHERE v.id = d.id;
  PERFORM log_admin_action('DOCUMENT_REJECTED', 'document_verification', d.id::text,
    jsonb_build_object('before', jsonb_build_object('status', d.status),
                       'after', jsonb_build_object('status', 'REJECTED', 'rejection_reason', reason),
                       'user_id', d.user_id, 'driver_id', d.driver_id, 'document_type', d.document_type));
  PERFORM enqueue_notification(d.user_id, 'DOCUMENT_REJECTED',
                               format('Your %s was rejected: %s', lower(d.document_type), reason),
                               'Document rejected', jsonb_build_object('document_id', d.id));
  -- (every user has a phone or an e-mail: users_email_or_phone)
END
$$;
COMMENT ON FUNCTION reject_document(uuid, text) IS
  'ADMIN: rejects a PENDING (or revokes a VERIFIED) document with a reason (required, 1..1000 characters) and notifies its owner. Audited.';
SELECT api_expose('reject_document(uuid,text)'::regprocedure, 'authenticated');

CREATE FUNCTION list_documents(user_id uuid DEFAULT NULL, status text DEFAULT NULL)
  RETURNS SETOF document_verifications
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF user_id IS NOT NULL THEN
    PERFORM assert_acting_as(user_id);
  ELSIF NOT is_trusted_caller() AND current_app_role() IS DISTINCT FROM 'ADMIN' THEN
    user_id := current_user_id();
    IF user_id IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
    END IF;
  END IF;
  RETURN QUERY
    SELECT v.* FROM document_verifications v
     WHERE (list_documents.user_id IS NULL OR v.user_id = list_documents.user_id)
       AND (list_documents.status IS NULL OR v.status = list_documents.status)
     ORDER BY v.created_at DESC, v.id DESC;
END
$$;
COMMENT ON FUNCTION list_documents(uuid, text) IS
  'Documents, newest first: the caller''s own (default), or any user''s for ADMINs (every user''s when user_id is NULL), optionally of one status.';
SELECT api_expose('list_documents(uuid,text)'::regprocedure, 'authenticated');

CREATE FUNCTION driver_documents_complete(driver_id uuid) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN (SELECT count(DISTINCT v.document_type) = 3
            FROM document_verifications v
           WHERE v.driver_id = driver_documents_complete.driver_id
             AND v.document_type IN ('LICENSE', 'INSURANCE', 'REGISTRATION')
             AND v.status = 'VERIFIED'
             AND (v.expiry_date IS NULL OR v.expiry_date > now()));
COMMENT ON FUNCTION driver_documents_complete(uuid) IS
  'True when the driver has a VERIFIED, unexpired LICENSE, INSURANCE and REGISTRATION: the document condition of driver approval.';

CREATE FUNCTION expire_documents() RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  d record;
  n integer := 0;
BEGIN
  FOR d IN
    UPDATE document_verifications v SET status = 'EXPIRED', expired_at = now()
     WHERE v.status IN ('PENDING', 'VERIFIED') AND v.expiry_date <= now()
    RETURNING v.id, v.user_id, v.driver_id, v.document_type, v.expiry_date
  LOOP
    n := n + 1;
    IF EXISTS (SELECT 1 FROM users u WHERE u.id = d.user_id AND (u.phone IS NOT NULL OR u.email IS NOT NULL)) THEN
      PERFORM enqueue_notification(d.user_id, 'DOCUMENT_EXPIRED',
        format('Your %s expired on %s. Please upload a valid one to keep driving with StepperGO.',
               lower(d.document_type), to_char(d.expiry_date AT TIME ZONE 'Asia/Almaty', 'YYYY-MM-DD')),
        'Document expired',
        jsonb_build_object('document_id', d.id, 'driver_id', d.driver_id, 'document_type', d.document_type));
    END IF;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION expire_documents() IS
  'Job: marks PENDING and VERIFIED documents past their expiry_date EXPIRED and notifies each owner (DOCUMENT_EXPIRED). Returns how many expired. A driver with an expired mandatory document no longer passes approval.';
INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_expire_documents', '5 * * * *', 'SELECT steppergo.expire_documents()',
   'Hourly: documents past their expiry date become EXPIRED and their owners are notified.');

-- ---------------------------------------------------------------------------
-- File uploads
-- ---------------------------------------------------------------------------
CREATE FUNCTION file_upload_policy(purpose text)
  RETURNS TABLE (max_bytes bigint, mime_types text[])
  LANGUAGE sql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
  SELECT p.max_bytes, p.mime_types
    FROM (VALUES
      ('DRIVER_DOCUMENT', 10485760::bigint, ARRAY['application/pdf', 'image/jpeg', 'image/png', 'image/heic', 'image/webp']),
      ('AVATAR',           5242880::bigint, ARRAY['image/jpeg', 'image/png', 'image/webp']),
      ('CHAT_IMAGE',      10485760::bigint, ARRAY['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/heic']),
      ('CHAT_FILE',       26214400::bigint, NULL),
      ('ACTIVITY_PHOTO',  10485760::bigint, ARRAY['image/jpeg', 'image/png', 'image/webp']),
      ('BUSINESS_DOCUMENT', 10485760::bigint, ARRAY['application/pdf', 'image/jpeg', 'image/png'])
    ) p(purpose, max_bytes, mime_types)
   WHERE p.purpose = file_upload_policy.purpose
$$;
COMMENT ON FUNCTION file_upload_policy(text) IS
  'Upload limits per purpose: largest size in bytes and the accepted MIME types (NULL: any). DRIVER_DOCUMENT 10 MiB pdf/jpeg/png/heic/webp, AVATAR 5 MiB images, CHAT_IMAGE 10 MiB images, CHAT_FILE 25 MiB any type, ACTIVITY_PHOTO 10 MiB images, BUSINESS_DOCUMENT 10 MiB pdf/jpeg/png. No row: unknown purpose.';

CREATE FUNCTION register_file_upload(purpose text, original_name text, mime_type text, size_bytes bigint,
                                     s3_bucket text, s3_key text, url text DEFAULT NULL,
                                     stored_name text DEFAULT NULL, metadata jsonb DEFAULT '{}',
                                     user_id uuid DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  uid uuid := coalesce(user_id, current_user_id());
  pol record;
  mt text := lower(btrim(mime_type));
  new_id uuid;
BEGIN
  PERFORM require_arg(purpose, 'purpose');
  PERFORM require_arg(original_name, 'original_name');
  PERFORM require_arg(mime_type, 'mime_type');
  PERFORM require_arg(size_bytes, 'size_bytes');
  PERFORM require_arg(s3_bucket, 's3_bucket');
  PERFORM require_arg(s3_key, 's3_key');
  PERFORM require_arg(uid, 'user_id');
  PERFORM assert_acting_as(uid);
  SELECT * INTO pol FROM file_upload_policy(purpose);
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('unknown upload purpose %s', purpose);
  END IF;
  IF size_bytes < 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'size_bytes must not be negative';
  END IF;
  IF size_bytes > pol.max_bytes THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s files may have at most %s bytes', purpose, pol.max_bytes),
      DETAIL = format('the file has %s bytes', size_bytes);
  END IF;
  IF mt !~ '^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'mime_type is not a MIME type';
  END IF;
  IF pol.mime_types IS NOT NULL AND NOT mt = ANY (pol.mime_types) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s files cannot be %s', purpose, mt),
      HINT = format('accepted: %s', array_to_string(pol.mime_types, ', '));
  END IF;
  IF length(original_name) NOT BETWEEN 1 AND 255 OR original_name ~ '[/\\[:cntrl:]]' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'original_name must be a file name of 1 to 255 characters';
  END IF;
  IF s3_bucket !~ '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 's3_bucket is not a valid bucket name';
  END IF;
  IF length(s3_key) NOT BETWEEN 1 AND 1024 OR s3_key ~ '^/|[[:cntrl:]]|(^|/)\.\.(/|$)' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 's3_key must be a relative key of 1 to 1024 characters';
  END IF;
  IF url IS NOT NULL AND NOT is_http_url(url) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'url must be an http(s) URL';
  END IF;
  IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'metadata must be a JSON object';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = uid) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'user not found';
  END IF;
  INSERT INTO file_uploads (user_id, original_name, stored_name, mime_type, size_bytes, s3_bucket, s3_key,
                            url, purpose, metadata)
  VALUES (uid, original_name, coalesce(stored_name, regexp_replace(s3_key, '^.*/', '')), mt, size_bytes,
          s3_bucket, s3_key, url, purpose, coalesce(metadata, '{}'))
  RETURNING id INTO new_id;
  RETURN new_id;
EXCEPTION WHEN unique_violation THEN
  RAISE EXCEPTION USING ERRCODE = '23505', MESSAGE = 'an upload with this bucket and key is already registered';
END
$$;
COMMENT ON FUNCTION register_file_upload(text, text, text, bigint, text, text, text, text, jsonb, uuid) IS
  'Registers an object uploaded to S3 for the caller (or, for ADMINs and trusted callers, user_id), validated against file_upload_policy(purpose): size, MIME type, bucket and key shape; (bucket, key) unique (23505). Returns the upload id.';
SELECT api_expose('register_file_upload(text,text,text,bigint,text,text,text,text,jsonb,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION get_file_upload(file_id uuid) RETURNS file_uploads
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  f file_uploads;
BEGIN
  PERFORM require_arg(file_id, 'file_id');
  SELECT * INTO f FROM file_uploads u WHERE u.id = file_id AND u.deleted_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'file not found';
  END IF;
  PERFORM assert_acting_as(f.user_id);
  RETURN f;
END
$$;
COMMENT ON FUNCTION get_file_upload(uuid) IS
  'One upload of the caller (ADMINs: anyone''s); PT404 for an unknown or soft-deleted file.';
SELECT api_expose('get_file_upload(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION list_file_uploads(user_id uuid DEFAULT NULL, purpose text DEFAULT NULL)
  RETURNS SETOF file_uploads
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  uid uuid := coalesce(user_id, current_user_id());
BEGIN
  PERFORM require_arg(uid, 'user_id');
  PERFORM assert_acting_as(uid);
  RETURN QUERY
    SELECT u.* FROM file_uploads u
     WHERE u.user_id = uid AND u.deleted_at IS NULL
       AND (list_file_uploads.purpose IS NULL OR u.purpose = list_file_uploads.purpose)
     ORDER BY u.created_at DESC, u.id DESC;
END
$$;
COMMENT ON FUNCTION list_file_uploads(uuid, text) IS
  'The caller''s uploads (ADMINs: any user''s), newest first, optionally of one purpose; soft-deleted files are never listed.';
SELECT api_expose('list_file_uploads(uuid,text)'::regprocedure, 'authenticated');

CREATE FUNCTION delete_file_upload(file_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  f file_uploads;
BEGIN
  PERFORM require_arg(file_id, 'file_id');
  SELECT * INTO f FROM file_uploads u WHERE u.id = file_id AND u.deleted_at IS NULL FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'file not found';
  END IF;
  PERFORM assert_acting_as(f.user_id);
  UPDATE file_uploads u SET deleted_at = now() WHERE u.id = f.id;
  IF current_app_role() = 'ADMIN' AND current_user_id() IS DISTINCT FROM f.user_id THEN
    PERFORM log_admin_action('FILE_DELETED', 'file_upload', f.id::text,
      jsonb_build_object('user_id', f.user_id, 's3_bucket', f.s3_bucket, 's3_key', f.s3_key, 'purpose', f.purpose));
  END IF;
END
$$;
COMMENT ON FUNCTION delete_file_upload(uuid) IS
  'Soft-deletes an upload of the caller (ADMINs: anyone''s, audited): it disappears from every read function at once; the row is purged after steppergo.file_retention_days. PT404 when unknown or already deleted.';
SELECT api_expose('delete_file_upload(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION purge_deleted_files() RETURNS integer
  LANGUAGE sql
  SET search_path FROM CURRENT
AS $$
  WITH gone AS (
    DELETE FROM file_uploads u
     WHERE u.deleted_at < now() - make_interval(days => admin_setting_int('file_retention_days', 30))
    RETURNING 1)
  SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION purge_deleted_files() IS
  'Job: removes file_uploads rows soft-deleted more than steppergo.file_retention_days ago. The S3 objects themselves are removed by the storage side (bucket lifecycle or the app) when deleted_at is set. Returns the rows purged.';
INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_purge_deleted_files', '20 3 * * *', 'SELECT steppergo.purge_deleted_files()',
   'Daily at 03:20 UTC: purges file_uploads rows soft-deleted longer than steppergo.file_retention_days.');

-- ---------------------------------------------------------------------------
-- Analytics
-- ---------------------------------------------------------------------------
CREATE FUNCTION record_event(event_name text, metadata jsonb DEFAULT '{}', session_id text DEFAULT NULL,
                             user_id uuid DEFAULT NULL, ip_address inet DEFAULT NULL, user_agent text DEFAULT NULL)
  RETURNS void
  AS 'MODULE_PATHNAME', 'sg_admin_record_event'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION record_event(text, jsonb, text, uuid, inet, text) IS
  'Records one analytics event (anyone, also without a token): name (lower case), JSON metadata, session; the user is the caller''s (only trusted callers and ADMINs may name another); IP and user agent default to the request''s. Built for volume: one INSERT into the current monthly partition.';
SELECT api_expose('record_event(text,jsonb,text,uuid,inet,text)'::regprocedure, 'anon');

CREATE FUNCTION uuid_v7_floor(ts timestamptz) RETURNS uuid
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN (SELECT (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-0000-0000-000000000000')::uuid
            FROM (SELECT lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0') AS h) x);
COMMENT ON FUNCTION uuid_v7_floor(timestamptz) IS
  'A lower bound of the UUIDv7s generated in the given instant''s millisecond (its 48 time bits, every other bit zero): the range bound of the UUIDv7-keyed partitions.';

CREATE FUNCTION maintain_analytics_partitions()
  RETURNS TABLE (action text, partition_name text)
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  m date;
  lo uuid;
  hi uuid;
  nm text;
  ahead integer := admin_setting_int('analytics_partitions_ahead', 3);
  keep integer := admin_setting_int('analytics_retention_months', 13);
  cutoff date := (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => keep))::date;
  r record;
BEGIN
  -- this month and the ones ahead
  FOR i IN 0 .. ahead LOOP
    m := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
    nm := 'analytics_events_p' || to_char(m, 'YYYYMM');
    CONTINUE WHEN to_regclass('steppergo.' || nm) IS NOT NULL;
    lo := uuid_v7_floor(m::timestamp AT TIME ZONE 'UTC');
    hi := uuid_v7_floor((m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE TABLE steppergo.%I (LIKE steppergo.analytics_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', nm);
    EXECUTE format('ALTER TABLE steppergo.%I ADD PRIMARY KEY (id), ADD CONSTRAINT %I CHECK (id >= %L AND id < %L)',
                   nm, nm || '_range', lo, hi);
    EXECUTE format('CREATE INDEX %I ON steppergo.%I (created_at)', nm || '_created_idx', nm);
    EXECUTE format('CREATE INDEX %I ON steppergo.%I (event_name, created_at)', nm || '_name_idx', nm);
    -- events already in the default partition for that month move along
    EXECUTE format('WITH moved AS (DELETE FROM steppergo.analytics_events_default WHERE id >= %L AND id < %L RETURNING *) '
                   'INSERT INTO steppergo.%I SELECT * FROM moved', lo, hi, nm);
    EXECUTE format('ALTER TABLE steppergo.analytics_events ATTACH PARTITION steppergo.%I FOR VALUES FROM (%L) TO (%L)', nm, lo, hi);
    EXECUTE format('ALTER TABLE steppergo.%I DROP CONSTRAINT %I', nm, nm || '_range');
    EXECUTE format('COMMENT ON TABLE steppergo.%I IS %L', nm,
                   format('Monthly partition of analytics_events for %s (UTC), by UUIDv7 id; dropped after steppergo.analytics_retention_months.', to_char(m, 'YYYY-MM')));
    action := 'created'; partition_name := nm;
    RETURN NEXT;
  END LOOP;
  -- monthly partitions wholly before the retention cutoff go
  FOR r IN SELECT c.relname FROM pg_catalog.pg_inherits i
             JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'steppergo.analytics_events'::regclass
              AND c.relname ~ '^analytics_events_p[0-9]{6}$'
              AND to_date(substr(c.relname, 19), 'YYYYMM') < cutoff
            ORDER BY c.relname LOOP
    EXECUTE format('DROP TABLE steppergo.%I', r.relname);
    action := 'dropped'; partition_name := r.relname;
    RETURN NEXT;
  END LOOP;
END
$$;
COMMENT ON FUNCTION maintain_analytics_partitions() IS
  'Job: creates the monthly analytics_events partitions (analytics_events_pYYYYMM, UTC months by UUIDv7 id) for this month and steppergo.analytics_partitions_ahead months ahead, moving matching rows out of the default partition, and drops partitions older than steppergo.analytics_retention_months. Returns what it did.';
INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_analytics_partitions', '10 0 * * *', 'SELECT steppergo.maintain_analytics_partitions()',
   'Daily at 00:10 UTC: creates analytics_events partitions ahead and drops those past the retention.');

CREATE MATERIALIZED VIEW daily_metrics AS
  SELECT x.day, x.tenant_id, x.currency,
         sum(x.trips)::integer AS trips, sum(x.trips_completed)::integer AS trips_completed,
         sum(x.trips_cancelled)::integer AS trips_cancelled,
         sum(x.bookings)::integer AS bookings, sum(x.seats)::integer AS seats_booked,
         sum(x.gmv)::numeric(14,2) AS gmv, sum(x.platform_revenue)::numeric(14,2) AS platform_revenue
    FROM (SELECT (t.departure_time AT TIME ZONE t.timezone)::date AS day, t.tenant_id, t.currency,
                 1 AS trips, (t.status = 'COMPLETED')::int AS trips_completed, (t.status = 'CANCELLED')::int AS trips_cancelled,
                 0 AS bookings, 0 AS seats, 0::numeric AS gmv, 0::numeric AS platform_revenue
            FROM trips t WHERE t.status <> 'DRAFT'
          UNION ALL
          SELECT (b.created_at AT TIME ZONE t.timezone)::date, t.tenant_id, b.currency,
                 0, 0, 0, 1, b.seats_booked, b.total_amount, s.platform_fee
            FROM bookings b
            JOIN trips t ON t.id = b.trip_id
           CROSS JOIN LATERAL payout_split(b.total_amount, platform_rate(t.tenant_id)) s
           WHERE b.status IN ('CONFIRMED', 'COMPLETED')) x
   GROUP BY x.day, x.tenant_id, x.currency;
COMMENT ON MATERIALIZED VIEW daily_metrics IS
  'Daily rollup per tenant (NULL: the platform''s own) and currency, by local day in the trip''s time zone: trips departing (not DRAFT), completed and cancelled; confirmed or completed bookings by the day they were made, seats, GMV (what passengers pay) and platform revenue (the platform''s share by payout_split at the tenant''s rate). Refreshed by refresh_daily_metrics() every 15 minutes; not carried by pg_dump (refresh after a restore).';
COMMENT ON COLUMN daily_metrics.day IS 'Local calendar day (trip''s time zone): departure day for trips, booking day for bookings.';
COMMENT ON COLUMN daily_metrics.tenant_id IS 'The trips'' tenant; NULL for the platform''s own trips.';
COMMENT ON COLUMN daily_metrics.currency IS 'ISO 4217 currency of the amounts.';
COMMENT ON COLUMN daily_metrics.trips IS 'Trips departing that day (any status but DRAFT).';
COMMENT ON COLUMN daily_metrics.trips_completed IS 'Of those, COMPLETED.';
COMMENT ON COLUMN daily_metrics.trips_cancelled IS 'Of those, CANCELLED.';
COMMENT ON COLUMN daily_metrics.bookings IS 'Bookings made that day that are CONFIRMED or COMPLETED.';
COMMENT ON COLUMN daily_metrics.seats_booked IS 'Seats of those bookings.';
COMMENT ON COLUMN daily_metrics.gmv IS 'Gross merchandise value: sum of those bookings'' total_amount.';
COMMENT ON COLUMN daily_metrics.platform_revenue IS 'The platform''s share of the GMV (payout_split at the tenant''s rate, 15 % by default).';
CREATE UNIQUE INDEX daily_metrics_key ON daily_metrics (day, tenant_id, currency) NULLS NOT DISTINCT;

CREATE FUNCTION refresh_daily_metrics() RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  REFRESH MATERIALIZED VIEW CONCURRENTLY daily_metrics;
END
$$;
COMMENT ON FUNCTION refresh_daily_metrics() IS
  'Job: refreshes the daily_metrics rollup without blocking its readers.';
INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_refresh_daily_metrics', '*/15 * * * *', 'SELECT steppergo.refresh_daily_metrics()',
   'Every 15 minutes: refreshes the daily_metrics rollup (trips, bookings, GMV, platform revenue per tenant).');

CREATE FUNCTION daily_metrics_report(from_day date DEFAULT NULL, to_day date DEFAULT NULL, tenant_id uuid DEFAULT NULL)
  RETURNS SETOF daily_metrics
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM assert_app_role('ADMIN');
  RETURN QUERY
    SELECT m.* FROM daily_metrics m
     WHERE (from_day IS NULL OR m.day >= from_day) AND (to_day IS NULL OR m.day <= to_day)
       AND (daily_metrics_report.tenant_id IS NULL OR m.tenant_id = daily_metrics_report.tenant_id)
     ORDER BY m.day, m.tenant_id NULLS FIRST, m.currency;
END
$$;
COMMENT ON FUNCTION daily_metrics_report(date, date, uuid) IS
  'ADMIN: the daily_metrics rollup between two local days (inclusive, open when NULL), optionally for one tenant, as of its last refresh.';
SELECT api_expose('daily_metrics_report(date,date,uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Webhook log housekeeping
-- ---------------------------------------------------------------------------
CREATE VIEW webhook_log_problems AS
  SELECT w.id, w.source, w.event_type, w.event_id, w.attempts, w.processing_error, w.created_at,
         now() - w.created_at AS age,
         CASE WHEN w.processing_error IS NOT NULL THEN 'FAILED' ELSE 'UNPROCESSED' END AS state
    FROM webhook_logs w
   WHERE NOT w.processed;
COMMENT ON VIEW webhook_log_problems IS
  'Webhook events not applied yet: FAILED (with the last processing error) or UNPROCESSED, with their age; for DBAs and monitoring.';
COMMENT ON COLUMN webhook_log_problems.id IS 'The webhook_logs row.';
COMMENT ON COLUMN webhook_log_problems.source IS 'Who sent the event (stripe, ...).';
COMMENT ON COLUMN webhook_log_problems.event_type IS 'Event type as the sender named it.';
COMMENT ON COLUMN webhook_log_problems.event_id IS 'The sender''s event id.';
COMMENT ON COLUMN webhook_log_problems.attempts IS 'How many times applying it was tried.';
COMMENT ON COLUMN webhook_log_problems.processing_error IS 'Why it could not be applied the last time, if it failed.';
COMMENT ON COLUMN webhook_log_problems.created_at IS 'When the event arrived.';
COMMENT ON COLUMN webhook_log_problems.state IS 'FAILED when applying it raised an error, else UNPROCESSED.';
COMMENT ON COLUMN webhook_log_problems.age IS 'How long ago the event arrived.';

CREATE FUNCTION purge_webhook_logs() RETURNS integer
  LANGUAGE sql
  SET search_path FROM CURRENT
AS $$
  WITH gone AS (
    DELETE FROM webhook_logs w
     WHERE w.processed AND w.processed_at < now() - make_interval(days => admin_setting_int('webhook_retention_days', 90))
    RETURNING 1)
  SELECT count(*)::integer FROM gone
$$;
COMMENT ON FUNCTION purge_webhook_logs() IS
  'Job: removes processed webhook_logs rows older than steppergo.webhook_retention_days (by processed_at); unprocessed and failed events are kept. A provider redelivering a purged event id after that is treated as new, so keep the retention longer than the provider''s retry window (Stripe: 3 days). Returns the rows purged.';
INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_purge_webhook_logs', '40 3 * * *', 'SELECT steppergo.purge_webhook_logs()',
   'Daily at 03:40 UTC: purges processed webhook events past steppergo.webhook_retention_days.');
-- ===========================================================================
-- security (release 0.2): the API roles, row-level security on every table,
-- and the per-request check PostgREST runs before each request.
--
-- Runs last: every table and function of every domain exists.  See
-- src/security/README.md for the model and the PostgREST configuration.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- Who the caller is, for policies.  Policies call these through
-- (SELECT ...) so that they are evaluated once per statement.
-- ---------------------------------------------------------------------------
CREATE FUNCTION is_admin() RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN current_user_id() IS NOT NULL AND current_app_role() IS NOT DISTINCT FROM 'ADMIN';
COMMENT ON FUNCTION is_admin() IS
  'True when the current request carries the claims of a user (a valid sub) whose app_role is ADMIN. Used by row-level security policies.';

CREATE FUNCTION current_driver_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  SECURITY DEFINER
  SET search_path FROM CURRENT
  RETURN (SELECT d.id FROM drivers d WHERE d.user_id = current_user_id());
COMMENT ON FUNCTION current_driver_id() IS
  'The driver profile of the current request''s user, or NULL. Used by row-level security policies.';

CREATE FUNCTION current_owner_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  SECURITY DEFINER
  SET search_path FROM CURRENT
  RETURN (SELECT o.id FROM activity_owners o WHERE o.user_id = current_user_id());
COMMENT ON FUNCTION current_owner_id() IS
  'The activity-owner profile of the current request''s user, or NULL. Used by row-level security policies.';

CREATE FUNCTION tenant_visible(row_tenant uuid) RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN row_tenant IS NULL
      OR row_tenant = current_tenant_id()
      OR (is_admin() AND current_tenant_id() IS NULL);
COMMENT ON FUNCTION tenant_visible(uuid) IS
  'Tenant isolation: a row of a tenant is visible only to callers of that tenant (claim tenant_id) and to platform admins (ADMIN without a tenant). Rows without a tenant are not restricted by this rule.';

-- The trips a user may see beyond the public ones: organised, driven,
-- offered to them, or booked by them.
CREATE FUNCTION my_trip(trip_id uuid) RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  SECURITY DEFINER
  SET search_path FROM CURRENT
  RETURN EXISTS (SELECT 1 FROM trips t
                  WHERE t.id = my_trip.trip_id
                    AND (t.organizer_id = current_user_id()
                         OR t.driver_id = current_driver_id()
                         OR t.offered_to_driver_id = current_driver_id()))
      OR EXISTS (SELECT 1 FROM bookings b WHERE b.trip_id = my_trip.trip_id AND b.user_id = current_user_id());
COMMENT ON FUNCTION my_trip(uuid) IS
  'True when the current request''s user organises, drives, is offered, or booked the trip. Runs with the definer''s rights inside policies to avoid recursion between the trips and bookings policies.';

CREATE FUNCTION in_conversation(conversation_id uuid, sent_at timestamptz DEFAULT NULL) RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  SECURITY DEFINER
  SET search_path FROM CURRENT
  RETURN EXISTS (SELECT 1 FROM conversation_participants p
                  WHERE p.conversation_id = in_conversation.conversation_id AND p.user_id = current_user_id()
                    AND (p.left_at IS NULL OR (in_conversation.sent_at IS NOT NULL AND in_conversation.sent_at <= p.left_at)));
COMMENT ON FUNCTION in_conversation(uuid, timestamptz) IS
  'True when the current request''s user is a participant of the conversation who has not left (or, given a message''s sent_at, had not left when it was sent). Runs with the definer''s rights inside policies to avoid recursion.';

-- ---------------------------------------------------------------------------
-- Row-level security: enabled on every table.  The extension's own
-- functions run as the extension owner and are not subject to it; API roles
-- read tables directly only where setup_api_roles() grants SELECT, and then
-- only the rows these policies let through.  API roles never write tables
-- directly: every change goes through a function that checks the caller.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT c.oid FROM pg_catalog.pg_class c
            WHERE c.relnamespace = 'steppergo'::regnamespace AND c.relkind IN ('r', 'p')
              AND NOT c.relispartition
  LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
  END LOOP;
END
$$;

-- reference data: readable by everyone
CREATE POLICY currencies_read ON currencies FOR SELECT USING (true);

-- tenants: one's own tenant; platform admins all
CREATE POLICY tenants_read ON tenants FOR SELECT
  USING (id = (SELECT current_tenant_id()) OR (SELECT is_admin()) AND (SELECT current_tenant_id()) IS NULL);

-- users: one's own row; admins of the platform all (tenant admins their tenant's)
CREATE POLICY users_read ON users FOR SELECT
  USING (id = (SELECT current_user_id()) OR (SELECT is_admin()));
CREATE POLICY users_tenant ON users AS RESTRICTIVE FOR SELECT USING (tenant_visible(tenant_id));

-- sessions: one's own (token hashes are not granted)
CREATE POLICY sessions_read ON sessions FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin()));

-- drivers: one's own profile, the drivers of one's trips, approved drivers'
-- public profile (rating, vehicle) for everyone logged in; admins all
CREATE POLICY drivers_read ON drivers FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin())
         OR (status = 'APPROVED' AND (SELECT current_user_id()) IS NOT NULL));
CREATE POLICY drivers_tenant ON drivers AS RESTRICTIVE FOR SELECT USING (tenant_visible(tenant_id));

CREATE POLICY vehicles_read ON vehicles FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin())
         OR (is_active AND (SELECT current_user_id()) IS NOT NULL
             AND EXISTS (SELECT 1 FROM drivers d WHERE d.id = vehicles.driver_id AND d.status = 'APPROVED')));

-- live positions: one's own; the assigned driver's position for the
-- passengers and organizer of a trip that is under way; admins
CREATE POLICY driver_locations_read ON driver_locations FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM trips t
                     WHERE t.driver_id = driver_locations.driver_id
                       AND t.status IN ('IN_PROGRESS', 'DEPARTED', 'EN_ROUTE', 'DRIVER_ARRIVED',
                                        'PASSENGERS_BOARDED', 'IN_TRANSIT', 'DELAYED', 'ARRIVED')
                       AND my_trip(t.id)));

CREATE POLICY driver_availability_schedules_read ON driver_availability_schedules FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin()));
CREATE POLICY driver_availability_history_read ON driver_availability_history FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin()));
CREATE POLICY driver_credential_deliveries_read ON driver_credential_deliveries FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin()));

-- trips: published ones for everyone (also anonymous); one's own (organised,
-- driven, offered, booked); admins all; never across tenants
CREATE POLICY trips_read ON trips FOR SELECT
  USING (status IN ('PUBLISHED', 'OFFERED', 'FULL')
         OR (SELECT is_admin()) OR my_trip(id));
CREATE POLICY trips_tenant ON trips AS RESTRICTIVE FOR SELECT USING (tenant_visible(tenant_id));

CREATE POLICY trip_status_history_read ON trip_status_history FOR SELECT
  USING ((SELECT is_admin()) OR my_trip(trip_id));
CREATE POLICY trip_driver_visibility_read ON trip_driver_visibility FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM trips t WHERE t.id = trip_driver_visibility.trip_id AND t.organizer_id = (SELECT current_user_id())));
CREATE POLICY trip_acceptance_logs_read ON trip_acceptance_logs FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM trips t WHERE t.id = trip_acceptance_logs.trip_id AND t.organizer_id = (SELECT current_user_id())));

-- reviews of drivers are public
CREATE POLICY reviews_read ON reviews FOR SELECT USING (true);

-- bookings: the passenger's own; the organizer's and the driver's of the trip; admins
CREATE POLICY bookings_read ON bookings FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM trips t WHERE t.id = bookings.trip_id
                       AND (t.organizer_id = (SELECT current_user_id()) OR t.driver_id = (SELECT current_driver_id()))));
CREATE POLICY payments_read ON payments FOR SELECT
  USING ((SELECT is_admin())
         OR EXISTS (SELECT 1 FROM bookings b WHERE b.id = payments.booking_id AND b.user_id = (SELECT current_user_id())));

-- payouts: the driver's own; admins; never across tenants
CREATE POLICY payouts_read ON payouts FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin()));
CREATE POLICY payouts_tenant ON payouts AS RESTRICTIVE FOR SELECT USING (tenant_visible(tenant_id));
-- the cash commission a driver owes, and the bookings a failed payout released
CREATE POLICY driver_commissions_read ON driver_commissions FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin()));
CREATE POLICY driver_commissions_tenant ON driver_commissions AS RESTRICTIVE FOR SELECT USING (tenant_visible(tenant_id));
CREATE POLICY payout_released_bookings_read ON payout_released_bookings FOR SELECT
  USING ((SELECT is_admin())
         OR EXISTS (SELECT 1 FROM payouts p WHERE p.id = payout_released_bookings.payout_id
                       AND p.driver_id = (SELECT current_driver_id())));

-- conversations: participants who have not left; admins
CREATE POLICY conversations_read ON conversations FOR SELECT
  USING ((SELECT is_admin()) OR in_conversation(id));
CREATE POLICY conversation_participants_read ON conversation_participants FOR SELECT
  USING ((SELECT is_admin()) OR user_id = (SELECT current_user_id()) OR in_conversation(conversation_id));
-- messages: what a participant may read (not hidden, not sent after they left)
CREATE POLICY messages_read ON messages FOR SELECT
  USING ((SELECT is_admin()) OR (NOT is_hidden AND in_conversation(conversation_id, sent_at)));

-- activities: verified owners and active listings are public; owners see
-- their own; admins all
CREATE POLICY activity_owners_read ON activity_owners FOR SELECT
  USING (verification_status = 'VERIFIED' OR user_id = (SELECT current_user_id()) OR (SELECT is_admin()));
CREATE POLICY activities_read ON activities FOR SELECT
  USING (status = 'ACTIVE' OR owner_id = (SELECT current_owner_id()) OR (SELECT is_admin()));
CREATE POLICY activity_photos_read ON activity_photos FOR SELECT
  USING (EXISTS (SELECT 1 FROM activities a WHERE a.id = activity_photos.activity_id));
CREATE POLICY activity_schedules_read ON activity_schedules FOR SELECT
  USING (EXISTS (SELECT 1 FROM activities a WHERE a.id = activity_schedules.activity_id));
CREATE POLICY activity_bookings_read ON activity_bookings FOR SELECT
  USING (passenger_id = (SELECT current_user_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM activities a WHERE a.id = activity_bookings.activity_id AND a.owner_id = (SELECT current_owner_id())));
CREATE POLICY activity_reviews_read ON activity_reviews FOR SELECT USING (true);

-- admin tables
CREATE POLICY admin_actions_read ON admin_actions FOR SELECT USING ((SELECT is_admin()));
CREATE POLICY document_verifications_read ON document_verifications FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin()));
CREATE POLICY file_uploads_read ON file_uploads FOR SELECT
  USING ((user_id = (SELECT current_user_id()) AND deleted_at IS NULL) OR (SELECT is_admin()));
CREATE POLICY analytics_events_read ON analytics_events FOR SELECT USING ((SELECT is_admin()));
CREATE POLICY webhook_logs_read ON webhook_logs FOR SELECT USING ((SELECT is_admin()));
CREATE POLICY notifications_read ON notifications FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin()));
-- refresh_tokens, otps, job_definitions, api_functions: no policy, no grant:
-- nothing is readable by an API role.

-- ---------------------------------------------------------------------------
-- What the API roles may read directly (PostgREST GET on tables), by
-- audience.  Writes always go through functions.  Columns left out of a
-- grant are secrets or internal: password and token hashes.
-- ---------------------------------------------------------------------------
CREATE TABLE api_tables (
  table_name  text PRIMARY KEY,
  audience    text NOT NULL CHECK (audience IN ('anon', 'authenticated', 'service')),
  columns     text[],
  hidden_columns text[]
);
COMMENT ON TABLE api_tables IS
  'The tables API roles may SELECT (row-level security decides which rows), by audience, with the columns granted (NULL: all). Filled by the extension''s scripts, read by setup_api_roles(). Not user data.';
COMMENT ON COLUMN api_tables.table_name IS 'Table in schema steppergo.';
COMMENT ON COLUMN api_tables.audience IS 'anon (everyone, also without a token), authenticated (logged-in users) or service (trusted backends only).';
COMMENT ON COLUMN api_tables.columns IS 'The columns granted; NULL grants every column (but hidden_columns).';
COMMENT ON COLUMN api_tables.hidden_columns IS 'Columns never granted (secrets such as keyed hashes), when columns is NULL.';
INSERT INTO api_tables (table_name, audience, columns) VALUES
  ('currencies', 'anon', NULL),
  ('trips', 'anon', NULL),
  ('reviews', 'anon', ARRAY['id', 'driver_id', 'trip_id', 'rating', 'comment', 'reviewer_name', 'response', 'responded_at', 'created_at']),
  ('activity_owners', 'anon', ARRAY['id', 'business_name', 'business_type', 'city', 'country', 'website', 'verification_status',
                                    'categories', 'total_activities', 'average_rating', 'created_at']),
  ('activities', 'anon', NULL),
  ('activity_photos', 'anon', NULL),
  ('activity_schedules', 'anon', NULL),
  ('activity_reviews', 'anon', NULL),
  ('tenants', 'authenticated', NULL),
  ('users', 'authenticated', ARRAY['id', 'email', 'phone', 'name', 'role', 'email_verified', 'phone_verified', 'avatar', 'bio',
                                   'is_first_login', 'created_at', 'updated_at', 'tenant_id', 'last_login_at']),
  ('sessions', 'authenticated', ARRAY['id', 'user_id', 'expires_at', 'created_at', 'revoked_at', 'last_seen_at', 'ip_address', 'user_agent']),
  ('drivers', 'authenticated', NULL),
  ('vehicles', 'authenticated', NULL),
  ('driver_locations', 'authenticated', NULL),
  ('driver_availability_schedules', 'authenticated', NULL),
  ('driver_availability_history', 'authenticated', NULL),
  ('driver_credential_deliveries', 'authenticated', NULL),
  ('trip_status_history', 'authenticated', NULL),
  ('trip_driver_visibility', 'authenticated', NULL),
  ('trip_acceptance_logs', 'authenticated', NULL),
  ('bookings', 'authenticated', NULL),  -- but boarding_code_hash, below
  ('payments', 'authenticated', ARRAY['id', 'booking_id', 'stripe_intent_id', 'stripe_client_secret', 'amount', 'currency', 'status',
                                      'payment_method', 'last4', 'error_message', 'created_at', 'succeeded_at', 'failed_at',
                                      'updated_at', 'refund_requested_at', 'refunded_at']),
  ('payouts', 'authenticated', NULL),
  ('driver_commissions', 'authenticated', NULL),
  ('payout_released_bookings', 'authenticated', NULL),
  ('conversations', 'authenticated', NULL),
  ('conversation_participants', 'authenticated', NULL),
  ('messages', 'authenticated', NULL),
  ('activity_bookings', 'authenticated', NULL),
  ('admin_actions', 'authenticated', NULL),
  ('document_verifications', 'authenticated', NULL),
  ('file_uploads', 'authenticated', NULL),
  ('analytics_events', 'authenticated', NULL),
  ('webhook_logs', 'authenticated', NULL),
  ('notifications', 'authenticated', NULL);
UPDATE api_tables SET hidden_columns = ARRAY['boarding_code_hash'] WHERE table_name = 'bookings';

-- ---------------------------------------------------------------------------
-- setup_api_roles: the roles PostgREST uses, and every grant they get.
-- ---------------------------------------------------------------------------
CREATE FUNCTION setup_api_roles(anon_role name DEFAULT 'anon',
                                authenticated_role name DEFAULT 'authenticated',
                                service_role name DEFAULT 'service_role',
                                authenticator_role name DEFAULT 'authenticator')
  RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  r record;
  aud text;
  role_name name;
  roles name[];
  postgis_schema name := (SELECT n.nspname FROM pg_catalog.pg_extension e
                            JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'postgis');
BEGIN
  IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'setup_api_roles must be run by a superuser';
  END IF;
  IF anon_role IS NULL OR authenticated_role IS NULL OR service_role IS NULL OR authenticator_role IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'role names must not be null';
  END IF;
  IF cardinality(ARRAY(SELECT DISTINCT x FROM unnest(ARRAY[anon_role, authenticated_role, service_role, authenticator_role]) x)) <> 4 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the four role names must differ';
  END IF;
  -- a pinned search_path is only as safe as the schemas on it
  IF pg_catalog.has_schema_privilege('public', postgis_schema, 'CREATE') THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('every role may create objects in schema %s, which the extension''s functions search', postgis_schema),
      HINT = format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC; then run setup_api_roles() again.', postgis_schema);
  END IF;

  -- group roles: steppergo_api (every API role), steppergo_service (trusted backends)
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'steppergo_api') THEN
    CREATE ROLE steppergo_api NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'steppergo_service') THEN
    CREATE ROLE steppergo_service NOLOGIN;
  END IF;
  COMMENT ON ROLE steppergo_api IS 'steppergo: every role PostgREST switches to (anonymous, authenticated, service).';
  COMMENT ON ROLE steppergo_service IS 'steppergo: roles of trusted backends, which act for the platform.';

  FOREACH aud IN ARRAY ARRAY['anon', 'authenticated', 'service'] LOOP
    role_name := CASE aud WHEN 'anon' THEN anon_role WHEN 'authenticated' THEN authenticated_role ELSE service_role END;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
    END IF;
    EXECUTE format('GRANT steppergo_api TO %I', role_name);
  END LOOP;
  EXECUTE format('GRANT steppergo_service TO %I', service_role);
  -- trusted backends see every row; they still write only through functions
  EXECUTE format('ALTER ROLE %I BYPASSRLS', service_role);
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = authenticator_role) THEN
    EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT', authenticator_role);
  ELSE
    EXECUTE format('ALTER ROLE %I NOINHERIT', authenticator_role);
  END IF;
  EXECUTE format('GRANT %I, %I, %I TO %I', anon_role, authenticated_role, service_role, authenticator_role);

  -- nothing of the extension is granted to PUBLIC
  REVOKE ALL ON SCHEMA steppergo FROM PUBLIC;
  REVOKE ALL ON ALL TABLES IN SCHEMA steppergo FROM PUBLIC;
  REVOKE ALL ON ALL SEQUENCES IN SCHEMA steppergo FROM PUBLIC;
  REVOKE ALL ON ALL FUNCTIONS IN SCHEMA steppergo FROM PUBLIC;
  GRANT USAGE ON SCHEMA steppergo TO steppergo_api;

  -- the helpers policies call run with the caller's rights
  GRANT EXECUTE ON FUNCTION current_claims(), current_user_id(), current_app_role(), current_tenant_id(),
                            invoking_role(), is_trusted_caller(), is_admin(), current_driver_id(), current_owner_id(),
                            tenant_visible(uuid), my_trip(uuid), in_conversation(uuid, timestamptz), pre_request()
    TO steppergo_api;

  -- functions, by audience (anon implies authenticated and service, ...)
  FOR r IN SELECT f.signature, f.audience, to_regprocedure('steppergo.' || f.signature) AS fn
             FROM api_functions f ORDER BY f.signature LOOP
    IF r.fn IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '42883', MESSAGE = format('api function %s does not exist', r.signature);
    END IF;
    roles := CASE r.audience WHEN 'anon' THEN ARRAY[anon_role, authenticated_role, service_role]
                             WHEN 'authenticated' THEN ARRAY[authenticated_role, service_role]
                             ELSE ARRAY[service_role] END;
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', r.fn,
                   (SELECT string_agg(quote_ident(x), ', ') FROM unnest(roles) x));
  END LOOP;

  -- tables, by audience, with their columns
  FOR r IN SELECT t.table_name, t.audience,
                  coalesce(t.columns, ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                                             WHERE a.attrelid = ('steppergo.' || quote_ident(t.table_name))::regclass
                                               AND a.attnum > 0 AND NOT a.attisdropped
                                               AND a.attname::text <> ALL (coalesce(t.hidden_columns, '{}'))
                                             ORDER BY a.attnum)) AS columns,
                  t.columns IS NULL AND t.hidden_columns IS NULL AS whole_table
             FROM api_tables t ORDER BY t.table_name LOOP
    roles := CASE r.audience WHEN 'anon' THEN ARRAY[anon_role, authenticated_role, service_role]
                             WHEN 'authenticated' THEN ARRAY[authenticated_role, service_role]
                             ELSE ARRAY[service_role] END;
    -- a table-wide grant would include columns added later; with hidden
    -- columns the grant is per column, re-run after an update
    EXECUTE format('GRANT SELECT %s ON TABLE steppergo.%I TO %s',
                   CASE WHEN r.whole_table THEN ''
                        ELSE '(' || (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.columns) c) || ')' END,
                   r.table_name, (SELECT string_agg(quote_ident(x), ', ') FROM unnest(roles) x));
  END LOOP;
END
$$;
COMMENT ON FUNCTION setup_api_roles(name, name, name, name) IS
  'Creates (or adopts) the roles PostgREST uses and grants them exactly what api_functions and api_tables list: an authenticator (LOGIN NOINHERIT), an anonymous role, an authenticated role, a service role for trusted backends (BYPASSRLS, trusted by the functions); revokes everything of the extension from PUBLIC. Idempotent: run it again after ALTER EXTENSION steppergo UPDATE. Superuser only.';

-- ---------------------------------------------------------------------------
-- pre_request: PostgREST's db-pre-request.  PostgREST has verified the
-- token's signature and expiry; this checks that it still speaks for
-- someone: the user exists with that role and tenant, and the session it
-- was issued in was not ended (logout, theft detection) — so a revoked or
-- demoted user's token stops working at once, not when it expires.
-- ---------------------------------------------------------------------------
CREATE FUNCTION pre_request() RETURNS void
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  claims jsonb := current_claims();
  uid uuid;
  u record;
  sid text;
BEGIN
  IF claims IS NULL OR NOT claims ? 'sub' THEN
    -- anonymous, or a service token without a user
    IF claims ? 'app_role' OR claims ? 'tenant_id' THEN
      RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'a token with an app_role must name its user';
    END IF;
    RETURN;
  END IF;
  IF jsonb_typeof(claims -> 'exp') IS DISTINCT FROM 'number'
     OR (claims ->> 'exp')::numeric <= extract(epoch FROM pg_catalog.now()) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token has expired or has no expiry';
  END IF;
  uid := current_user_id();
  SELECT x.role, x.tenant_id INTO u FROM users x WHERE x.id = uid;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s user does not exist';
  END IF;
  IF current_app_role() IS DISTINCT FROM u.role THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s app_role is not the user''s role';
  END IF;
  IF current_tenant_id() IS DISTINCT FROM u.tenant_id THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s tenant is not the user''s tenant';
  END IF;
  sid := claims ->> 'sid';
  IF sid IS NULL OR sid !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
     OR NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = sid::uuid AND s.user_id = uid
                      AND s.revoked_at IS NULL AND s.expires_at > pg_catalog.now()) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s session has ended';
  END IF;
END
$$;
COMMENT ON FUNCTION pre_request() IS
  'PostgREST db-pre-request hook: refuses (PT401) a token whose user no longer exists, whose app_role or tenant_id no longer match the user, whose session (sid) was ended by logout or theft detection, or that has no future exp. Anonymous requests pass.';
-- ===========================================================================
-- drivers (release 0.3): one lock order with dispatch.
--
-- Dispatch keeps a copy of each driver's dispatch state on the driver's
-- position row (driver_locations.dispatch_*), written by triggers that lock
-- the driver row and then the position row.  So every writer now takes a
-- driver row before the position row, and pings, which lock position rows,
-- never wait for a driver row: the throttled write of
-- drivers.last_activity_at skips a driver locked by someone else (location.c).
-- ===========================================================================

CREATE OR REPLACE FUNCTION update_driver_availability(driver_id uuid, availability driver_availability,
                                           reason text DEFAULT NULL)
  RETURNS driver_availability
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers;
  who text := 'driver';
BEGIN
  PERFORM require_arg(driver_id, 'driver_id');
  -- lock order: the driver row, then (by the updates below and the dispatch
  -- state trigger) the position row; a ping never waits for a driver row
  d := driver_for_update(driver_id);
  PERFORM assert_acting_as(d.user_id);
  PERFORM require_arg(availability, 'availability');
  reason := driver_check_text(reason, 'reason', 500);
  IF availability = 'BUSY' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'availability BUSY is set by the system',
      DETAIL = 'A driver becomes BUSY when a trip starts and is freed when it ends.',
      HINT = 'Use ONLINE, OFFLINE or ON_BREAK.';
  END IF;
  IF d.availability = 'BUSY' AND availability IS DISTINCT FROM 'BUSY' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'driver is on a trip',
      DETAIL = format('driver %s is BUSY until the trip ends', d.driver_id);
  END IF;
  IF availability = 'ONLINE' AND d.status <> 'APPROVED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only an approved driver can go online',
      DETAIL = format('driver %s is %s', d.driver_id, d.status);
  END IF;
  IF NOT is_trusted_caller() AND current_app_role() = 'ADMIN' AND current_user_id() IS DISTINCT FROM d.user_id THEN
    who := 'admin';
  END IF;
  IF availability = 'ONLINE' THEN
    -- the auto-offline clock starts now when the app has not reported a position yet
    UPDATE drivers x SET last_activity_at = now() WHERE x.id = d.id;
  ELSIF availability = 'OFFLINE' THEN
    UPDATE driver_locations l SET is_active = false WHERE l.driver_id = d.id AND l.is_active;
  END IF;
  RETURN set_driver_availability(d.id, availability,
                                 coalesce(reason, format('%s by the %s', lower(availability::text), who)), who);
END
$$;
COMMENT ON FUNCTION update_driver_availability(uuid, driver_availability, text) IS
  'The driver app''s switch: ONLINE (only an APPROVED driver), OFFLINE or ON_BREAK, with a history row (triggered_by driver, or admin when an admin acts for the driver). BUSY is the system''s (22023) and a BUSY driver cannot switch until the trip ends (PT409). Going OFFLINE marks the live position inactive. Returns the previous availability.';

CREATE OR REPLACE FUNCTION auto_offline_stale_drivers() RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  -- the setting has a time unit (SHOW gives 5min); as an interval it reads back exactly
  after_i interval := coalesce(nullif(current_setting('steppergo.driver_offline_after', true), ''), '300s')::interval;
  cutoff timestamptz := now() - after_i;
  after_s bigint := extract(epoch FROM after_i)::bigint;
  r record;
  n integer := 0;
BEGIN
  -- Both rows are taken with SKIP LOCKED (the position row here, the driver
  -- row in stale_driver_offline), so the job never waits for a driver who
  -- resumes sending positions, or for any other writer; rows locked by
  -- others are left for the next run.
  FOR r IN
    SELECT l.driver_id AS id, true AS has_position
      FROM driver_locations l JOIN drivers d ON d.id = l.driver_id
     WHERE d.availability = 'ONLINE' AND l.last_updated < cutoff
     ORDER BY l.driver_id
       FOR UPDATE OF l SKIP LOCKED
  LOOP
    IF stale_driver_offline(r.id, cutoff, after_s) THEN
      UPDATE driver_locations l SET is_active = false WHERE l.driver_id = r.id AND l.is_active;
      n := n + 1;
    END IF;
  END LOOP;
  -- ONLINE without any position: measured from last_activity_at (set when going ONLINE)
  FOR r IN
    SELECT d.id
      FROM drivers d
     WHERE d.availability = 'ONLINE' AND coalesce(d.last_activity_at, d.updated_at) < cutoff
       AND NOT EXISTS (SELECT 1 FROM driver_locations l WHERE l.driver_id = d.id)
     ORDER BY d.id
       FOR UPDATE OF d SKIP LOCKED
  LOOP
    IF stale_driver_offline(r.id, cutoff, after_s) THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
-- ===========================================================================
-- dispatch (release 0.3): find_drivers decides a candidate from the row the
-- index scan already read.
--
-- 1. A planar position index.  PostGIS's geography GiST computes sphere
--    distances for every index entry a KNN search visits; a built-in point
--    GiST on (longitude, latitude) orders by plain float arithmetic.
--    find_drivers (find.c) walks it nearest-first and stops with a proven
--    lower bound of the WGS84 distance (see README, "How find_drivers
--    searches"); near the poles and the antimeridian it walks the geography
--    index instead.  The index holds only drivers that can be dispatched at
--    all (APPROVED, ONLINE, with an active vehicle): the others cost a search
--    nothing.
-- 2. A dispatch state on each position row: the driver's approval and
--    availability, trip types, rating, acceptance rate, the active
--    vehicle's capacity, and the number of things that can make the driver
--    unavailable at some time (active schedules, trips assigned and not
--    over, open offers).  Kept by triggers from drivers, vehicles,
--    driver_availability_schedules and trips.  A candidate whose count is 0
--    is decided from its position row alone; only the others go through the
--    schedule and trip rules.
--
-- Lock order (all domains): a driver row before the driver's position row.
-- Pings lock only position rows and never wait for a driver row (the
-- throttled write of drivers.last_activity_at skips a locked driver), so
-- the triggers below, which lock the driver row and then write the
-- position row, cannot deadlock with them.
-- ===========================================================================

ALTER TABLE driver_locations
  ADD COLUMN pos point GENERATED ALWAYS AS (point(longitude, latitude)) STORED,
  ADD COLUMN dispatch_ready boolean NOT NULL DEFAULT false,
  ADD COLUMN dispatch_accepts_private boolean NOT NULL DEFAULT false,
  ADD COLUMN dispatch_accepts_shared boolean NOT NULL DEFAULT false,
  ADD COLUMN dispatch_seats integer NOT NULL DEFAULT 0,
  ADD COLUMN dispatch_holds integer NOT NULL DEFAULT 0,
  ADD COLUMN dispatch_rating double precision NOT NULL DEFAULT 0,
  ADD COLUMN dispatch_review_count integer NOT NULL DEFAULT 0,
  ADD COLUMN dispatch_acceptance_rate double precision;
COMMENT ON COLUMN driver_locations.pos IS
  'The position as a plain point (longitude, latitude) in degrees (generated); its partial GiST index is the one find_drivers walks nearest-first.';
COMMENT ON COLUMN driver_locations.dispatch_ready IS
  'Dispatch state (kept by triggers, see driver_dispatch_state): the driver is APPROVED and ONLINE.';
COMMENT ON COLUMN driver_locations.dispatch_accepts_private IS
  'Dispatch state: drivers.accepts_private_trips.';
COMMENT ON COLUMN driver_locations.dispatch_accepts_shared IS
  'Dispatch state: drivers.accepts_shared_trips.';
COMMENT ON COLUMN driver_locations.dispatch_seats IS
  'Dispatch state: passenger_capacity of the driver''s active vehicle, 0 without one.';
COMMENT ON COLUMN driver_locations.dispatch_holds IS
  'Dispatch state: active availability schedules + trips assigned to the driver and not COMPLETED/CANCELLED + trips offered to the driver; find_drivers checks the schedule and trip rules only when it is above 0.';
COMMENT ON COLUMN driver_locations.dispatch_rating IS
  'Dispatch state: drivers.rating.';
COMMENT ON COLUMN driver_locations.dispatch_review_count IS
  'Dispatch state: drivers.review_count.';
COMMENT ON COLUMN driver_locations.dispatch_acceptance_rate IS
  'Dispatch state: drivers.acceptance_rate (NULL when unknown).';
CREATE INDEX driver_locations_dispatch_idx ON driver_locations USING gist (pos)
  WHERE dispatch_ready AND dispatch_seats > 0;
COMMENT ON INDEX driver_locations_dispatch_idx IS
  'Dispatch: nearest-first (KNN) search of the positions of APPROVED, ONLINE drivers with an active vehicle, in degree space, far cheaper per entry than the geography index; find_drivers converts its order into a WGS84 lower bound.';
CREATE INDEX driver_locations_dispatch_large_idx ON driver_locations USING gist (pos)
  WHERE dispatch_ready AND dispatch_seats > 4;
COMMENT ON INDEX driver_locations_dispatch_large_idx IS
  'Dispatch: as driver_locations_dispatch_idx, for the drivers whose active vehicle seats more than 4 (minivans, buses): a trip for 5 or more passengers searches only them instead of stepping over every sedan in town.';

CREATE FUNCTION dispatch_search_index(lat float8, lng float8, radius_m integer, seats integer) RETURNS regclass
  AS 'MODULE_PATHNAME', 'sg_dispatch_search_index'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_search_index(float8, float8, integer, integer) IS
  'Internal: the index find_drivers walks for a pickup point, a radius and the seats a trip needs: driver_locations_dispatch_idx, driver_locations_dispatch_large_idx (more than 4 seats), or driver_locations_geog_idx where the radius reaches a pole or the antimeridian. Out-of-range arguments raise 22023.';

-- ---------------------------------------------------------------------------
-- Keeping the dispatch state
-- ---------------------------------------------------------------------------
CREATE VIEW driver_dispatch_state AS
SELECT d.id AS driver_id,
       d.status = 'APPROVED' AND d.availability = 'ONLINE' AS ready,
       d.accepts_private_trips AS accepts_private,
       d.accepts_shared_trips AS accepts_shared,
       coalesce((SELECT v.passenger_capacity FROM vehicles v
                  WHERE v.driver_id = d.id AND v.is_active), 0) AS seats,
       ((SELECT count(*) FROM driver_availability_schedules s WHERE s.driver_id = d.id AND s.is_active)
        + (SELECT count(*) FROM trips o WHERE o.driver_id = d.id AND o.status NOT IN ('COMPLETED', 'CANCELLED'))
        + (SELECT count(*) FROM trips f WHERE f.offered_to_driver_id = d.id))::integer AS holds,
       d.rating::double precision AS rating,
       d.review_count,
       d.acceptance_rate::double precision AS acceptance_rate
  FROM drivers d;
COMMENT ON VIEW driver_dispatch_state IS
  'What the dispatch_* columns of a driver''s driver_locations row must hold, computed from drivers, vehicles, driver_availability_schedules and trips: the definition the triggers keep (a recount to compare with).';
COMMENT ON COLUMN driver_dispatch_state.driver_id IS 'The driver.';
COMMENT ON COLUMN driver_dispatch_state.ready IS 'APPROVED and ONLINE.';
COMMENT ON COLUMN driver_dispatch_state.accepts_private IS 'accepts_private_trips.';
COMMENT ON COLUMN driver_dispatch_state.accepts_shared IS 'accepts_shared_trips.';
COMMENT ON COLUMN driver_dispatch_state.seats IS 'passenger_capacity of the active vehicle, 0 without one.';
COMMENT ON COLUMN driver_dispatch_state.holds IS 'Active schedules + trips assigned and not COMPLETED/CANCELLED + trips offered to the driver.';
COMMENT ON COLUMN driver_dispatch_state.rating IS 'rating.';
COMMENT ON COLUMN driver_dispatch_state.review_count IS 'review_count.';
COMMENT ON COLUMN driver_dispatch_state.acceptance_rate IS 'acceptance_rate (NULL when unknown).';

-- Recomputed from the tables, never adjusted by deltas: the driver rows are
-- locked first (in id order), so the statement that writes the position
-- rows runs with a snapshot taken after every concurrent writer of those
-- drivers committed (READ COMMITTED), and a restore or a replay of the same
-- rows cannot double-count.
CREATE FUNCTION dispatch_refresh_drivers(driver_ids uuid[]) RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  n integer;
BEGIN
  IF driver_ids IS NULL THEN
    driver_ids := ARRAY(SELECT d.id FROM drivers d ORDER BY d.id);
  END IF;
  -- a join with the ids, not = ANY: a bulk statement names many drivers
  PERFORM 1 FROM drivers d WHERE d.id IN (SELECT unnest(driver_ids)) ORDER BY d.id FOR NO KEY UPDATE;
  UPDATE driver_locations l
     SET dispatch_ready = s.ready, dispatch_accepts_private = s.accepts_private,
         dispatch_accepts_shared = s.accepts_shared, dispatch_seats = s.seats, dispatch_holds = s.holds,
         dispatch_rating = s.rating, dispatch_review_count = s.review_count,
         dispatch_acceptance_rate = s.acceptance_rate
    FROM driver_dispatch_state s
   WHERE s.driver_id IN (SELECT unnest(driver_ids)) AND l.driver_id = s.driver_id
     AND (l.dispatch_ready, l.dispatch_accepts_private, l.dispatch_accepts_shared, l.dispatch_seats,
          l.dispatch_holds, l.dispatch_rating, l.dispatch_review_count, l.dispatch_acceptance_rate)
         IS DISTINCT FROM
         (s.ready, s.accepts_private, s.accepts_shared, s.seats, s.holds, s.rating, s.review_count,
          s.acceptance_rate);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION dispatch_refresh_drivers(uuid[]) IS
  'Internal: locks the drivers (all when NULL) in id order and sets the dispatch_* columns of their driver_locations rows to driver_dispatch_state; returns how many rows changed.';

-- a driver's first position: the state is read under a lock of the
-- driver row, so a concurrent change of the driver either committed before
-- (and is read) or waits for this insert (and then sees the row)
CREATE FUNCTION dispatch_location_inserted() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  s driver_dispatch_state;
BEGIN
  PERFORM 1 FROM drivers d WHERE d.id = NEW.driver_id FOR NO KEY UPDATE;
  SELECT * INTO s FROM driver_dispatch_state x WHERE x.driver_id = NEW.driver_id;
  IF FOUND THEN
    NEW.dispatch_ready := s.ready;
    NEW.dispatch_accepts_private := s.accepts_private;
    NEW.dispatch_accepts_shared := s.accepts_shared;
    NEW.dispatch_seats := s.seats;
    NEW.dispatch_holds := s.holds;
    NEW.dispatch_rating := s.rating;
    NEW.dispatch_review_count := s.review_count;
    NEW.dispatch_acceptance_rate := s.acceptance_rate;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION dispatch_location_inserted() IS
  'Trigger function (driver_locations, before insert): fills the dispatch_* columns of a driver''s first position from driver_dispatch_state, under a lock of the driver row (FOR NO KEY UPDATE: two first positions of one driver wait for each other instead of deadlocking).';
CREATE TRIGGER driver_locations_dispatch_state BEFORE INSERT ON driver_locations
  FOR EACH ROW EXECUTE FUNCTION dispatch_location_inserted();
COMMENT ON TRIGGER driver_locations_dispatch_state ON driver_locations IS
  'Dispatch: a new position row starts with the driver''s dispatch state.';

-- drivers: the columns the state copies
CREATE FUNCTION dispatch_driver_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM dispatch_refresh_drivers(ARRAY[NEW.id]);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION dispatch_driver_changed() IS
  'Trigger function (drivers): refreshes the dispatch state of a driver whose approval, availability, trip types, rating or acceptance rate changed.';
CREATE TRIGGER drivers_dispatch_state AFTER UPDATE OF status, availability, accepts_private_trips,
    accepts_shared_trips, rating, review_count, acceptance_rate ON drivers
  FOR EACH ROW WHEN ((OLD.status, OLD.availability, OLD.accepts_private_trips, OLD.accepts_shared_trips,
                      OLD.rating, OLD.review_count, OLD.acceptance_rate)
                     IS DISTINCT FROM
                     (NEW.status, NEW.availability, NEW.accepts_private_trips, NEW.accepts_shared_trips,
                      NEW.rating, NEW.review_count, NEW.acceptance_rate))
  EXECUTE FUNCTION dispatch_driver_changed();
COMMENT ON TRIGGER drivers_dispatch_state ON drivers IS
  'Dispatch: keeps the dispatch state of the driver''s position row.';

-- vehicles and schedules: one refresh per statement, for every driver the
-- statement touched (a bulk load is one set-based refresh)
CREATE FUNCTION dispatch_summary_rows_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM dispatch_refresh_drivers(ARRAY(SELECT DISTINCT n.driver_id FROM new_rows n));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM dispatch_refresh_drivers(ARRAY(SELECT DISTINCT o.driver_id FROM old_rows o));
  ELSE
    PERFORM dispatch_refresh_drivers(ARRAY(SELECT o.driver_id FROM old_rows o
                                           UNION SELECT n.driver_id FROM new_rows n));
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION dispatch_summary_rows_changed() IS
  'Statement trigger function (vehicles, driver_availability_schedules): refreshes the dispatch state of every driver whose rows the statement inserted, changed or deleted.';

CREATE TRIGGER vehicles_dispatch_state_ins AFTER INSERT ON vehicles
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
CREATE TRIGGER vehicles_dispatch_state_upd AFTER UPDATE ON vehicles
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
CREATE TRIGGER vehicles_dispatch_state_del AFTER DELETE ON vehicles
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
COMMENT ON TRIGGER vehicles_dispatch_state_ins ON vehicles IS 'Dispatch: keeps the dispatch state (the active vehicle''s capacity).';
COMMENT ON TRIGGER vehicles_dispatch_state_upd ON vehicles IS 'Dispatch: keeps the dispatch state (the active vehicle''s capacity).';
COMMENT ON TRIGGER vehicles_dispatch_state_del ON vehicles IS 'Dispatch: keeps the dispatch state (the active vehicle''s capacity).';

CREATE TRIGGER schedules_dispatch_state_ins AFTER INSERT ON driver_availability_schedules
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
CREATE TRIGGER schedules_dispatch_state_upd AFTER UPDATE ON driver_availability_schedules
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
CREATE TRIGGER schedules_dispatch_state_del AFTER DELETE ON driver_availability_schedules
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
COMMENT ON TRIGGER schedules_dispatch_state_ins ON driver_availability_schedules IS 'Dispatch: keeps the dispatch state (active schedules).';
COMMENT ON TRIGGER schedules_dispatch_state_upd ON driver_availability_schedules IS 'Dispatch: keeps the dispatch state (active schedules).';
COMMENT ON TRIGGER schedules_dispatch_state_del ON driver_availability_schedules IS 'Dispatch: keeps the dispatch state (active schedules).';

-- trips: row triggers that fire only when a driver or an offer is involved
-- (trips are updated on every booking; a statement trigger would capture
-- every one of those updates)
CREATE FUNCTION dispatch_summary_trip_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM dispatch_refresh_drivers(ARRAY[NEW.driver_id, NEW.offered_to_driver_id]);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM dispatch_refresh_drivers(ARRAY[OLD.driver_id, OLD.offered_to_driver_id]);
  ELSE
    PERFORM dispatch_refresh_drivers(ARRAY[OLD.driver_id, OLD.offered_to_driver_id,
                                           NEW.driver_id, NEW.offered_to_driver_id]);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION dispatch_summary_trip_changed() IS
  'Trigger function (trips): refreshes the dispatch state of the drivers a trip names, before and after the change.';

CREATE TRIGGER trips_dispatch_state_ins AFTER INSERT ON trips
  FOR EACH ROW WHEN (NEW.driver_id IS NOT NULL OR NEW.offered_to_driver_id IS NOT NULL)
  EXECUTE FUNCTION dispatch_summary_trip_changed();
COMMENT ON TRIGGER trips_dispatch_state_ins ON trips IS
  'Dispatch: keeps the dispatch state (a trip created with a driver or an offer).';
CREATE TRIGGER trips_dispatch_state_upd AFTER UPDATE OF driver_id, offered_to_driver_id, status ON trips
  FOR EACH ROW WHEN (OLD.driver_id IS DISTINCT FROM NEW.driver_id
                     OR OLD.offered_to_driver_id IS DISTINCT FROM NEW.offered_to_driver_id
                     OR (NEW.driver_id IS NOT NULL
                         AND (OLD.status IN ('COMPLETED', 'CANCELLED')) <> (NEW.status IN ('COMPLETED', 'CANCELLED'))))
  EXECUTE FUNCTION dispatch_summary_trip_changed();
COMMENT ON TRIGGER trips_dispatch_state_upd ON trips IS
  'Dispatch: keeps the dispatch state (driver assigned or unassigned, offer made or cleared, trip over or reopened).';
CREATE TRIGGER trips_dispatch_state_del AFTER DELETE ON trips
  FOR EACH ROW WHEN (OLD.driver_id IS NOT NULL OR OLD.offered_to_driver_id IS NOT NULL)
  EXECUTE FUNCTION dispatch_summary_trip_changed();
COMMENT ON TRIGGER trips_dispatch_state_del ON trips IS
  'Dispatch: keeps the dispatch state (a trip with a driver or an offer deleted).';

CREATE FUNCTION refresh_dispatch_state() RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  RETURN dispatch_refresh_drivers(NULL);
END
$$;
COMMENT ON FUNCTION refresh_dispatch_state() IS
  'Recomputes the dispatch state (driver_locations.dispatch_*) of every driver and returns how many rows changed (0 when the triggers kept it). Needed only after loading drivers, vehicles, schedules or trips with triggers disabled (session_replication_role = replica); trusted callers and admins.';
SELECT api_expose('refresh_dispatch_state()'::regprocedure, 'service');

-- existing data (an upgrade from 0.2): compute the state once
SELECT refresh_dispatch_state();

-- find_drivers no longer runs a cursor whose plan shape matters (0.2 forced
-- generic plans for it); its remaining cached plans are simple lookups
ALTER FUNCTION find_drivers(uuid, integer, integer) RESET plan_cache_mode;
ALTER FUNCTION dispatch_search(uuid, integer, integer) RESET plan_cache_mode;
-- ===========================================================================
-- payouts (release 0.3): a cheaper run_payout_batch (src/payouts/README.md,
-- "Bench" says where the time goes).  Release 0.2 picked the bookings into
-- a materialised CTE, grouped it, joined it back to the groups and updated
-- each booking through its primary key (about 400 MB of temporary files and
-- 1,000,000 index descents for 1,000,000 bookings).  Now one UPDATE settles
-- the bookings in a single pass while the payouts are summed from exactly
-- the rows it settled.  (The rates CTE is MATERIALIZED to state that
-- platform_rate() runs once per tenant; the planner already evaluated it
-- per tenant row in 0.2, as a placeholder below the outer join.)
-- ===========================================================================

CREATE FUNCTION payout_group_id(batch_id uuid, driver_id uuid, tenant_id uuid, currency text)
  RETURNS uuid
  AS 'MODULE_PATHNAME', 'sg_payout_group_id'
  LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION payout_group_id(uuid, uuid, uuid, text) IS
  'Internal, for run_payout_batch: the id of the payout of one (driver, tenant or NULL, currency) group within a batch, a pure function of the batch id (a fresh UUIDv7) and the group: the batch id''s first 8 bytes (time-ordered like every key) and 62 bits of a hash of the group seeded with the batch id''s random bits. A hash collision between two groups of one batch makes the batch fail with 23505 (never merges them). NULL batch_id, driver_id or currency: 22004.';

CREATE FUNCTION payout_payable(gross numeric, minor_unit integer)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'sg_payout_payable'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION payout_payable(numeric, integer) IS
  'Internal, for run_payout_batch: whether payout_fee can split gross in a currency of that minor unit (gross has no more decimals than the minor unit), the test payout_fee makes before returning NULL, without the arithmetic. Same 22023 refusals as payout_fee for a NaN, infinite or negative gross and a minor unit outside 0..4.';

CREATE OR REPLACE FUNCTION run_payout_batch(period_end timestamptz DEFAULT now()) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p_end timestamptz := run_payout_batch.period_end;
  default_rate numeric := platform_rate(NULL);
  batch_id uuid;
  n_payouts integer;
  new_ids uuid[];
BEGIN
  PERFORM require_arg(p_end, 'period_end');
  PERFORM assert_service_caller('run_payout_batch');
  IF NOT isfinite(p_end) OR p_end > now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'period_end must be a finite time not after now',
      DETAIL = format('period_end is %s, now is %s', p_end, now());
  END IF;

  -- One batch at a time.  A second run waits here; in READ COMMITTED its
  -- next statement sees what the first settled.  Under REPEATABLE READ a
  -- stale snapshot makes the settling UPDATE fail with 40001 instead.
  PERFORM pg_advisory_xact_lock(hashtextextended('steppergo.run_payout_batch', 0));

  -- 1. Cash bookings: never paid out; the platform's share becomes a
  --    commission the driver owes, and the booking's split is frozen.
  WITH rates AS MATERIALIZED (
    SELECT tn.id AS tenant_id, platform_rate(tn.id) AS rate FROM tenants tn
  ), cash AS (
    SELECT b.id, b.trip_id, t.driver_id, t.tenant_id, b.currency, b.total_amount,
           coalesce(r.rate, default_rate) AS rate,
           payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit) AS fee
      FROM bookings b
      JOIN trips t ON t.id = b.trip_id
      JOIN currencies c ON c.code = b.currency
      LEFT JOIN rates r ON r.tenant_id = t.tenant_id
     WHERE b.status = 'COMPLETED' AND b.platform_fee IS NULL
       AND b.payment_method_type = 'CASH_TO_DRIVER'
       AND t.completed_at < p_end AND t.driver_id IS NOT NULL
  ), frozen AS (
    UPDATE bookings b
       SET platform_rate = s.rate, platform_fee = s.fee, driver_amount = s.total_amount - s.fee
      FROM cash s
     WHERE b.id = s.id AND s.fee IS NOT NULL AND b.platform_fee IS NULL
    RETURNING b.id
  )
  INSERT INTO driver_commissions (driver_id, booking_id, trip_id, tenant_id, currency, gross, platform_rate, amount)
  SELECT s.driver_id, s.id, s.trip_id, s.tenant_id, s.currency, s.total_amount, s.rate, s.fee
    FROM cash s JOIN frozen f ON f.id = s.id;

  -- 2. ONLINE bookings, in one statement and one pass over the bookings:
  --    the UPDATE settles each booking (split computed in C and frozen,
  --    payout id of its driver, tenant and currency), and the payouts are
  --    the sums of exactly the rows it settled (RETURNING), so a payout
  --    always matches its bookings, even when a booking changed
  --    concurrently (READ COMMITTED re-checks such a row, and a row that
  --    no longer qualifies is neither settled nor summed).  Grouping by the
  --    id and the group's columns turns an id collision into a 23505.
  batch_id := uuid_generate_v7();
  WITH rates AS MATERIALIZED (
    SELECT tn.id AS tenant_id, platform_rate(tn.id) AS rate FROM tenants tn
  ), settled AS (
    UPDATE bookings b
       SET payout_id = payout_group_id(batch_id, t.driver_id, t.tenant_id, b.currency),
           payout_settled = true, settled_at = now(),
           platform_rate = coalesce(r.rate, default_rate),
           platform_fee = payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit),
           driver_amount = b.total_amount - payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit)
      FROM trips t
      LEFT JOIN rates r ON r.tenant_id = t.tenant_id, currencies c
     WHERE t.id = b.trip_id AND c.code = b.currency
       AND b.status = 'COMPLETED' AND b.platform_fee IS NULL AND NOT b.payout_settled
       AND b.payment_method_type = 'ONLINE'
       AND t.completed_at < p_end AND t.driver_id IS NOT NULL
       AND payout_payable(b.total_amount, c.minor_unit)
    RETURNING b.payout_id, t.driver_id, t.tenant_id, b.currency, b.trip_id, b.driver_amount, t.completed_at
  ), per_trip AS (
    SELECT s.payout_id, s.driver_id, s.tenant_id, s.currency, s.trip_id,
           sum(s.driver_amount) AS amount, count(*) AS n_bookings, min(s.completed_at) AS completed_at
      FROM settled s
     GROUP BY s.payout_id, s.driver_id, s.tenant_id, s.currency, s.trip_id
  ), ins AS (
    INSERT INTO payouts (id, driver_id, amount, currency, status, period_start, period_end,
                         trips_count, bookings_count, tenant_id)
    SELECT pt.payout_id, pt.driver_id, sum(pt.amount), pt.currency, 'PENDING', min(pt.completed_at), p_end,
           count(*), sum(pt.n_bookings), pt.tenant_id
      FROM per_trip pt
     GROUP BY pt.payout_id, pt.driver_id, pt.tenant_id, pt.currency
    RETURNING id
  )
  SELECT count(*), array_agg(id) INTO n_payouts, new_ids FROM ins;

  -- 3. Optionally, deduct owed cash commissions from the new payouts:
  --    oldest first, whole commissions only, never below zero.
  IF n_payouts > 0 AND current_setting('steppergo.payout_net_cash_commission')::boolean THEN
    WITH owed AS (
      SELECT c.id, p.id AS payout_id, p.amount AS payout_amount,
             sum(c.amount) OVER (PARTITION BY p.id ORDER BY c.recorded_at, c.id) AS running
        FROM payouts p
        JOIN driver_commissions c ON c.driver_id = p.driver_id AND c.currency = p.currency
                                 AND c.tenant_id IS NOT DISTINCT FROM p.tenant_id AND c.status = 'OWED'
       WHERE p.id = ANY (new_ids)
    ), marked AS (
      UPDATE driver_commissions c
         SET status = 'NETTED', payout_id = o.payout_id, netted_at = now()
        FROM owed o
       WHERE c.id = o.id AND o.running <= o.payout_amount AND c.status = 'OWED'
      RETURNING c.payout_id, c.amount
    )
    UPDATE payouts p
       SET commission_netted = m.total, amount = p.amount - m.total
      FROM (SELECT marked.payout_id, sum(marked.amount) AS total FROM marked GROUP BY marked.payout_id) m
     WHERE p.id = m.payout_id;
  END IF;

  RETURN n_payouts;
END
$$;
-- ===========================================================================
-- messaging (release 0.3)
--
-- message_history returns a named row type instead of RETURNS TABLE: the
-- executor then takes the result's row type from the type cache, where for
-- a RETURNS TABLE function it builds it from pg_proc's argument arrays on
-- every call (about a thirtieth of a page read, callgrind).  Same columns,
-- same order, same C (history.c), same arguments: callers see no
-- difference.  Dropped and created again (a function's result type cannot
-- be replaced); run setup_api_roles() after the update, as for every update,
-- to grant it again.
-- ===========================================================================

CREATE TYPE message_history_row AS (
  id            uuid,
  sender_id     uuid,
  type          message_type,
  content       text,
  metadata      jsonb,
  status        message_status,
  sent_at       timestamptz,
  delivered_at  timestamptz,
  read_at       timestamptz,
  edited_at     timestamptz,
  is_reported   boolean,
  is_hidden     boolean
);
COMMENT ON TYPE message_history_row IS 'A row of message_history(): one message of a conversation page.';
COMMENT ON COLUMN message_history_row.id IS 'The message (messages.id).';
COMMENT ON COLUMN message_history_row.sender_id IS 'Who sent it (messages.sender_id).';
COMMENT ON COLUMN message_history_row.type IS 'TEXT, IMAGE, FILE, LOCATION or SYSTEM (messages.type).';
COMMENT ON COLUMN message_history_row.content IS 'The text (messages.content).';
COMMENT ON COLUMN message_history_row.metadata IS 'Per-type details (messages.metadata).';
COMMENT ON COLUMN message_history_row.status IS 'SENT, DELIVERED or READ (messages.status).';
COMMENT ON COLUMN message_history_row.sent_at IS 'When it was sent; the keyset of the pages (messages.sent_at).';
COMMENT ON COLUMN message_history_row.delivered_at IS 'When it was delivered (messages.delivered_at).';
COMMENT ON COLUMN message_history_row.read_at IS 'When it was read (messages.read_at).';
COMMENT ON COLUMN message_history_row.edited_at IS 'When its sender last edited it (messages.edited_at).';
COMMENT ON COLUMN message_history_row.is_reported IS 'Reported by a participant (messages.is_reported).';
COMMENT ON COLUMN message_history_row.is_hidden IS 'Hidden by a moderator; only moderators get such rows (messages.is_hidden).';

DROP FUNCTION message_history(uuid, timestamptz, integer, uuid);
CREATE FUNCTION message_history(conversation_id uuid, before timestamptz DEFAULT NULL, page_size integer DEFAULT 50,
                                user_id uuid DEFAULT NULL)
  RETURNS SETOF message_history_row
  AS 'MODULE_PATHNAME', 'sg_messaging_history'
  LANGUAGE C STABLE SECURITY DEFINER ROWS 50
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION message_history(uuid, timestamptz, integer, uuid) IS
  'One page of a conversation''s history, newest first: at most page_size (1..200, default 50) messages sent before before (NULL: the newest); pass the sent_at of a page''s last row as before to get the next page (keyset on messages_conversation_sent_idx; sent_at is unique per conversation). Participants never get hidden messages, and one who left gets the history up to their leaving; an ADMIN or a trusted caller without user_id reads everything with is_hidden shown. 42501 non-participant, PT404 unknown conversation, 22023 bad page_size.';
SELECT api_expose('message_history(uuid,timestamptz,integer,uuid)'::regprocedure, 'authenticated');
-- ---------------------------------------------------------------------------
-- activities: release 0.3 (performance work of issue 8; see README.md, Bench)
-- ---------------------------------------------------------------------------

-- search_activities in C (src/activities/search.c): the same checks in the
-- same order with the same SQLSTATEs, the same eight queries, each prepared
-- once per backend as a generic plan and run straight into the result.
-- SECURITY DEFINER with the search_path pinned as before; the
-- plan_cache_mode setting is gone (the C code asks for generic plans).
CREATE OR REPLACE FUNCTION search_activities(city text DEFAULT NULL, category text DEFAULT NULL,
                                             lat double precision DEFAULT NULL, lng double precision DEFAULT NULL,
                                             radius_m integer DEFAULT NULL, sort text DEFAULT 'rating',
                                             max_results integer DEFAULT 20)
  RETURNS SETOF activity_search_result
  AS 'MODULE_PATHNAME', 'sg_search_activities'
  LANGUAGE C STABLE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION search_activities(text, text, double precision, double precision, integer, text, integer) IS
  'Published (ACTIVE) activities, optionally in a city, of a category (activity_categories(); 22023 otherwise) and within radius_m (1..1000000) metres of lat/lng (given together, in range; 22023 otherwise); sort rating (best rated first, then most reviewed, then id) or distance (nearest to lat/lng first, through the GiST index; 22004 without a point); distance_m is NULL without a point. At most max_results (1..100) rows with the cover photo''s URL. In C (search.c): one prepared generic plan per combination of filters.';

-- activity_price: the same rule in PL/pgSQL, whose plan is kept for the
-- session; as a SQL function with a pinned search_path (never inlined) its
-- body was read and planned again in every booking transaction
CREATE OR REPLACE FUNCTION activity_price(group_pricing jsonb, price_per_person integer, participants integer)
  RETURNS integer
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
BEGIN
  RETURN coalesce((SELECT (t ->> 'pricePerPerson')::int FROM jsonb_array_elements(group_pricing) t
                    WHERE participants BETWEEN (t ->> 'minParticipants')::int AND (t ->> 'maxParticipants')::int
                    LIMIT 1), price_per_person);
END
$$;
