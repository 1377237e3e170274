#!/usr/bin/env python3
"""The metadata benchmark's inputs and its reference: generated artifacts of each kind, and a
straightforward Python extractor of the same records intake extracts from them (PyYAML for
manifests, Python's ast for FastAPI projects, regular expressions and csv for record layouts
and FileMan dictionaries), as a team without intake would write it.

    python3 bench/reference/artifacts.py generate KIND DIR FILES
    python3 bench/reference/artifacts.py extract KIND DIR       prints the number of records
"""
import ast
import csv
import io
import os
import re
import sys

import yaml


# Generators: FILES files, each of a realistic size for its kind.

def generate_k8s(i):
    docs = []
    for d in range(40):
        name = f"svc-{i}-{d}"
        docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: team-{i % 7}
  labels: {{app: {name}, tier: backend}}
  annotations:
    owner: team-{i % 7}
spec:
  replicas: {d % 5 + 1}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      initContainers:
        - name: migrate
          image: registry.local:5000/{name}/migrate:1.{d}
      containers:
        - name: app
          image: ghcr.io/acme/{name}:2.{d}
          ports:
            - containerPort: 8080
              name: http
          env:
            - name: MODE
              value: production
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: {{name: db, key: password}}
          resources:
            limits: {{cpu: 500m, memory: 256Mi}}
          readinessProbe:
            httpGet: {{path: /ready, port: http}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: team-{i % 7}
spec:
  ports:
    - port: 80
      targetPort: http
""")
    return "---\n".join(docs), "yaml"


def generate_mumps(i):
    lines = ["OSEHRA ZGO Export: DD"]
    for f in range(10):
        file = 90000 + i * 10 + f
        lines.append(f'^DIC({file},0)="FILE {file}^{file}"')
        lines.append(f'^DIC({file},0,"GL")="^XB({file},"')
        lines.append(f'^DD({file},0)="FIELD^^60^60"')
        lines.append(f'^DD({file},0,"NM","FILE {file}")=""')
        for n in range(1, 61):
            kind = ["F", "NJ8,2", "D", "S", f"P{file}'", "RF"][n % 6]
            third = "Y:YES;N:NO;" if kind == "S" else f"XB({file}," if kind.startswith("P") else ""
            lines.append(f'^DD({file},{n},0)="FIELD {n}^{kind}^{third}^{n};1^K:$L(X)>30 X"')
            lines.append(f'^DD({file},{n},3)="Answer with field {n}."')
            lines.append(f'^DD({file},{n},21,0)="^^1^1^3200101^"')
            lines.append(f'^DD({file},{n},21,1,0)="The description of field {n}."')
    return "\n".join(lines) + "\n", "zwr"


def generate_irs(i):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["record", "field", "start", "length", "type", "required", "description"])
    for r in range(10):
        start = 1
        for n in range(60):
            length = n % 9 + 1
            writer.writerow([f"R{r}", f"Field {n}", start, length, "AN", "Y", f"Field {n} of record {r}"])
            start += length
    return out.getvalue(), "csv"


def generate_fastapi(i):
    parts = [
        "from typing import Annotated\n",
        "from fastapi import APIRouter, Depends, Query\n",
        "from pydantic import BaseModel, Field\n\n",
        f"router = APIRouter(prefix='/r{i}', tags=['r{i}'])\n\n",
    ]
    for m in range(10):
        parts.append(f"class Model{m}(BaseModel):\n")
        for f in range(8):
            parts.append(f"    field_{f}: str = Field(default='x', max_length={f + 10})\n")
        parts.append("\n")
    for r in range(30):
        parts.append(
            f"@router.get('/items/{{item_id}}/r{r}', response_model=Model{r % 10}, status_code=200)\n"
            f"def handler_{r}(item_id: int, q: Annotated[str, Query(max_length=50)] = '', limit: int = 10):\n"
            f"    return None\n\n"
        )
    return "".join(parts), "py"


GENERATORS = {"k8s": generate_k8s, "mumps": generate_mumps, "irs": generate_irs, "fastapi": generate_fastapi}


# Extractors: the same records, counted.

def extract_k8s(text):
    records = 0
    for doc in yaml.safe_load_all(text):
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            continue
        objects = doc.get("items", []) if doc["kind"].endswith("List") else [doc]
        for obj in objects:
            meta = obj.get("metadata") or {}
            _ = (obj.get("kind"), meta.get("name"), meta.get("namespace"), meta.get("labels"))
            records += 1
            spec = obj.get("spec") or {}
            pod = spec if obj["kind"] == "Pod" else ((spec.get("template") or {}).get("spec") or {})
            for key in ("initContainers", "containers"):
                for c in pod.get(key) or []:
                    image = c.get("image", "")
                    _ = (image.rsplit(":", 1), [e.get("name") for e in c.get("env") or []], c.get("resources"))
                    records += 1
    return records


DD_LINE = re.compile(r'^\^(DD|DIC)\(([^)]*)\)=(.*)$')


def extract_mumps(text):
    files, fields = set(), 0
    for line in text.splitlines():
        m = DD_LINE.match(line)
        if not m or m.group(1) != "DD":
            continue
        subs = m.group(2).split(",")
        if len(subs) == 2 and subs[1] == "0":
            files.add(subs[0])
        elif len(subs) == 3 and subs[2] == "0" and subs[1] != "0":
            value = m.group(3).strip('"').split("^")
            _ = (value[0], value[1] if len(value) > 1 else "")
            fields += 1
    return len(files) + fields


def extract_irs(text):
    layouts, fields = set(), 0
    for row in csv.DictReader(io.StringIO(text)):
        layouts.add(row["record"])
        _ = (int(row["start"]), int(row["length"]), row["type"])
        fields += 1
    return len(layouts) + fields


def extract_fastapi(text):
    tree = ast.parse(text)
    records = 0
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if getattr(node.value.func, "id", "") in ("APIRouter", "FastAPI"):
                records += 1
        elif isinstance(node, ast.ClassDef):
            if any(getattr(b, "id", "") == "BaseModel" for b in node.bases):
                _ = [(f.target.id, ast.unparse(f.annotation)) for f in node.body if isinstance(f, ast.AnnAssign)]
                records += 1
        elif isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and getattr(d.func, "attr", "") in ("get", "post", "put", "patch", "delete"):
                    _ = [(a.arg, ast.unparse(a.annotation) if a.annotation else None) for a in node.args.args]
                    records += 1
    return records


EXTRACTORS = {"k8s": extract_k8s, "mumps": extract_mumps, "irs": extract_irs, "fastapi": extract_fastapi}


def main():
    command, kind, directory = sys.argv[1:4]
    if command == "generate":
        os.makedirs(directory, exist_ok=True)
        for i in range(int(sys.argv[4])):
            text, extension = GENERATORS[kind](i)
            with open(os.path.join(directory, f"{kind}-{i:04}.{extension}"), "w") as f:
                f.write(text)
    else:
        total = 0
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name), encoding="latin-1" if kind == "mumps" else "utf-8") as f:
                total += EXTRACTORS[kind](f.read())
        print(total)


if __name__ == "__main__":
    main()
