# Trips under concurrent load: bookers, cancellers, the expiry job and Stripe
# webhooks hammer a few scarce trips at once (pgbench, several clients);
# afterwards the seat invariant holds on every trip, nobody holds two live
# bookings on a trip, no payment succeeded for a booking without a seat
# unless it is marked for refund, and every webhook was applied once.
# No transaction fails (no deadlock: every writer locks trip, booking,
# payment in that order). Then: boarding codes refuse to work without
# steppergo.otp_key.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

my $node = sg_node('trips_stress');

$node->safe_psql('postgres', q{
	INSERT INTO steppergo.users (email, phone, name)
	SELECT 'tap.pax' || g || '@trips.test', '+7903' || lpad((5000000 + g)::text, 7, '0'), 'Tap Passenger ' || g
	  FROM generate_series(0, 19) g;
	CREATE TABLE tap_users AS
	SELECT row_number() OVER (ORDER BY email)::int - 1 AS n, id FROM steppergo.users WHERE email LIKE 'tap.pax%';
	-- three scarce trips: a shared one of 5 seats, one of 3, a private one
	CREATE TABLE tap_trips (n int, id uuid);
	INSERT INTO tap_trips
	SELECT 0, steppergo.create_trip('Tap shared 5', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '2 days', 5, 'SHARED',
	                      price_per_seat => 1000, organizer_id => (SELECT id FROM tap_users WHERE n = 0), publish => true)
	UNION ALL
	SELECT 1, steppergo.create_trip('Tap shared 3', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '2 days', 3, 'SHARED',
	                      price_per_seat => 1000, organizer_id => (SELECT id FROM tap_users WHERE n = 0), publish => true)
	UNION ALL
	SELECT 2, steppergo.create_trip('Tap private', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '2 days', 4, 'PRIVATE',
	                      base_price => 8000, organizer_id => (SELECT id FROM tap_users WHERE n = 0), publish => true);

	-- the clients' operations; refusals (PT409) are expected and counted
	CREATE TABLE tap_outcomes (op text, outcome text);
	CREATE FUNCTION tap_book(u int, t int, s int) RETURNS void LANGUAGE plpgsql AS $$
	BEGIN
	  PERFORM steppergo.book_seats((SELECT id FROM tap_trips WHERE n = t), (SELECT id FROM tap_users WHERE n = u), s,
	                               (SELECT jsonb_agg(jsonb_build_object('name', 'P' || g)) FROM generate_series(1, s) g),
	                               CASE WHEN u % 3 = 0 THEN 'CASH_TO_DRIVER' ELSE 'ONLINE' END::steppergo.payment_method_type);
	  INSERT INTO tap_outcomes VALUES ('book', 'ok');
	EXCEPTION WHEN SQLSTATE 'PT409' THEN
	  INSERT INTO tap_outcomes VALUES ('book', 'PT409');
	END $$;
	CREATE FUNCTION tap_cancel(t int) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE b uuid;
	BEGIN
	  SELECT id INTO b FROM steppergo.bookings WHERE trip_id = (SELECT id FROM tap_trips WHERE n = t)
	     AND status IN ('PENDING', 'CONFIRMED') ORDER BY random() LIMIT 1;
	  IF b IS NOT NULL THEN
	    PERFORM steppergo.cancel_booking(b, 'tap');
	    INSERT INTO tap_outcomes VALUES ('cancel', 'ok');
	  END IF;
	EXCEPTION WHEN SQLSTATE 'PT409' THEN
	  INSERT INTO tap_outcomes VALUES ('cancel', 'PT409');
	END $$;
	-- (a booking falls due in its own transaction, as time passing would do)
	CREATE FUNCTION tap_make_due(t int) RETURNS void LANGUAGE sql AS $$
	  UPDATE steppergo.bookings SET expires_at = now() - interval '1 second'
	   WHERE id = (SELECT id FROM steppergo.bookings WHERE trip_id = (SELECT id FROM tap_trips WHERE n = t)
	                  AND status = 'PENDING' ORDER BY random() LIMIT 1);
	$$;
	CREATE FUNCTION tap_expire() RETURNS void LANGUAGE sql AS $$
	  INSERT INTO tap_outcomes VALUES ('expire', steppergo.expire_unpaid_bookings()::text);
	$$;
	CREATE FUNCTION tap_pay(t int, twice boolean) RETURNS void LANGUAGE plpgsql AS $$
	DECLARE b steppergo.bookings%ROWTYPE; intent text; evt text;
	BEGIN
	  SELECT * INTO b FROM steppergo.bookings WHERE trip_id = (SELECT id FROM tap_trips WHERE n = t)
	     AND status = 'PENDING' ORDER BY random() LIMIT 1;
	  IF NOT FOUND THEN RETURN; END IF;
	  intent := 'pi_tap_' || replace(b.id::text, '-', '');
	  BEGIN
	    PERFORM steppergo.attach_payment_intent(b.id, intent, intent || '_secret', b.total_amount, b.currency);
	  EXCEPTION WHEN SQLSTATE 'PT409' THEN
	    INSERT INTO tap_outcomes VALUES ('attach', 'PT409');   -- expired or cancelled meanwhile
	  END;
	  evt := 'evt_tap_' || replace(b.id::text, '-', '');
	  INSERT INTO tap_outcomes VALUES ('webhook', steppergo.record_webhook('stripe', evt, 'payment_intent.succeeded',
	    jsonb_build_object('data', jsonb_build_object('object', jsonb_build_object(
	      'id', intent, 'amount', (b.total_amount * 100)::bigint, 'currency', 'kzt'))))::text);
	END $$;
});

my $trip_pick = '\set t random(0, 2)' . "\n";
$node->pgbench(
	'--no-vacuum --client=6 --jobs=2 --time=6',
	0,
	[qr{processed: [1-9]}, qr{number of failed transactions: 0 \(0\.000%\)}],
	[qr{^$}],
	'concurrent bookings, cancellations, expiries and payments',
	{
		'001_book@6' => $trip_pick . "\\set u random(0, 19)\n\\set s random(1, 2)\nSELECT tap_book(:u, :t, :s);\n",
		'002_cancel@3' => $trip_pick . "SELECT tap_cancel(:t);\n",
		'003_expire@1' => $trip_pick . "SELECT tap_make_due(:t);\nSELECT tap_expire();\n",
		'004_pay@3' => $trip_pick . "SELECT tap_pay(:t, false);\n",
	});

my $outcomes = $node->safe_psql('postgres', q{
	SELECT string_agg(op || ' ' || outcome || ' ' || n, ', ' ORDER BY op, outcome)
	  FROM (SELECT op, CASE WHEN op = 'expire' THEN 'ran' ELSE outcome END AS outcome, count(*) AS n
	          FROM tap_outcomes GROUP BY 1, 2) s});
note("outcomes: $outcomes");
like($outcomes, qr/book ok \d+/, 'some bookings succeeded');
like($outcomes, qr/book PT409 \d+/, 'some bookings were refused (the trips are scarce)');
like($outcomes, qr/cancel ok \d+/, 'some bookings were cancelled');
like($outcomes, qr/webhook true \d+/, 'some payments were recorded');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.trips t
	 WHERE t.title LIKE 'Tap %'
	   AND (t.available_seats < 0
	        OR t.available_seats <> t.total_seats - (SELECT coalesce(sum(b.seats_booked), 0) FROM steppergo.bookings b
	                                                  WHERE b.trip_id = t.id AND b.status IN ('PENDING', 'CONFIRMED', 'COMPLETED'))
	        OR (t.status = 'FULL') <> (t.available_seats = 0))}),
	'0', 'seat invariant holds on every trip; FULL exactly when no seat is left');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT trip_id, user_id FROM steppergo.bookings WHERE status IN ('PENDING', 'CONFIRMED')
	                       GROUP BY 1, 2 HAVING count(*) > 1) d}),
	'0', 'nobody holds two live bookings on one trip');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.trips t
	 WHERE t.trip_type = 'PRIVATE' AND t.title LIKE 'Tap %'
	   AND (SELECT count(*) FROM steppergo.bookings b WHERE b.trip_id = t.id AND b.status IN ('PENDING', 'CONFIRMED')) > 1}),
	'0', 'a private trip has at most one live booking');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.payments p JOIN steppergo.bookings b ON b.id = p.booking_id
	 WHERE p.status = 'SUCCEEDED' AND b.status NOT IN ('CONFIRMED', 'COMPLETED') AND p.refund_requested_at IS NULL}),
	'0', 'no payment succeeded for a booking without a seat unless marked for refund');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.payments p JOIN steppergo.bookings b ON b.id = p.booking_id
	 WHERE b.status = 'PENDING' AND p.status = 'SUCCEEDED'}),
	'0', 'no paid booking left PENDING');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.webhook_logs l
	 WHERE l.event_id LIKE 'evt_tap_%'
	   AND NOT CASE WHEN EXISTS (SELECT 1 FROM steppergo.payments p WHERE p.stripe_intent_id = l.payload #>> '{data,object,id}')
	                THEN l.processed AND l.attempts = 1
	                ELSE NOT l.processed AND l.processing_error LIKE 'PT404:%' END}),
	'0', 'every webhook of an attached intent was applied once; the others wait unprocessed');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.trip_status_history h
	  JOIN tap_trips t ON t.id = h.trip_id
	 WHERE h.to_status = 'FULL'}),
	$node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.trip_status_history h
	  JOIN tap_trips t ON t.id = h.trip_id
	 WHERE h.from_status = 'FULL'})
	  + $node->safe_psql('postgres', q{SELECT count(*) FROM steppergo.trips t JOIN tap_trips x ON x.id = t.id WHERE t.status = 'FULL'}),
	'every move into FULL is recorded and matched by a move out, or the trip is FULL now');

# Boarding codes need the key: without it nothing is issued or checked.
my $booking = $node->safe_psql('postgres', q{
	SELECT b.id FROM steppergo.bookings b JOIN tap_trips t ON t.id = b.trip_id
	 WHERE b.status = 'CONFIRMED' ORDER BY b.id LIMIT 1});
isnt($booking, '', 'a confirmed booking to board');
my $code = $node->safe_psql('postgres', "SELECT steppergo.issue_boarding_code('$booking')");
like($code, qr/^[0-9]{4}$/, 'with the key a code is issued');
$node->append_conf('postgresql.conf', "steppergo.otp_key = ''");
$node->reload;
my ($rc, $out, $err) = $node->psql('postgres', "SELECT steppergo.issue_boarding_code('$booking')");
isnt($rc, 0, 'without the key no code is issued');
like($err, qr/steppergo\.otp_key is not set/, 'and the error names the missing setting');
is($node->safe_psql('postgres', "SELECT boarding_code_issued_at IS NOT NULL FROM steppergo.bookings WHERE id = '$booking'"),
	't', 'the earlier code is untouched by the failed attempt');

$node->stop;
done_testing();
