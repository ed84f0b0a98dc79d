-- verify_otp with a wrong code: the attempt is counted (UPDATE ... RETURNING
-- through a kept SPI plan), the keyed BLAKE2b recomputed and compared in
-- constant time.
\set n random(1, :nphones)
SELECT steppergo.verify_otp('+7901' || lpad(:n::text, 7, '0'), '000000');
