-- book_seats + cancel_booking on a random trip of 1,000 (one passenger per client)
\set t random(1, :ntrips)
SELECT steppergo.book_seats((SELECT trip_id FROM bench_trip_ids WHERE n = :t),
                            (SELECT user_id FROM bench_trip_users WHERE n = :client_id), 1,
                            '[{"name": "Bench Passenger"}]') AS bid \gset
SELECT steppergo.cancel_booking(:bid, 'bench');
