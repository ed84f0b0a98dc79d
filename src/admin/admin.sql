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
