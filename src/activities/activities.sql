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
