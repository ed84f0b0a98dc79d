# Activities under real concurrency: several clients book the same few slots
# while others confirm payments (as the Stripe webhook does: plain UPDATEs),
# cancel, complete and review.  Afterwards no slot holds more places than it
# has, and every aggregate kept by the triggers equals a recount.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

my $node = sg_node('activities_concurrency');

$node->safe_psql('postgres', q{
	SET search_path = steppergo, public;
	INSERT INTO users (email, phone, name, role)
	SELECT 'tap' || g || '@activities.test', '+7906200' || lpad(g::text, 4, '0'), 'Tap ' || g,
	       CASE WHEN g <= 2 THEN 'ACTIVITY_OWNER' ELSE 'PASSENGER' END::user_role
	  FROM generate_series(1, 40) g;
	INSERT INTO activity_owners (user_id, business_name, verification_status)
	SELECT id, 'Tap Tours ' || email, 'VERIFIED' FROM users WHERE email IN ('tap1@activities.test', 'tap2@activities.test');
	INSERT INTO activities (owner_id, title, category, price_per_person, max_participants, status, published_at,
	                        group_pricing, cancellation_policy)
	SELECT o.id, 'Tap activity ' || k || ' ' || o.business_name, 'TOUR', 3000 + k * 1000, 12, 'ACTIVE', now(),
	       '[{"minParticipants":3,"maxParticipants":4,"pricePerPerson":2500}]',
	       '{"tiers":[{"hoursBefore":48,"refundPercent":100},{"hoursBefore":24,"refundPercent":50}]}'
	  FROM activity_owners o, generate_series(1, 2) k;
	INSERT INTO activity_schedules (activity_id, day_of_week, start_time, end_time)
	SELECT a.id, d, '10:00', '12:00' FROM activities a, unnest(weekdays()) d;

	CREATE TABLE tap_act AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM activities;
	CREATE TABLE tap_pax AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM users WHERE role = 'PASSENGER';

	CREATE FUNCTION tap_book(a int, u int, d int, n int) RETURNS boolean LANGUAGE plpgsql SET search_path = steppergo, public AS $$
	BEGIN
	  PERFORM book_activity((SELECT id FROM tap_act WHERE tap_act.n = a), (SELECT id FROM tap_pax WHERE tap_pax.n = u),
	                        (now() AT TIME ZONE 'Asia/Almaty')::date + d, '10:00', tap_book.n);
	  RETURN true;
	EXCEPTION WHEN SQLSTATE 'PT409' THEN RETURN false;
	END $$;
	CREATE FUNCTION tap_pay() RETURNS void LANGUAGE sql SET search_path = steppergo, public AS $$
	  UPDATE activity_bookings SET payment_id = 'pi_tap_' || id, payment_status = 'SUCCEEDED', status = 'CONFIRMED'
	   WHERE id = (SELECT id FROM activity_bookings WHERE status = 'PENDING' ORDER BY random() LIMIT 1
	               FOR UPDATE SKIP LOCKED) $$;
	CREATE FUNCTION tap_cancel() RETURNS void LANGUAGE plpgsql SET search_path = steppergo, public AS $$
	DECLARE b uuid;
	BEGIN
	  SELECT id INTO b FROM activity_bookings WHERE status IN ('PENDING', 'CONFIRMED') ORDER BY random() LIMIT 1;
	  IF b IS NOT NULL THEN
	    PERFORM cancel_activity_booking(b, 'tap');
	  END IF;
	EXCEPTION WHEN SQLSTATE 'PT409' THEN NULL;   -- cancelled meanwhile
	END $$;
	CREATE FUNCTION tap_complete_review() RETURNS void LANGUAGE plpgsql SET search_path = steppergo, public AS $$
	DECLARE b uuid;
	BEGIN
	  UPDATE activity_bookings SET status = 'COMPLETED'
	   WHERE id = (SELECT id FROM activity_bookings WHERE status = 'CONFIRMED' ORDER BY random() LIMIT 1
	               FOR UPDATE SKIP LOCKED)
	  RETURNING id INTO b;
	  IF b IS NOT NULL THEN
	    PERFORM review_activity(b, 1 + (random() * 4)::int);
	  END IF;
	END $$;
});

my $dir = PostgreSQL::Test::Utils::tempdir;
my %scripts = (
	'book.sql' => "\\set a random(1, 4)\n\\set u random(1, 38)\n\\set d random(3, 5)\n\\set n random(1, 4)\n"
	  . "SELECT steppergo.tap_book(:a, :u, :d, :n);\n",
	'pay.sql' => "SELECT steppergo.tap_pay();\n",
	'cancel.sql' => "SELECT steppergo.tap_cancel();\n",
	'review.sql' => "SELECT steppergo.tap_complete_review();\n");
while (my ($f, $body) = each %scripts)
{
	open my $fh, '>', "$dir/$f" or die;
	print $fh $body;
	close $fh;
}

my ($out, $err);
my $ok = IPC::Run::run([ 'pgbench', '-n', '-c', '6', '-j', '2', '-T', '6',
	'-f', "$dir/book.sql\@6", '-f', "$dir/pay.sql\@4", '-f', "$dir/cancel.sql\@1",
	'-f', "$dir/review.sql\@1", '-d', $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
ok($ok, 'pgbench ran without errors') or diag($err);
my ($tx) = $out =~ /number of transactions actually processed: (\d+)/;
ok(defined $tx && $tx > 100, 'enough work was done (' . ($tx // 0) . ' transactions)');

my $counts = $node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE status = 'CONFIRMED') > 0, count(*) FILTER (WHERE status = 'CANCELLED') > 0,
	       (SELECT count(*) FROM steppergo.activity_reviews) > 0
	  FROM steppergo.activity_bookings});
is($counts, 't|t|t', 'bookings were confirmed, cancelled and reviewed');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (
	  SELECT 1 FROM steppergo.activity_bookings b JOIN steppergo.activities a ON a.id = b.activity_id
	   WHERE b.status IN ('PENDING', 'CONFIRMED')
	   GROUP BY b.activity_id, b.scheduled_date, b.scheduled_time, a.max_participants
	  HAVING sum(b.participants) > a.max_participants) x}), '0', 'no slot is oversold');

is($node->safe_psql('postgres', q{
	SELECT max(held) >= 9 FROM (
	  SELECT sum(b.participants) AS held
	    FROM steppergo.activity_bookings b WHERE b.status IN ('PENDING', 'CONFIRMED')
	   GROUP BY b.activity_id, b.scheduled_date) x}), 't', 'slots were filled up to their capacity');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.activities a
	 WHERE (a.total_bookings, a.total_revenue, a.review_count, a.average_rating) IS DISTINCT FROM (
	   (SELECT count(*) FILTER (WHERE b.status IN ('CONFIRMED', 'COMPLETED')) FROM steppergo.activity_bookings b WHERE b.activity_id = a.id),
	   (SELECT coalesce(sum(b.total_amount - b.refund_amount) FILTER (WHERE b.payment_status IN ('SUCCEEDED', 'REFUNDED')), 0)
	      FROM steppergo.activity_bookings b WHERE b.activity_id = a.id),
	   (SELECT count(*) FROM steppergo.activity_reviews r WHERE r.activity_id = a.id),
	   (SELECT coalesce(round(avg(r.rating), 2), 0) FROM steppergo.activity_reviews r WHERE r.activity_id = a.id))}),
	'0', 'activity aggregates equal a recount');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.activity_owners o
	 WHERE (o.total_activities, o.total_bookings, o.total_revenue, o.average_rating) IS DISTINCT FROM (
	   (SELECT count(*) FROM steppergo.activities a WHERE a.owner_id = o.id),
	   (SELECT count(*) FROM steppergo.activity_bookings b JOIN steppergo.activities a ON a.id = b.activity_id
	     WHERE a.owner_id = o.id AND b.status IN ('CONFIRMED', 'COMPLETED')),
	   (SELECT coalesce(sum(b.total_amount - b.refund_amount), 0) FROM steppergo.activity_bookings b
	      JOIN steppergo.activities a ON a.id = b.activity_id
	     WHERE a.owner_id = o.id AND b.payment_status IN ('SUCCEEDED', 'REFUNDED')),
	   (SELECT coalesce(round(avg(r.rating), 2), 0) FROM steppergo.activity_reviews r
	      JOIN steppergo.activities a ON a.id = r.activity_id WHERE a.owner_id = o.id))}),
	'0', 'owner aggregates equal a recount');

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM steppergo.activity_bookings
	 WHERE refund_amount > total_amount OR (status = 'CANCELLED' AND payment_status <> 'SUCCEEDED' AND refund_amount > 0)}),
	'0', 'no refund exceeds what was paid');

is($node->safe_psql('postgres', q{
	SELECT string_agg(name, ',' ORDER BY name) FROM steppergo.job_definitions WHERE name LIKE 'steppergo_activity%'}),
	'steppergo_activity_complete,steppergo_activity_expire_holds', 'the jobs are registered');

$node->stop;
done_testing();
