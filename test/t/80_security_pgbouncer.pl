# Behind pgbouncer in transaction pooling mode everything still works: a
# register -> login -> book a seat -> read my bookings flow, each request as
# PostgREST runs it (a transaction with SET LOCAL ROLE and the claims in a
# transaction-local setting), through one pooled server connection, and no
# state of one request is seen by the next.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use MIME::Base64 qw(decode_base64);
use SgTest;

my $pgbouncer = '/usr/sbin/pgbouncer';
plan skip_all => 'pgbouncer is not installed' unless -x $pgbouncer;

my $node = sg_node('pgbouncer');
$node->safe_psql('postgres', q{
	SELECT steppergo.setup_api_roles();
	INSERT INTO steppergo.users (id, email, phone, name, role)
	VALUES ('10000000-0000-7000-8000-0000000000b1', 'organizer@security.test', '+79081000001', 'Organizer', 'PASSENGER');
	INSERT INTO steppergo.trips (id, title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
	                             dest_name, dest_lat, dest_lng, total_seats, trip_type, price_per_seat, status)
	VALUES ('40000000-0000-7000-8000-0000000000b1', 'Almaty -> Medeu', '10000000-0000-7000-8000-0000000000b1',
	        now() + interval '1 day', 'Dostyk Plaza', 43.233, 76.956, 'Medeu', 43.1575, 77.059, 4, 'SHARED', 3000, 'PUBLISHED');
});

# pgbouncer in front of the node, one server connection for everyone
my $dir = PostgreSQL::Test::Utils::tempdir;
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $host = $node->host;
my $pgport = $node->port;
open(my $auth, '>', "$dir/users.txt") or die;
print $auth qq{"authenticator" ""\n"postgres" ""\n};
close $auth;
open(my $ini, '>', "$dir/pgbouncer.ini") or die;
print $ini <<"INI";
[databases]
steppergo = host=$host port=$pgport dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = 1
max_client_conn = 20
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
close $ini;
my $bouncer = IPC::Run::start([ $pgbouncer, "$dir/pgbouncer.ini" ], '>', "$dir/out.log", '2>&1');
# wait until it accepts connections
my $up = 0;
for (1 .. 50)
{
	my ($rc) = run_through('SELECT 1');
	if ($rc == 0) { $up = 1; last; }
	select(undef, undef, undef, 0.1);
}
ok($up, 'pgbouncer accepts connections');

sub run_through
{
	my ($sql) = @_;
	my ($out, $err);
	# the script goes in on standard input, so that psql's meta-commands work
	my $rc = IPC::Run::run([ 'psql', '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1',
		'-h', '127.0.0.1', '-p', $port, '-U', 'authenticator', '-d', 'steppergo' ],
		'<', \$sql, '>', \$out, '2>', \$err) ? 0 : 1;
	chomp $out if defined $out;
	return ($rc, $out, $err);
}

# one PostgREST request: role and claims local to one transaction
sub request
{
	my ($role, $claims, $sql) = @_;
	$claims =~ s/'/''/g;
	return run_through("BEGIN;\nSET LOCAL ROLE $role;\n"
		  . "SELECT set_config('request.jwt.claims', '$claims', true) \\g /dev/null\n"
		  . "SELECT steppergo.pre_request() \\g /dev/null\n"
		  . "$sql;\nCOMMIT;\n");
}

my ($rc, $out, $err) = request('anon', '{"role": "anon"}',
	q{SELECT steppergo.register_user('pooled@security.test', '+79081000002', 'Pooled Passenger', 'correct horse battery')});
is($rc, 0, 'register_user through pgbouncer') or diag($err);
my $user_id = $out;

($rc, $out, $err) = request('anon', '{"role": "anon"}',
	q{SELECT steppergo.login('pooled@security.test', 'correct horse battery')});
is($rc, 0, 'login through pgbouncer') or diag($err);
my ($token) = $out =~ /"access_token": "([^"]+)"/;
ok(defined $token, 'login returns an access token');
my (undef, $payload) = split /\./, $token;
$payload =~ tr{-_}{+/};
$payload .= '=' x ((4 - length($payload) % 4) % 4);
my $claims = decode_base64($payload);
like($claims, qr/"sub"\s*:\s*"$user_id"/, 'the token speaks for the registered user');

($rc, $out, $err) = request('authenticated', $claims,
	qq{SELECT steppergo.book_seats('40000000-0000-7000-8000-0000000000b1', '$user_id', 1,
	                               '[{"name": "Pooled Passenger"}]', 'CASH_TO_DRIVER') IS NOT NULL});
is($rc, 0, 'book_seats through pgbouncer') or diag($err);
is($out, 't', 'a booking was made');

($rc, $out, $err) = request('authenticated', $claims,
	q{SELECT count(*) || ' ' || min(seats_booked) FROM steppergo.bookings});
is($out, '1 1', 'the passenger reads exactly their booking through RLS');

# the next request on the same (only) server connection sees nothing of the last
($rc, $out, $err) = run_through(q{SELECT current_user || ' ' || coalesce(nullif(current_setting('request.jwt.claims', true), ''), 'none')});
is($out, 'authenticator none', 'no role or claims leak into the next transaction');
($rc, $out, $err) = request('anon', '{"role": "anon"}', q{SELECT count(*) FROM steppergo.trips});
is($out, '1', 'anonymous reads the published trip');
($rc, $out, $err) = request('anon', '{"role": "anon"}', q{SELECT count(*) FROM steppergo.bookings});
isnt($rc, 0, 'anonymous cannot read bookings');
like($err, qr/permission denied/, '... refused by the grants');

# a logged-out session's token is refused by pre_request at once
$node->safe_psql('postgres', qq{UPDATE steppergo.sessions SET revoked_at = now() WHERE user_id = '$user_id'});
($rc, $out, $err) = request('authenticated', $claims, q{SELECT 1});
isnt($rc, 0, 'a token of an ended session is refused');
like($err, qr/session has ended/, '... by pre_request');

$bouncer->kill_kill;
done_testing();
