-- Four clients fight for 3 slots of 50 places (most attempts are refused once
-- full); check.sql then proves that no slot was oversold.
\set a random(1, 3)
\set u random(1, :n_pax)
\set p random(1, 4)
SELECT bench_try_book((SELECT id FROM bench_hot WHERE n = :a), (SELECT id FROM bench_pax WHERE n = :u),
                      (now() AT TIME ZONE 'Asia/Almaty')::date + 3, '10:00', :p::int);
