# A crash in the middle of a large payout batch loses nothing and pays
# nothing twice: 200,000 completed bookings over 2,000 drivers (the bench
# data set at scale 0.2), run_payout_batch started in a background psql, the
# server stopped with "pg_ctl -m immediate" once the batch has written a good
# part of its work to the WAL; after recovery the books balance with nothing
# settled, and the next run settles every booking exactly once.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use SgTest;

my $node = sg_node('payouts_crash');
$node->append_conf('postgresql.conf', "max_wal_size = '1GB'\n");
$node->restart;

my ($stdout, $stderr);
IPC::Run::run([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'scale=0.2',
	'-d', $node->connstr('postgres'), '-f', "$ENV{TESTDIR}/test/bench/40_payouts/setup.sql" ],
	'>', \$stdout, '2>', \$stderr)
  or die "data load failed: $stderr";

my $unsettled = q{SELECT count(*) FROM steppergo.bookings WHERE status = 'COMPLETED' AND NOT payout_settled};
is($node->safe_psql('postgres', $unsettled), '200000', '200,000 completed bookings, none settled');
is($node->safe_psql('postgres', 'SELECT count(*) FROM steppergo.drivers'), '2000', 'over 2,000 drivers');

# What the books must show in the end, computed independently of the
# extension: the driver's share is gross minus the fee rounded half away
# from zero, floor(gross * rate * 100 + 0.5) / 100 for these positive sums.
my $expected = $node->safe_psql('postgres', q{
	SELECT count(DISTINCT (t.driver_id, t.tenant_id, b.currency)) || ' ' ||
	       sum(b.total_amount - floor(b.total_amount * coalesce(tn.platform_rate, 0.15) * 100 + 0.5) / 100)::numeric(16,2)
	  FROM steppergo.bookings b JOIN steppergo.trips t ON t.id = b.trip_id
	  LEFT JOIN steppergo.tenants tn ON tn.id = t.tenant_id});

# Start the batch in the background and wait until it has written 16 MB of
# WAL (payouts inserted, bookings being updated), still running.
my $lsn0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_insert_lsn()');
my ($bout, $berr) = ('', '');
my $batch = IPC::Run::start(
	[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', 'SELECT steppergo.run_payout_batch()' ],
	'>', \$bout, '2>', \$berr);
my ($written, $running) = (0, 0);
for (my $i = 0; $i < 3000; $i++)
{
	($written, $running) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT pg_current_wal_insert_lsn() - '$lsn0'::pg_lsn,
		       count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT steppergo.run_payout_batch()%' AND state = 'active'});
	last if $written > 16 * 1024 * 1024 || !$batch->pumpable;
	usleep(100_000);
}
ok($running == 1 && $written > 16 * 1024 * 1024,
	"the batch is running and has written " . int($written / 1024 / 1024) . " MB of WAL");

$node->stop('immediate');
$batch->finish;
ok($berr ne '', 'the batch\'s session was cut off');
$node->start;

# Recovery: the batch's transaction never committed, so nothing of it remains.
is($node->safe_psql('postgres', 'SELECT count(*) FROM steppergo.payouts'), '0', 'no payout survived the crash');
is($node->safe_psql('postgres', $unsettled), '200000', 'no booking is settled after the crash');
is($node->safe_psql('postgres', 'SELECT count(*) FROM steppergo.bookings WHERE platform_fee IS NOT NULL'), '0',
	'no split was frozen');
is($node->safe_psql('postgres', 'SELECT count(*) FROM steppergo.reconcile_payouts()'), '0',
	'reconcile_payouts: the books balance after recovery');

# The next run completes the batch, once.
my ($n) = $node->safe_psql('postgres', 'SELECT steppergo.run_payout_batch()');
my ($groups, $shares) = split / /, $expected;
is($n, $groups, "the next run creates one payout per driver, tenant and currency ($groups)");
is($node->safe_psql('postgres', $unsettled), '0', 'every booking is settled');
is($node->safe_psql('postgres', q{
	SELECT count(*) || ' ' || count(DISTINCT payout_id) FROM steppergo.bookings WHERE payout_settled}),
	"200000 $groups", 'each booking in exactly one payout');
is($node->safe_psql('postgres', q{SELECT sum(amount) FROM steppergo.payouts}), $shares,
	'the payouts sum to the independently computed driver shares');
is($node->safe_psql('postgres', 'SELECT count(*) FROM steppergo.reconcile_payouts()'), '0',
	'reconcile_payouts: the books balance after the batch');
is($node->safe_psql('postgres', 'SELECT steppergo.run_payout_batch()'), '0', 'running it again creates nothing');

$node->stop;
done_testing();
