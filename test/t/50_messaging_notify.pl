# Real time: a session LISTENing on a conversation's channel receives a small
# JSON payload for every committed message (never for a rolled-back one),
# edits and hides are announced without content, and receipts too.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SgTest;

my $node = sg_node('messaging_notify');

$node->safe_psql('postgres', q{
	INSERT INTO steppergo.users (email, phone, name, role) VALUES
	  ('n-org@messaging.test', '+79052000001', 'Aruzhan', 'PASSENGER'),
	  ('n-p1@messaging.test', '+79052000002', 'Bolat', 'PASSENGER');
	INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
	                             dest_name, dest_lat, dest_lng, total_seats, trip_type, price_per_seat, status)
	SELECT 'Notify trip', id, '2030-01-01 03:00+00', 'Almaty', 43.238, 76.889, 'Kolsai', 42.983, 78.333,
	       4, 'SHARED', 9000, 'PUBLISHED' FROM steppergo.users WHERE email = 'n-org@messaging.test';
	INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount)
	SELECT t.id, u.id, 'CONFIRMED', 1, 9000 FROM steppergo.trips t, steppergo.users u
	 WHERE t.title = 'Notify trip' AND u.email = 'n-p1@messaging.test';
});
my ($conv, $org, $p1) = split /\|/, $node->safe_psql('postgres', q{
	SELECT c.id, t.organizer_id, (SELECT id FROM steppergo.users WHERE email = 'n-p1@messaging.test')
	  FROM steppergo.conversations c JOIN steppergo.trips t ON t.id = c.trip_id WHERE t.title = 'Notify trip'});
my $channel = $node->safe_psql('postgres', "SELECT steppergo.conversation_channel('$conv')");
like($channel, qr/^steppergo_chat_[0-9a-f]{32}$/, 'channel is a plain identifier');

my $listener = $node->background_psql('postgres');
$listener->query_safe("LISTEN $channel");

# notifications seen by the listener since the last call, as [payload ...]
sub received
{
	my $out = $listener->query_safe('SELECT 1');
	my @p;
	while ($out =~ /Asynchronous notification "\Q$channel\E" with payload "(.*?)" received from server process/g)
	{
		push @p, $1;
	}
	return @p;
}

# a rolled-back message is never announced
$node->safe_psql('postgres', qq{
	BEGIN;
	SELECT steppergo.send_message('$conv', 'never mind', 'TEXT', '{}', '$p1');
	ROLLBACK;
});
is(scalar(received()), 0, 'no notification for a rolled-back message');

my $mid = $node->safe_psql('postgres',
	"SELECT steppergo.send_message('$conv', 'Secret pickup code 4711', 'TEXT', '{}', '$p1')");
my @got = received();
is(scalar(@got), 1, 'one notification for one message');
my $p = $got[0] // '';
like($p, qr/"event" : "message"/, 'event message');
like($p, qr/"message_id" : "$mid"/, 'payload names the message');
like($p, qr/"conversation_id" : "$conv"/, 'payload names the conversation');
like($p, qr/"sender_id" : "$p1"/, 'payload names the sender');
like($p, qr/"type" : "TEXT"/, 'payload names the type');
like($p, qr/"sent_at" : "\d{4}-\d\d-\d\dT/, 'payload has sent_at');
unlike($p, qr/4711|Secret/, 'payload carries no content');
cmp_ok(length($p), '<', 400, 'payload is small');

# the same payload shape, checked as JSON by the server
is($node->safe_psql('postgres', qq{
	SELECT string_agg(k, ',' ORDER BY k) FROM json_object_keys('$p'::json) k}),
	'conversation_id,event,message_id,sender_id,sent_at,type', 'exactly the documented keys');

# edit, hide and receipts
$node->safe_psql('postgres', "SELECT steppergo.edit_message('$mid', 'Pickup at the north gate', NULL, '$p1')");
$node->safe_psql('postgres', "SELECT steppergo.mark_read('$conv', NULL, '$org')");
$node->safe_psql('postgres', "SELECT steppergo.hide_message('$mid', 'leaked a code')");
@got = received();
is(scalar(@got), 3, 'edit, read and hide announced');
like($got[0] // '', qr/"event" : "edited"/, 'edited');
like($got[1] // '', qr/"event" : "read".*"user_id" : "$org"/, 'read receipt names the reader');
like($got[2] // '', qr/"event" : "hidden".*"message_id" : "$mid"/, 'hidden names the message');
unlike(join(' ', @got), qr/north gate|4711/, 'no content in any event');

# SYSTEM messages from other domains' writes reach the channel too
$node->safe_psql('postgres', qq{
	INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status)
	SELECT trip_id, 'PUBLISHED', 'IN_PROGRESS' FROM steppergo.conversations WHERE id = '$conv'});
@got = received();
is(scalar(@got), 1, 'a status change is announced');
like($got[0] // '', qr/"type" : "SYSTEM".*"sender_id" : null/, 'as a SYSTEM message without sender');

$listener->quit;
done_testing();
