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
