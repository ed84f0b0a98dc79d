-- admin: audit chain, documents, uploads, analytics, outbox, housekeeping
\set VERBOSITY terse
SET client_min_messages = warning;

-- a plain API-like role (the security domain sets up the real ones), with
-- every privilege on admin_actions to show the trigger refuses it anyway
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'admin_test_api') THEN
    CREATE ROLE admin_test_api NOLOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA steppergo TO admin_test_api;
GRANT ALL ON steppergo.admin_actions TO admin_test_api;
-- (with row-level security on, such a role sees no rows: the refusal does not depend on rows)

-- runs a statement and reports ok or the SQLSTATE with the message
CREATE FUNCTION admin_t_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION admin_t_try(text) TO admin_test_api;

INSERT INTO steppergo.users (email, phone, name, role) VALUES
  ('boss@admin.test', '+79070000001', 'Admin Boss', 'ADMIN'),
  ('driver@admin.test', '+79070000002', 'Driver Dana', 'DRIVER'),
  ('pax@admin.test', '+79070000003', 'Passenger Pavel', 'PASSENGER'),
  ('mailonly@admin.test', NULL, 'Mail Only', 'PASSENGER');
INSERT INTO steppergo.drivers (user_id) SELECT id FROM steppergo.users WHERE email = 'driver@admin.test';
SELECT id AS admin_id FROM steppergo.users WHERE email = 'boss@admin.test' \gset
SELECT id AS drv_user FROM steppergo.users WHERE email = 'driver@admin.test' \gset
SELECT id AS pax_id FROM steppergo.users WHERE email = 'pax@admin.test' \gset
SELECT id AS mail_id FROM steppergo.users WHERE email = 'mailonly@admin.test' \gset
SELECT d.id AS drv_id FROM steppergo.drivers d WHERE d.user_id = :'drv_user' \gset
\set admin_claims '{"sub":"' :admin_id '","app_role":"ADMIN"}'
\set drv_claims '{"sub":"' :drv_user '","app_role":"DRIVER"}'
\set pax_claims '{"sub":"' :pax_id '","app_role":"PASSENGER"}'

-- =============================================================== audit chain
SELECT steppergo.log_admin_action('TEST_CHAIN', 'driver', :'drv_id', '{"n":1}', :'admin_id') AS a1 \gset
SELECT steppergo.log_admin_action('TEST_CHAIN', 'driver', :'drv_id', '{"n":2}', :'admin_id') AS a2 \gset
SELECT steppergo.log_admin_action('TEST_CHAIN', 'driver', :'drv_id', '{"n":3}', :'admin_id') AS a3 \gset
SELECT b.seq = a.seq + 1 AS consecutive, b.prev_hash = a.row_hash AS linked,
       length(b.row_hash) AS hash_bytes, b.row_hash = steppergo.admin_action_hash(b) AS hash_recomputes
  FROM steppergo.admin_actions a, steppergo.admin_actions b WHERE a.id = :'a1' AND b.id = :'a2';
SELECT valid, problem FROM steppergo.verify_audit_chain();
-- append-only, for a superuser ...
SELECT admin_t_try(format('UPDATE steppergo.admin_actions SET details = %L WHERE id = %L', '{}', :'a1'));
SELECT admin_t_try(format('DELETE FROM steppergo.admin_actions WHERE id = %L', :'a1'));
SELECT admin_t_try('TRUNCATE steppergo.admin_actions');
-- ... and for an API role holding every privilege on the table
BEGIN;
SET LOCAL ROLE admin_test_api;
SELECT admin_t_try(format('UPDATE steppergo.admin_actions SET details = %L WHERE id = %L', '{}', :'a1'));
SELECT admin_t_try(format('DELETE FROM steppergo.admin_actions WHERE id = %L', :'a1'));
SELECT admin_t_try('TRUNCATE steppergo.admin_actions');
ROLLBACK;
-- a superuser editing around the trigger is caught, naming the row
BEGIN;
ALTER TABLE steppergo.admin_actions DISABLE TRIGGER admin_actions_append_only;
UPDATE steppergo.admin_actions SET details = '{"n":99}' WHERE id = :'a1';
SELECT valid, broken_id = :'a1' AS names_edited_row, problem FROM steppergo.verify_audit_chain();
ROLLBACK;
-- deleting a row from the middle shows as a gap at the next row
BEGIN;
ALTER TABLE steppergo.admin_actions DISABLE TRIGGER admin_actions_append_only;
DELETE FROM steppergo.admin_actions WHERE id = :'a2';
SELECT valid, broken_id = :'a3' AS names_next_row, problem ~ '^row \d+ is missing' AS gap FROM steppergo.verify_audit_chain();
ROLLBACK;
-- verify is for admins
BEGIN;
SELECT set_config('request.jwt.claims', :'pax_claims', true) AS _ \gset
SELECT admin_t_try('SELECT steppergo.verify_audit_chain()');
SELECT set_config('request.jwt.claims', :'admin_claims', true) AS _ \gset
SELECT valid FROM steppergo.verify_audit_chain();
SELECT admin_t_try($$SELECT steppergo.verify_audit_chain('\x00')$$);
SELECT count(*) AS my_actions FROM steppergo.admin_action_log('driver', :'drv_id') WHERE action_type = 'TEST_CHAIN';
ROLLBACK;

-- ============================================================ documents
BEGIN;
SELECT set_config('request.jwt.claims', :'drv_claims', true) AS _ \gset
SELECT steppergo.upload_document('LICENSE', 'https://files.admin.test/l.pdf', now() + interval '2 years', 'KZ-1', :'drv_id') AS doc_lic \gset
SELECT steppergo.upload_document('INSURANCE', 'https://files.admin.test/i.pdf', now() + interval '1 year', NULL, :'drv_id') AS doc_ins \gset
SELECT steppergo.upload_document('REGISTRATION', 'https://files.admin.test/r.pdf', NULL, NULL, :'drv_id') AS doc_reg \gset
SELECT admin_t_try($$SELECT steppergo.upload_document('DIPLOMA', 'https://files.admin.test/d.pdf')$$);
SELECT admin_t_try($$SELECT steppergo.upload_document('OTHER', 'ftp://files.admin.test/d.pdf')$$);
SELECT admin_t_try($$SELECT steppergo.upload_document('OTHER', 'https://files.admin.test/d.pdf', now() - interval '1 day')$$);
SELECT admin_t_try(format($$SELECT steppergo.upload_document('OTHER', 'https://files.admin.test/d.pdf', NULL, NULL, NULL, %L)$$, :'pax_id'));
SELECT admin_t_try($$SELECT steppergo.upload_document(NULL, 'https://files.admin.test/d.pdf')$$);
-- a driver cannot verify documents
SELECT admin_t_try(format('SELECT steppergo.verify_document(%L)', :'doc_lic'));
SELECT document_type, status FROM steppergo.list_documents() ORDER BY document_type;
COMMIT;
-- anonymous
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) AS _ \gset
SELECT admin_t_try(format('SELECT steppergo.verify_document(%L)', :'doc_lic'));
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', :'admin_claims', true) AS _ \gset
SELECT steppergo.verify_document(:'doc_lic');
SELECT steppergo.verify_document(:'doc_ins', now() + interval '6 months');
SELECT admin_t_try(format('SELECT steppergo.verify_document(%L)', :'doc_lic'));
SELECT admin_t_try(format('SELECT steppergo.verify_document(%L, %L)', :'doc_reg', now() - interval '1 hour'));
SELECT admin_t_try('SELECT steppergo.verify_document(''00000000-0000-7000-8000-000000000000'')');
SELECT steppergo.driver_documents_complete(:'drv_id') AS complete_before_registration;
SELECT admin_t_try(format('SELECT steppergo.reject_document(%L, NULL)', :'doc_reg'));
SELECT admin_t_try(format('SELECT steppergo.reject_document(%L, %L)', :'doc_reg', '   '));
SELECT steppergo.reject_document(:'doc_reg', 'Photo is blurred');
SELECT admin_t_try(format('SELECT steppergo.reject_document(%L, %L)', :'doc_reg', 'again'));
COMMIT;
SELECT document_type, status, rejection_reason, verified_by = :'admin_id' AS by_admin
  FROM steppergo.document_verifications WHERE driver_id = :'drv_id' ORDER BY document_type;
SELECT a.action_type, a.admin_id = :'admin_id' AS by_admin, a.details -> 'after' ->> 'status' AS after
  FROM steppergo.admin_actions a
 WHERE a.target_type = 'document_verification' AND a.target_id IN (:'doc_lic', :'doc_ins', :'doc_reg')
 ORDER BY a.seq;
SELECT type, channel, recipient = '+79070000002' AS to_phone, fallback_channels, status
  FROM steppergo.notifications WHERE user_id = :'drv_user' AND type = 'DOCUMENT_REJECTED';
-- the driver uploads the registration again; verified, the set is complete
SELECT steppergo.upload_document('REGISTRATION', 'https://files.admin.test/r2.pdf', now() + interval '1 year', NULL, :'drv_id') AS doc_reg2 \gset
SELECT steppergo.verify_document(:'doc_reg2');
SELECT steppergo.driver_documents_complete(:'drv_id') AS complete;
-- the expiry job: a verified insurance that expired yesterday
INSERT INTO steppergo.document_verifications (user_id, driver_id, document_type, document_url, status, expiry_date, created_at)
VALUES (:'drv_user', :'drv_id', 'INSURANCE', 'https://files.admin.test/old.pdf', 'VERIFIED', now() - interval '1 day', now() - interval '1 year')
RETURNING id AS doc_old \gset
SELECT steppergo.expire_documents() >= 1 AS expired_some;
SELECT status, expired_at IS NOT NULL AS stamped FROM steppergo.document_verifications WHERE id = :'doc_old';
SELECT type, payload ->> 'document_type' AS doc, status FROM steppergo.notifications
 WHERE user_id = :'drv_user' AND type = 'DOCUMENT_EXPIRED';
SELECT steppergo.expire_documents() = 0 AS nothing_twice;
SELECT count(*) AS expire_job FROM steppergo.job_definitions WHERE name = 'steppergo_expire_documents';

-- ============================================================ file uploads
BEGIN;
SELECT set_config('request.jwt.claims', :'pax_claims', true) AS _ \gset
SELECT steppergo.register_file_upload('AVATAR', 'me.png', 'IMAGE/PNG', 120000, 'steppergo-admin-test', 'avatars/pax/me.png') AS f1 \gset
SELECT steppergo.register_file_upload('CHAT_FILE', 'notes.txt', 'text/plain', 2000, 'steppergo-admin-test', 'chat/pax/notes.txt',
                                      'https://steppergo-admin-test.s3.amazonaws.com/chat/pax/notes.txt') AS f2 \gset
SELECT admin_t_try($$SELECT steppergo.register_file_upload('AVATAR', 'big.png', 'image/png', 6000000, 'steppergo-admin-test', 'avatars/pax/big.png')$$);
SELECT admin_t_try($$SELECT steppergo.register_file_upload('AVATAR', 'doc.pdf', 'application/pdf', 100, 'steppergo-admin-test', 'avatars/pax/doc.pdf')$$);
SELECT admin_t_try($$SELECT steppergo.register_file_upload('MIXTAPE', 'a.mp3', 'audio/mpeg', 100, 'steppergo-admin-test', 'x/a.mp3')$$);
SELECT admin_t_try($$SELECT steppergo.register_file_upload('AVATAR', 'me.png', 'image/png', 100, 'steppergo-admin-test', 'avatars/pax/me.png')$$);
SELECT admin_t_try($$SELECT steppergo.register_file_upload('AVATAR', 'me.png', 'image/png', 100, 'Bad_Bucket', 'a/b.png')$$);
SELECT admin_t_try($$SELECT steppergo.register_file_upload('AVATAR', 'me.png', 'image/png', 100, 'steppergo-admin-test', '../etc/passwd')$$);
SELECT admin_t_try($$SELECT steppergo.register_file_upload('AVATAR', 'me.png', 'image/png', -1, 'steppergo-admin-test', 'a/c.png')$$);
SELECT admin_t_try(format($$SELECT steppergo.register_file_upload('AVATAR', 'x.png', 'image/png', 1, 'steppergo-admin-test', 'a/d.png', NULL, NULL, '{}', %L)$$, :'drv_user'));
SELECT purpose, mime_type, stored_name, size_bytes FROM steppergo.list_file_uploads() ORDER BY purpose;
SELECT steppergo.delete_file_upload(:'f1');
SELECT admin_t_try(format('SELECT steppergo.get_file_upload(%L)', :'f1'));
SELECT admin_t_try(format('SELECT steppergo.delete_file_upload(%L)', :'f1'));
SELECT purpose FROM steppergo.list_file_uploads();
SELECT (steppergo.get_file_upload(:'f2')).original_name;
COMMIT;
BEGIN;
SELECT set_config('request.jwt.claims', :'drv_claims', true) AS _ \gset
SELECT admin_t_try(format('SELECT steppergo.get_file_upload(%L)', :'f2'));
SELECT admin_t_try(format('SELECT steppergo.delete_file_upload(%L)', :'f2'));
SELECT admin_t_try(format('SELECT steppergo.list_file_uploads(%L)', :'pax_id'));
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', :'admin_claims', true) AS _ \gset
SELECT steppergo.delete_file_upload(:'f2');
SELECT action_type, details ->> 's3_key' AS key FROM steppergo.admin_actions WHERE target_type = 'file_upload' AND target_id = :'f2';
COMMIT;
-- the purge job keeps soft-deleted rows for the retention period
SELECT steppergo.purge_deleted_files() >= 0 AS ran;
SELECT count(*) AS still_there FROM steppergo.file_uploads WHERE id IN (:'f1', :'f2');
UPDATE steppergo.file_uploads SET deleted_at = now() - interval '31 days' WHERE id = :'f1';
SELECT steppergo.purge_deleted_files() >= 1 AS purged;
SELECT id = :'f2' AS only_recent_left FROM steppergo.file_uploads WHERE id IN (:'f1', :'f2');

-- ============================================================ analytics
SELECT relkind, relispartition FROM pg_class WHERE oid = 'steppergo.analytics_events'::regclass;
SELECT count(*) FILTER (WHERE action = 'created') >= 0 AS maintained FROM steppergo.maintain_analytics_partitions();
SELECT count(*) AS monthly_ahead FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'steppergo.analytics_events'::regclass
   AND c.relname >= 'analytics_events_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM');
SELECT count(*) AS second_run FROM steppergo.maintain_analytics_partitions() WHERE action = 'created';
SELECT steppergo.record_event('app_open', '{"screen":"home"}', 'admin-test-session');
BEGIN;
SELECT set_config('request.jwt.claims', :'pax_claims', true) AS _ \gset
SELECT set_config('request.headers', '{"user-agent":"AdminTest/1.0","x-forwarded-for":"198.51.100.7, 10.0.0.1"}', true) AS _ \gset
SELECT steppergo.record_event('trip_search', '{"from":"Almaty"}', 'admin-test-session');
SELECT admin_t_try(format($$SELECT steppergo.record_event('trip_search', '{}', 's', %L)$$, :'drv_user'));
COMMIT;
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) AS _ \gset
SELECT steppergo.record_event('app_open', NULL, 'admin-test-session');
SELECT admin_t_try($$SELECT steppergo.record_event('App Open')$$);
SELECT admin_t_try($$SELECT steppergo.record_event(NULL)$$);
SELECT admin_t_try($$SELECT steppergo.record_event('x', '[1]')$$);
SELECT admin_t_try(format($$SELECT steppergo.record_event('x', '{}', 's', %L)$$, :'pax_id'));
COMMIT;
SELECT e.event_name, e.user_id = :'pax_id' AS is_pax, e.ip_address, e.user_agent,
       e.tableoid::regclass::text ~ '^steppergo\.analytics_events_p\d{6}$' AS in_monthly_partition
  FROM steppergo.analytics_events e WHERE e.session_id = 'admin-test-session' ORDER BY e.id;
-- uuid_v7_floor: the 48 time bits of the millisecond, the rest zero
SELECT steppergo.uuid_v7_floor('2026-03-01 00:00:00.1234+00') AS floor_uuid,
       ('x' || substr(replace(steppergo.uuid_v7_floor('2026-03-01 00:00:00.1234+00')::text, '-', ''), 1, 12))::bit(48)::bigint
         = floor(extract(epoch FROM timestamptz '2026-03-01 00:00:00.1234+00') * 1000)::bigint AS time_bits,
       steppergo.uuid_v7_floor(now()) <= steppergo.uuid_generate_v7() AS below_now;
-- an event recorded with an id months ahead waits in the default partition
-- and moves into its month's partition when the job creates it
BEGIN;
INSERT INTO steppergo.analytics_events (id, event_name, session_id)
VALUES (steppergo.uuid_v7_floor(date_trunc('month', now()) + interval '5 months 3 days'), 'future_event', 'admin-test-future');
SELECT tableoid::regclass AS waits_in FROM steppergo.analytics_events WHERE session_id = 'admin-test-future';
SET LOCAL steppergo.analytics_partitions_ahead = 6;
SELECT count(*) AS created FROM steppergo.maintain_analytics_partitions() WHERE action = 'created';
SELECT tableoid::regclass::text = 'steppergo.analytics_events_p' || to_char(date_trunc('month', now()) + interval '5 months', 'YYYYMM') AS moved_to_its_month
  FROM steppergo.analytics_events WHERE session_id = 'admin-test-future';
ROLLBACK;
-- rows in the default partition move when their month's partition is created;
-- partitions past the retention are dropped
INSERT INTO steppergo.analytics_events (id, event_name, session_id)
VALUES (steppergo.uuid_v7_floor('2020-01-15 12:00+00'), 'old_event', 'admin-test-old');
SELECT tableoid::regclass AS lands_in FROM steppergo.analytics_events WHERE session_id = 'admin-test-old';
CREATE TABLE steppergo.analytics_events_p202001 (LIKE steppergo.analytics_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
WITH m AS (DELETE FROM steppergo.analytics_events_default WHERE session_id = 'admin-test-old' RETURNING *)
INSERT INTO steppergo.analytics_events_p202001 SELECT * FROM m;
SELECT format('ALTER TABLE steppergo.analytics_events ATTACH PARTITION steppergo.analytics_events_p202001 FOR VALUES FROM (%L) TO (%L)',
              steppergo.uuid_v7_floor('2020-01-01 00:00+00'), steppergo.uuid_v7_floor('2020-02-01 00:00+00')) \gexec
SELECT * FROM steppergo.maintain_analytics_partitions() WHERE action = 'dropped';
SELECT count(*) AS old_rows_left FROM steppergo.analytics_events WHERE session_id = 'admin-test-old';

-- rollups: one completed trip of a tenant and its confirmed booking
INSERT INTO steppergo.tenants (name, platform_rate) VALUES ('Admin Test Tours', 0.20) RETURNING id AS tenant_id \gset
INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng, dest_name, dest_lat, dest_lng,
                             total_seats, available_seats, base_price, status, tenant_id)
VALUES ('Admin test trip', :'pax_id', '2026-03-10 04:00+00', 'Almaty', 43.238, 76.889, 'Kolsai', 42.99, 78.32,
        4, 0, 10000, 'COMPLETED', :'tenant_id') RETURNING id AS trip_id \gset
INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount, created_at)
VALUES (:'trip_id', :'pax_id', 'CONFIRMED', 4, 10000.01, '2026-03-01 20:00+00');
SELECT steppergo.refresh_daily_metrics();
BEGIN;
SELECT set_config('request.jwt.claims', :'admin_claims', true) AS _ \gset
SELECT day, currency, trips, trips_completed, trips_cancelled, bookings, seats_booked, gmv, platform_revenue
  FROM steppergo.daily_metrics_report(NULL, NULL, :'tenant_id');
SELECT set_config('request.jwt.claims', :'pax_claims', true) AS _ \gset
SELECT admin_t_try('SELECT steppergo.daily_metrics_report()');
ROLLBACK;

-- ============================================================ outbox
BEGIN;
-- other suites' queued notifications stay out of this test (rolled back)
UPDATE steppergo.notifications SET status = 'CANCELLED' WHERE status = 'PENDING';
SELECT steppergo.enqueue_notification(:'pax_id', 'BOOKING_CONFIRMED', 'Your booking is confirmed') AS n_book \gset
SELECT steppergo.enqueue_notification(:'pax_id', 'TRIP_OFFER', 'New trip offer', NULL, '{"trip":"x"}', 'SMS', NULL, now() + interval '30 seconds') AS n_offer \gset
SELECT steppergo.enqueue_notification(:'mail_id', 'WELCOME', 'Welcome aboard') AS n_mail \gset
SELECT admin_t_try(format($$SELECT steppergo.enqueue_notification(%L, 'WELCOME', 'x', NULL, '{}', 'SMS', NULL, NULL, '{}')$$, :'mail_id'));
SELECT admin_t_try($$SELECT steppergo.enqueue_notification('00000000-0000-7000-8000-000000000000', 'WELCOME', 'x')$$);
SELECT admin_t_try(format($$SELECT steppergo.enqueue_notification(%L, 'welcome', 'x')$$, :'pax_id'));
-- a direct INSERT of a time-critical type is routed too
INSERT INTO steppergo.notifications (user_id, type, channel, recipient, body)
VALUES (:'drv_user', 'DRIVER_ARRIVED', 'SMS', '+79070000002', 'Your driver is here') RETURNING id AS n_arr \gset
SELECT id = :'n_book' AS book, id = :'n_offer' AS offer, id = :'n_arr' AS arrived, type, channel,
       recipient ~ '^(user:|\+7907|mailonly)' AS addressed, fallback_channels, priority, max_attempts
  FROM steppergo.notifications WHERE id IN (:'n_book', :'n_offer', :'n_mail', :'n_arr') ORDER BY type;
SELECT admin_t_try($$SELECT steppergo.claim_notifications('s', 0)$$);
SELECT admin_t_try($$SELECT steppergo.claim_notifications('', 5)$$);
-- PUSH sender: time-critical first
SELECT type, channel, attempts FROM steppergo.claim_notifications('push-1', 10, '{PUSH}') ORDER BY type;
SELECT count(*) AS nothing_left_for_push FROM steppergo.claim_notifications('push-2', 10, '{PUSH}');
SELECT admin_t_try(format($$SELECT steppergo.report_notification(%L, 'push-2', 'SENT')$$, :'n_offer'));
SELECT admin_t_try(format($$SELECT steppergo.report_notification(%L, 'push-1', 'BOUNCED')$$, :'n_offer'));
SELECT admin_t_try($$SELECT steppergo.report_notification('00000000-0000-7000-8000-000000000000', 'push-1', 'SENT')$$);
SELECT steppergo.report_notification(:'n_offer', 'push-1', 'SENT', NULL, 'fcm-1');
SELECT steppergo.report_notification(:'n_offer', 'whatever', 'DELIVERED');
SELECT admin_t_try(format($$SELECT steppergo.report_notification(%L, 'push-1', 'SENT')$$, :'n_offer'));
-- the arrival push fails (one attempt): falls back to SMS at once
SELECT steppergo.report_notification(:'n_arr', 'push-1', 'FAILED', 'no device registered');
SELECT channel, status, fallback_of = :'n_arr' AS falls_back, replace(recipient, :'drv_user', '<driver>') AS recipient FROM steppergo.notifications
 WHERE fallback_of = :'n_arr' OR id = :'n_arr' ORDER BY created_at, id;
-- SMS/WhatsApp sender: retries with exponential backoff
SELECT type, channel FROM steppergo.claim_notifications('sms-1', 10, '{WHATSAPP,SMS}') ORDER BY type;
SELECT steppergo.report_notification(:'n_book', 'sms-1', 'FAILED', 'gateway timeout');
SELECT status, attempts, next_attempt_at - now() AS backoff, last_error FROM steppergo.notifications WHERE id = :'n_book';
UPDATE steppergo.notifications SET next_attempt_at = now() WHERE id = :'n_book';
SELECT count(*) AS reclaimed FROM steppergo.claim_notifications('sms-1', 10, '{WHATSAPP}');
SELECT steppergo.report_notification(:'n_book', 'sms-1', 'FAILED', 'gateway timeout');
SELECT status, attempts, next_attempt_at - now() AS backoff FROM steppergo.notifications WHERE id = :'n_book';
-- attempts spent: FAILED, and the next channel gets it
SET LOCAL steppergo.notification_max_attempts = 2;
UPDATE steppergo.notifications SET next_attempt_at = now() WHERE id = :'n_book';
SELECT count(*) FROM steppergo.claim_notifications('sms-1', 10, '{WHATSAPP}');
SELECT steppergo.report_notification(:'n_book', 'sms-1', 'FAILED', 'not on whatsapp');
SELECT channel, status, attempts, fallback_channels FROM steppergo.notifications
 WHERE id = :'n_book' OR fallback_of = :'n_book' ORDER BY created_at, id;
-- the sweep: a silent sender's claim comes back, an expired offer is cancelled
SELECT id AS n_sms FROM steppergo.notifications WHERE fallback_of = :'n_book' \gset
SELECT count(*) FROM steppergo.claim_notifications('sms-dead', 10, '{SMS}') WHERE id = :'n_sms';
UPDATE steppergo.notifications SET claimed_at = now() - interval '1 hour' WHERE id = :'n_sms';
INSERT INTO steppergo.notifications (user_id, type, channel, recipient, body, expires_at)
VALUES (:'pax_id', 'PROMO', 'SMS', '+79070000003', 'Too late', now() - interval '1 second') RETURNING id AS n_late \gset
SELECT steppergo.sweep_notifications() >= 1 AS swept;
SELECT id = :'n_sms' AS sms, status, attempts, last_error FROM steppergo.notifications WHERE id IN (:'n_sms', :'n_late') ORDER BY 1 DESC;
ROLLBACK;

-- driver credentials: WHATSAPP, then SMS, then EMAIL, each attempt recorded
BEGIN;
UPDATE steppergo.notifications SET status = 'CANCELLED' WHERE status = 'PENDING';
SELECT set_config('request.jwt.claims', :'pax_claims', true) AS _ \gset
SELECT admin_t_try(format($$SELECT steppergo.deliver_driver_credentials(%L, 'login: x')$$, :'drv_id'));
SELECT set_config('request.jwt.claims', :'admin_claims', true) AS _ \gset
SELECT steppergo.deliver_driver_credentials(:'drv_id', 'Login +79070000002, temporary password K7q-29x') AS n_cred \gset
SELECT admin_t_try($$SELECT steppergo.deliver_driver_credentials('00000000-0000-7000-8000-000000000000', 'x')$$);
SELECT set_config('request.jwt.claims', '', true) AS _ \gset
SET LOCAL steppergo.notification_max_attempts = 1;
SELECT channel FROM steppergo.claim_notifications('wa-1', 10, '{WHATSAPP}');
SELECT steppergo.report_notification(:'n_cred', 'wa-1', 'FAILED', 'recipient not on WhatsApp');
SELECT id AS n_cred2 FROM steppergo.notifications WHERE fallback_of = :'n_cred' \gset
SELECT channel FROM steppergo.claim_notifications('sms-1', 10, '{SMS}');
SELECT steppergo.report_notification(:'n_cred2', 'sms-1', 'SENT');
SELECT steppergo.report_notification(:'n_cred2', 'receipts', 'DELIVERED');
SELECT channel, status, body FROM steppergo.notifications WHERE id IN (:'n_cred', :'n_cred2') ORDER BY created_at, id;
SELECT channel, status, error_message, delivered_at IS NOT NULL AS delivered
  FROM steppergo.driver_credential_deliveries WHERE driver_id = :'drv_id' ORDER BY created_at, id;
SELECT action_type FROM steppergo.admin_actions WHERE target_type = 'driver' AND target_id = :'drv_id' AND action_type LIKE 'DRIVER_CRED%';
ROLLBACK;

-- ============================================================ webhooks
INSERT INTO steppergo.webhook_logs (source, event_type, event_id, payload, processed, processed_at, created_at) VALUES
  ('stripe', 'charge.refunded', 'evt_admin_test_old', '{}', true, now() - interval '100 days', now() - interval '100 days'),
  ('stripe', 'charge.refunded', 'evt_admin_test_new', '{}', true, now() - interval '1 day', now() - interval '1 day');
INSERT INTO steppergo.webhook_logs (source, event_type, event_id, payload, processing_error, attempts, created_at) VALUES
  ('stripe', 'payment_intent.succeeded', 'evt_admin_test_failed', '{}', 'booking not found', 3, now() - interval '200 days'),
  ('stripe', 'payment_intent.created', 'evt_admin_test_waiting', '{}', NULL, 0, now());
SELECT event_id, state, attempts FROM steppergo.webhook_log_problems WHERE event_id LIKE 'evt_admin_test%' ORDER BY event_id;
SELECT steppergo.purge_webhook_logs() >= 1 AS purged;
SELECT event_id FROM steppergo.webhook_logs WHERE event_id LIKE 'evt_admin_test%' ORDER BY event_id;

-- ============================================================ settings
SELECT name, setting, context FROM pg_settings
 WHERE name IN ('steppergo.file_retention_days', 'steppergo.analytics_retention_months', 'steppergo.analytics_partitions_ahead',
                'steppergo.webhook_retention_days', 'steppergo.notification_max_attempts',
                'steppergo.notification_backoff_base_seconds', 'steppergo.notification_backoff_max_seconds',
                'steppergo.notification_claim_timeout_seconds', 'steppergo.notification_push_first_types')
 ORDER BY name;
SELECT name, schedule FROM steppergo.job_definitions
 WHERE name IN ('steppergo_notification_sweep', 'steppergo_expire_documents', 'steppergo_purge_deleted_files',
                'steppergo_analytics_partitions', 'steppergo_refresh_daily_metrics', 'steppergo_purge_webhook_logs')
 ORDER BY name;
SELECT split_part(signature, '(', 1) AS function, audience FROM steppergo.api_functions
 WHERE signature ~ '^(record_event|claim_notifications|report_notification|verify_audit_chain|upload_document|verify_document|reject_document)\('
 ORDER BY signature;
-- the chain is still whole after all of the above
SELECT valid FROM steppergo.verify_audit_chain();
DROP FUNCTION admin_t_try(text);
