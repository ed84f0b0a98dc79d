-- After the scenarios (all rolled back): the books still balance and nothing
-- was left settled.
SELECT invariant, detail FROM steppergo.reconcile_payouts()
 WHERE driver_id IN (SELECT d.id FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id
                      WHERE u.email LIKE 'bench.driver%@payouts.test');
SELECT 'settled after rollback: ' || count(*) FROM steppergo.bookings WHERE payout_settled HAVING count(*) > 0;
