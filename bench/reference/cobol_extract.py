#!/usr/bin/env python3
"""The reference for the copybook benchmark: a straightforward Python extractor of the same
records intake extracts (each 01, each field with its offset and length, each 88 level), with
regular expressions, as a team without intake would write it. Prints the number of records.

    python3 bench/reference/cobol_extract.py DIR
"""
import json
import os
import re
import sys

STATEMENT = re.compile(r"\.(?=\s|$)")
PIC = re.compile(r"PIC(?:TURE)?\s+(?:IS\s+)?(\S+)", re.I)
OCCURS = re.compile(r"OCCURS\s+(\d+)(?:\s+TO\s+(\d+))?", re.I)
REDEFINES = re.compile(r"REDEFINES\s+(\S+)", re.I)
REPEAT = re.compile(r"(.)\((\d+)\)")


def code(text):
    out = []
    for line in text.splitlines():
        if len(line) > 6 and line[6] in "*/":
            continue
        out.append(line[7:72])
    return " ".join(out)


def size(pic, usage):
    pic = REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), pic.upper())
    digits = pic.count("9")
    if usage in ("COMP-3", "PACKED-DECIMAL"):
        return digits // 2 + 1
    if usage in ("COMP", "COMP-4", "COMP-5", "BINARY"):
        return 2 if digits <= 4 else 4 if digits <= 9 else 8
    if usage == "COMP-1":
        return 4
    if usage == "COMP-2":
        return 8
    return sum(1 for c in pic if c not in "SVP")


def extract(text):
    records, stack, offset = [], [], 0
    for statement in STATEMENT.split(code(text)):
        words = statement.split()
        if not words or not words[0].isdigit():
            continue
        level, name = int(words[0]), words[1] if len(words) > 1 else "FILLER"
        if level == 88:
            records.append({"kind": "cobol.condition", "name": name})
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        usage = next((w for w in words if w.upper().startswith(("COMP", "BINARY", "PACKED"))), "DISPLAY")
        pic = PIC.search(statement)
        occurs = OCCURS.search(statement)
        times = int(occurs.group(2) or occurs.group(1)) if occurs else 1
        length = size(pic.group(1), usage.upper()) * times if pic else 0
        record = {
            "kind": "cobol.record" if not stack else "cobol.field",
            "path": "/".join([s[1] for s in stack] + [name]),
            "level": level,
            "offset": offset,
            "storage_length": length,
            "redefines": bool(REDEFINES.search(statement)),
        }
        records.append(record)
        if pic:
            offset += length
        stack.append((level, name))
    return records


def main():
    total = 0
    for root, _, files in os.walk(sys.argv[1]):
        for name in sorted(files):
            if name.endswith(".cpy"):
                with open(os.path.join(root, name), encoding="latin-1") as f:
                    records = extract(f.read())
                total += len(records)
                json.dumps(records)
    print(total)


if __name__ == "__main__":
    main()
