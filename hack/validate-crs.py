#!/usr/bin/env python3
"""Validate custom resources against the generated CRDs with a real JSON Schema validator.

    validate-crs.py CRDS_YAML MANIFEST...

Each document of each manifest whose apiVersion and kind name one of the CRDs is checked
against the `openAPIV3Schema` of that version with `jsonschema` (Draft 4, the dialect OpenAPI
v3.0 schemas derive from), made to behave as the API server does with kubectl's default
strict field validation:

- unknown fields are errors: `additionalProperties: false` is set on every object schema that
  has `properties` and neither `additionalProperties` nor `x-kubernetes-preserve-unknown-fields`;
- `nullable: true` admits null;
- a pattern's final `$` matches only at the very end, as in Go's RE2 (Python's `$` would also
  match before a trailing newline);
- `apiVersion`, `kind` and `metadata` are allowed at the root, as the API server adds them;
- a version the CRD does not serve is an error at `apiVersion`.

Not evaluated: CEL rules (`x-kubernetes-validations`; the Rust tests evaluate them with kube's
client-side CEL), ObjectMeta (the API server's own validation), and `format`. Documents of
other kinds (Secrets, ...) are reported as skipped.

Prints one JSON object: {"results": [{"file", "document", "kind", "name", "verdict", "errors":
[{"field", "message"}]}]}, where verdict is "accepted", "rejected" or "skipped" and field is a
dotted path such as `spec.rollout.maxObjects` or `spec.selector.groups[0].id`.
Exit status: 0 if every custom resource is accepted, 1 if one is rejected, 2 on bad usage or
unreadable input.
"""

import copy
import json
import sys

import jsonschema
import yaml


def strict(schema):
    """A copy of an OpenAPI v3 structural schema as the API server applies it."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, list):
            for n in node:
                walk(n)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key in ("properties", "patternProperties", "definitions"):
                for child in value.values():
                    walk(child)
            elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
                walk(value)
        if node.get("nullable") is True and "type" in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = node["enum"] + [None]
        if (
            "properties" in node
            and "additionalProperties" not in node
            and node.get("x-kubernetes-preserve-unknown-fields") is not True
        ):
            node["additionalProperties"] = False
        pattern = node.get("pattern")
        if isinstance(pattern, str) and pattern.endswith("$") and not pattern.endswith("\\$"):
            node["pattern"] = pattern[:-1] + r"\Z"

    walk(s)
    return s


def load_crds(path):
    """(group/version, kind) -> strict schema, for every served version."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for crd in yaml.safe_load_all(f):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served", True):
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    # The API server adds these to every CRD's root.
                    props = schema.setdefault("properties", {})
                    props.setdefault("apiVersion", {"type": "string"})
                    props.setdefault("kind", {"type": "string"})
                    props.setdefault("metadata", {"type": "object"})
                    out[key] = strict(schema)
    return out


def dotted(path):
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def problems(doc, schema):
    """Each error as (field, message); unknown and missing fields get their own name."""
    validator = jsonschema.Draft4Validator(schema)
    out = []
    for e in validator.iter_errors(doc):
        at = list(e.absolute_path)
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            known = e.schema.get("properties", {})
            for key in sorted(k for k in e.instance if k not in known):
                out.append((dotted(at + [key]), "unknown field"))
        elif e.validator == "required" and isinstance(e.instance, dict):
            for key in e.validator_value:
                if key not in e.instance:
                    out.append((dotted(at + [key]), "required"))
        else:
            out.append((dotted(at) or "(root)", e.message))
    return sorted(set(out))


def main(argv):
    if len(argv) < 3:
        print("usage: validate-crs.py CRDS_YAML MANIFEST...", file=sys.stderr)
        return 2
    try:
        crds = load_crds(argv[1])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
        print(f"validate-crs: {argv[1]}: {e}", file=sys.stderr)
        return 2
    groups = {gv.split("/")[0] for gv, _ in crds}
    results = []
    for path in argv[2:]:
        try:
            with open(path, encoding="utf-8") as f:
                docs = list(yaml.safe_load_all(f))
        except (OSError, yaml.YAMLError) as e:
            print(f"validate-crs: {path}: {e}", file=sys.stderr)
            return 2
        for index, doc in enumerate(docs, start=1):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                results.append({"file": path, "document": index, "kind": None, "name": None,
                                "verdict": "rejected",
                                "errors": [{"field": "(root)", "message": "not an object"}]})
                continue
            api_version, kind = doc.get("apiVersion"), doc.get("kind")
            name = (doc.get("metadata") or {}).get("name")
            result = {"file": path, "document": index, "kind": kind, "name": name}
            schema = crds.get((api_version, kind))
            if schema is None:
                if str(api_version).split("/")[0] in groups:
                    result["verdict"] = "rejected"
                    result["errors"] = [{
                        "field": "apiVersion",
                        "message": f"no served version {api_version} of kind {kind}",
                    }]
                else:
                    result["verdict"] = "skipped"
                    result["errors"] = []
                results.append(result)
                continue
            errors = problems(doc, schema)
            result["verdict"] = "rejected" if errors else "accepted"
            result["errors"] = [{"field": f, "message": m} for f, m in errors]
            results.append(result)
    json.dump({"validator": f"jsonschema {jsonschema_version()} Draft4Validator",
               "results": results}, sys.stdout, indent=1)
    print()
    return 1 if any(r["verdict"] == "rejected" for r in results) else 0


def jsonschema_version():
    from importlib.metadata import version

    return version("jsonschema")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
