#!/usr/bin/env python3
"""Writes N copybooks of about M fields each for the metadata benchmark: groups, DISPLAY,
COMP-3 and binary numbers, OCCURS tables, REDEFINES and 88 levels, in fixed format.

    python3 bench/reference/generate_copybooks.py DIR N M
"""
import os
import random
import sys


def copybook(n, fields, rng):
    lines = [f"      * Generated record {n}.", f"       01  REC-{n:04d}."]
    i = 0
    while i < fields:
        lines.append(f"           05  GRP-{i:05d}.")
        for _ in range(rng.randint(3, 9)):
            i += 1
            kind = rng.randrange(6)
            name = f"FLD-{i:05d}"
            if kind == 0:
                lines.append(f"               10  {name:<14} PIC X({rng.randint(1, 60)}).")
            elif kind == 1:
                lines.append(f"               10  {name:<14} PIC S9({rng.randint(1, 15)})V99 COMP-3.")
            elif kind == 2:
                lines.append(f"               10  {name:<14} PIC 9({rng.randint(1, 18)}) COMP.")
            elif kind == 3:
                lines.append(f"               10  {name:<14} PIC X(1).")
                lines.append(f"                   88  {name}-YES   VALUE 'Y'.")
                lines.append(f"                   88  {name}-NO    VALUE 'N'.")
            elif kind == 4:
                lines.append(f"               10  {name:<14} OCCURS {rng.randint(2, 12)} TIMES.")
                lines.append(f"                   15  {name}-V   PIC 9(5).")
            else:
                lines.append(f"               10  {name:<14} PIC 9(8).")
                lines.append(f"               10  {name}-R REDEFINES {name} PIC X(8).")
        i += 1
    return "\n".join(lines) + "\n"


def main():
    out, count, fields = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    rng = random.Random(42)
    for n in range(count):
        with open(os.path.join(out, f"rec{n:04d}.cpy"), "w", encoding="ascii") as f:
            f.write(copybook(n, fields, rng))


if __name__ == "__main__":
    main()
