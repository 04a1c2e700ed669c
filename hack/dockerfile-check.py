#!/usr/bin/env python3
"""Check the Dockerfile as far as a machine without docker can (`make dockerfile-check`).

1. hadolint (installed by hack/tools.sh) lints it: among its rules, pinned base images, and
   a last USER that is not root (DL3002) and numeric (DL3066).
2. The build stage runs as written, without docker: its context is staged exactly as its COPY
   lines and .dockerignore say (nothing else of the repository is there), its RUN command runs
   in that stage with the cache mounts dropped and `/out` pointed into the stage. One thing is
   changed, and said: the release profile's optimisations are turned off through cargo's
   CARGO_PROFILE_RELEASE_* variables, so the check costs a debug build, not a release one.
   A file the build needs but the context leaves out (a Cargo target, an include_str!) fails
   here as it would in `docker build`.
3. The runtime stage is checked against what the build produced: the file it copies from the
   builder exists, the ENTRYPOINT is where it is copied to, ENTRYPOINT + CMD start (with
   `--help`), the EXPOSEd port is the controller's default --metrics-addr port, and the
   builder's Rust is at least the crate's rust-version.
With --canaries it then proves it refuses a Dockerfile with each fault in CANARIES.

Usage: hack/dockerfile-check.py [--repo DIR] [--dockerfile PATH] [--hadolint PATH] [--canaries]
Everything it writes is under target/dockerfile-check/ (the staged context, the build's
target directory, kept between runs like the image's cache mount, and /out).
"""

import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib


def fail(msg):
    print(f"dockerfile-check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def say(msg):
    print(f"dockerfile-check: {msg}", file=sys.stderr)


def instructions(text):
    """(keyword, argument string) per instruction: continuations joined, comments dropped."""
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        keyword, _, rest = buf.partition(" ")
        out.append((keyword.upper(), rest.strip()))
        buf = ""
    if buf:
        fail("the Dockerfile ends inside a continued line")
    return out


def stages(instrs):
    """Stages in order: {"from": image, "name": alias or None, "body": [(kw, arg)]}."""
    result = []
    for kw, arg in instrs:
        if kw == "FROM":
            words = arg.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            result.append({"from": words[0], "name": name, "body": []})
        elif result:
            result[-1]["body"].append((kw, arg))
        elif kw != "ARG":
            fail(f"{kw} before the first FROM")
    if len(result) < 2:
        fail("expected a build stage and a runtime stage")
    return result


def copy_args(arg):
    """COPY's flags and its sources and destination (JSON or shell form)."""
    flags = {}
    words = shlex.split(arg) if not arg.lstrip().startswith("[") else None
    if words is None:
        words = json.loads(arg)
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    if len(words) < 2:
        fail(f"COPY {arg}: needs a source and a destination")
    return flags, words[:-1], words[-1]


def ignore_patterns(repo):
    path = os.path.join(repo, ".dockerignore")
    if not os.path.exists(path):
        return []
    pats = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                pats.append(line.rstrip("/"))
    return pats


def ignored(rel, pats):
    """Docker's rules for the patterns this repository uses: `**/` prefixes, globs, no `!`."""
    for p in pats:
        if p.startswith("!"):
            fail(f".dockerignore exception {p!r}: this check does not implement `!` patterns")
        if p.startswith("**/"):
            if fnmatch.fnmatch(os.path.basename(rel), p[3:]) or fnmatch.fnmatch(rel, p[3:]):
                return True
        elif fnmatch.fnmatch(rel, p) or rel.startswith(p + "/"):
            return True
    return False


def stage_context(repo, workdir, body, into):
    """Copy what the build stage's COPY lines take from the context into `into` (= WORKDIR)."""
    pats = ignore_patterns(repo)
    copied = []
    for kw, arg in body:
        if kw != "COPY":
            continue
        flags, sources, dest = copy_args(arg)
        if "from" in flags:
            continue
        target = dest if dest.startswith("/") else os.path.join(workdir, dest)
        if not target.startswith(workdir):
            fail(f"COPY {arg}: destination outside WORKDIR {workdir} is not supported here")
        rel_target = os.path.relpath(target, workdir)
        for src in sources:
            src_path = os.path.join(repo, src)
            if not os.path.exists(src_path):
                fail(f"COPY {src}: not in the build context")
            if ignored(src.rstrip("/"), pats):
                fail(f"COPY {src}: excluded by .dockerignore")
            if os.path.isdir(src_path):
                for root, dirs, files in os.walk(src_path):
                    rel_root = os.path.relpath(root, repo)
                    dirs[:] = [d for d in dirs if not ignored(os.path.join(rel_root, d), pats)]
                    for name in files:
                        rel = os.path.normpath(os.path.join(rel_root, name))
                        if ignored(rel, pats):
                            continue
                        inner = os.path.relpath(os.path.join(root, name), src_path)
                        out = os.path.join(into, rel_target, inner)
                        os.makedirs(os.path.dirname(out), exist_ok=True)
                        shutil.copy2(os.path.join(root, name), out)
            else:
                out = os.path.join(into, rel_target)
                if dest.endswith("/"):
                    out = os.path.join(out, os.path.basename(src))
                os.makedirs(os.path.dirname(out), exist_ok=True)
                shutil.copy2(src_path, out)
            copied.append(src)
    if not copied:
        fail("the build stage copies nothing from the context")
    return copied


def run_build(repo, workdir, body, stage_dir, out_dir, target_cache):
    runs = [arg for kw, arg in body if kw == "RUN"]
    if not runs:
        fail("the build stage has no RUN")
    # Cache mounts become plain directories; the target/ mount is kept between check runs.
    os.makedirs(target_cache, exist_ok=True)
    env = dict(os.environ)
    env.update(
        CARGO_PROFILE_RELEASE_OPT_LEVEL="0",
        CARGO_PROFILE_RELEASE_DEBUG="false",
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS="256",
        CARGO_PROFILE_RELEASE_INCREMENTAL="false",
    )
    env.pop("CARGO_TARGET_DIR", None)
    for arg in runs:
        mounts = re.findall(r"--mount=(\S+)", arg)
        command = re.sub(r"--mount=\S+\s*", "", arg).strip()
        for m in mounts:
            fields = dict(kv.partition("=")[::2] for kv in m.split(","))
            if fields.get("type") != "cache":
                fail(f"RUN --mount={m}: only cache mounts are understood here")
            if fields.get("target") == os.path.join(workdir, "target"):
                link = os.path.join(stage_dir, "target")
                if not os.path.exists(link):
                    os.symlink(target_cache, link)
        if command.startswith("["):
            fail("RUN in exec form is not supported here")
        command = command.replace("/out/", out_dir.rstrip("/") + "/")
        say(f"RUN {command}")
        rc = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=stage_dir, env=env)
        if rc.returncode != 0:
            fail(f"the build stage's RUN failed (exit {rc.returncode}): {command}")


def json_list(kw, arg):
    try:
        value = json.loads(arg)
    except ValueError:
        fail(f"{kw} {arg}: use the exec (JSON) form")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail(f"{kw} {arg}: expected a JSON list of strings")
    return value


def check_runtime(builder_name, runtime, out_dir, repo, builder_from):
    body = runtime["body"]
    placed = {}
    for kw, arg in body:
        if kw == "COPY":
            flags, sources, dest = copy_args(arg)
            if flags.get("from") == builder_name:
                for src in sources:
                    if not src.startswith("/out/"):
                        fail(f"COPY --from={builder_name} {src}: not under /out/")
                    built = os.path.join(out_dir, src[len("/out/"):])
                    if not os.path.isfile(built):
                        fail(f"COPY --from={builder_name} {src}: the build stage did not produce it")
                    placed[dest] = built
    entry = cmd = None
    ports = []
    for kw, arg in body:
        if kw == "ENTRYPOINT":
            entry = json_list(kw, arg)
        elif kw == "CMD":
            cmd = json_list(kw, arg)
        elif kw == "EXPOSE":
            ports += arg.split()
    if not entry:
        fail("the runtime stage has no ENTRYPOINT")
    if entry[0] not in placed:
        fail(f"ENTRYPOINT {entry[0]}: nothing is copied there from the build stage")
    binary = placed[entry[0]]
    argv = [binary] + entry[1:] + (cmd or []) + ["--help"]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        fail(f"ENTRYPOINT+CMD {' '.join(entry + (cmd or []))} --help: exit {res.returncode}: {res.stderr.strip()}")
    say(f"ENTRYPOINT+CMD start: {' '.join(entry + (cmd or []))}")
    m = re.search(r"--metrics-addr <\w+>\s+.*?\[default: [^\]]*:(\d+)\]", res.stdout, re.S)
    if not m:
        fail("could not read the controller's default --metrics-addr from its --help")
    if [p.split("/")[0] for p in ports] != [m.group(1)]:
        fail(f"EXPOSE {' '.join(ports)}: the controller listens on {m.group(1)} by default")
    with open(os.path.join(repo, "Cargo.toml"), "rb") as f:
        wanted = tomllib.load(f)["package"].get("rust-version")
    tag = re.match(r"rust:(\d+)\.(\d+)", builder_from)
    if not tag:
        fail(f"FROM {builder_from}: expected an official rust:<major>.<minor> image")
    if wanted:
        need = tuple(int(x) for x in wanted.split(".")[:2])
        have = (int(tag.group(1)), int(tag.group(2)))
        if have < need:
            fail(f"FROM {builder_from}: older than the crate's rust-version {wanted}")


CANARIES = [
    # (what, the line changed, its replacement, the part of the failure that must show)
    ("a COPY the build needs is missing", "COPY benches ./benches\n", "",
     "the build stage's RUN failed"),
    ("a floating base image tag", "FROM rust:1.95-slim-bookworm AS builder",
     "FROM rust:latest AS builder", "hadolint found problems"),
    ("the runtime runs as root", "USER 65532:65532", "USER 0:0", "DL3002"),
    ("the EXPOSEd port is not the controller's", "EXPOSE 8080", "EXPOSE 9090", "EXPOSE 9090"),
    ("the ENTRYPOINT is not what the build copied", 'ENTRYPOINT ["/entra-cloud-operator"]',
     'ENTRYPOINT ["/operator"]', "ENTRYPOINT /operator"),
]


def canaries(repo, dockerfile, hadolint):
    """Each canary changes one line of the Dockerfile: the check must refuse it, saying why."""
    with open(dockerfile) as f:
        text = f.read()
    for what, old, new, expect in CANARIES:
        if old not in text:
            fail(f"canary {what!r}: the Dockerfile no longer has {old.strip()!r}: update CANARIES")
        with tempfile.NamedTemporaryFile("w", suffix=".Dockerfile", delete=False) as bad:
            bad.write(text.replace(old, new, 1))
        try:
            res = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--repo", repo,
                 "--dockerfile", bad.name, "--hadolint", hadolint],
                capture_output=True, text=True, timeout=3600,
            )
        finally:
            os.unlink(bad.name)
        if res.returncode == 0:
            fail(f"canary {what!r}: the check accepted it")
        if expect not in res.stderr:
            fail(f"canary {what!r}: refused, but not for the reason expected ({expect!r}):\n{res.stderr[-2000:]}")
        say(f"canary refused: {what}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--dockerfile", default=None, help="default: <repo>/Dockerfile")
    ap.add_argument("--hadolint", default=None)
    ap.add_argument("--canaries", action="store_true",
                    help="after the check, prove it refuses a Dockerfile with each known fault")
    args = ap.parse_args()
    repo = os.path.abspath(args.repo)
    dockerfile = args.dockerfile or os.path.join(repo, "Dockerfile")
    with open(dockerfile) as f:
        text = f.read()

    hadolint = args.hadolint or os.path.join(repo, ".tools", "bin", "hadolint")
    if not os.access(hadolint, os.X_OK):
        fail(f"{hadolint} not found: run hack/tools.sh (make tools)")
    res = subprocess.run([hadolint, "--no-color", dockerfile], stdout=sys.stderr)
    if res.returncode != 0:
        fail("hadolint found problems (above)")
    say("hadolint: clean")

    st = stages(instructions(text))
    builder, runtime = st[0], st[-1]
    if not builder["name"]:
        fail("the build stage needs a name (FROM … AS builder) for COPY --from")
    workdirs = [arg for kw, arg in builder["body"] if kw == "WORKDIR"]
    if len(workdirs) != 1 or not workdirs[0].startswith("/"):
        fail("the build stage needs one absolute WORKDIR")
    workdir = workdirs[0]

    # A fixed place under target/ (not a fresh temporary directory), so a second run finds
    # its build up to date, as the image's cache mount would.
    scratch = os.path.join(repo, "target", "dockerfile-check")
    stage_dir = os.path.join(scratch, "context")
    out_dir = os.path.join(scratch, "out")
    for d in (stage_dir, out_dir):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    copied = stage_context(repo, workdir, builder["body"], stage_dir)
    say(f"context staged as the COPY lines take it: {', '.join(copied)}")
    run_build(repo, workdir, builder["body"], stage_dir, out_dir, os.path.join(scratch, "target"))
    check_runtime(builder["name"], runtime, out_dir, repo, builder["from"])
    say("ok")
    if args.canaries:
        canaries(repo, dockerfile, hadolint)
        say("canaries refused")


if __name__ == "__main__":
    main()
