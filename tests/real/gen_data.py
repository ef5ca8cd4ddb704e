#!/usr/bin/python3
"""Write SIZE bytes of deterministic, moderately compressible data to PATH.

Mix of pseudo-English text, CSV-ish records, a little binary noise and long
repeats, so that xz finds both matches and literals.
Usage: gen_data.py PATH SIZE
"""
import random
import sys

path, size = sys.argv[1], int(sys.argv[2])
rng = random.Random(0x5eed)
vocab = ["".join(rng.choice("etaoinshrdlucmfwypvbgkjqxz") for _ in range(rng.randint(1, 10)))
         for _ in range(3000)]
chunks = []
n = 0
while n < size:
    kind = rng.random()
    if kind < 0.50:
        c = (" ".join(rng.choice(vocab) for _ in range(rng.randint(50, 400))) + ".\n").encode()
    elif kind < 0.75:
        c = "".join(f"{rng.randint(0, 10**6)},{rng.choice(vocab)},{rng.random():.6f},{rng.randint(-99, 99)}\n"
                    for _ in range(rng.randint(10, 100))).encode()
    elif kind < 0.78:
        c = rng.randbytes(rng.randint(100, 4000))
    else:
        c = chunks[rng.randrange(len(chunks))] * rng.randint(2, 5) if chunks else b"x" * 1000
    chunks.append(c)
    n += len(c)
with open(path, "wb") as f:
    f.write(b"".join(chunks)[:size])
