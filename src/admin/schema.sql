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
