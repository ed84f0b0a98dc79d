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
  rejection_reason     text CHECK (length(rejection_reason) <= 1000)
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
COMMENT ON COLUMN activity_owners.rejection_reason IS 'Why verification was refused.';
CREATE TRIGGER activity_owners_touch BEFORE UPDATE ON activity_owners
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
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
  CONSTRAINT activities_participants CHECK (max_participants >= min_participants),
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
CREATE INDEX activities_status_published_idx ON activities (status, published_at);
CREATE INDEX activities_city_category_idx ON activities (city, category);
CREATE INDEX activities_owner_idx ON activities (owner_id);
CREATE INDEX activities_geog_idx ON activities USING gist (geog);
CREATE TRIGGER activities_touch BEFORE UPDATE ON activities
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
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
COMMENT ON COLUMN activity_photos.is_cover IS 'True for the activity''s cover photo; at most one per activity.';
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
