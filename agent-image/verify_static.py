#!/usr/bin/env python3
"""Static checks for agent-image/: OpenShift templates, pod templates, Containerfiles.

  verify_static.py check              run all checks; prints PASS/FAIL lines and a count line
  verify_static.py debian-packages    Debian packages equal to the Containerfile's runtime packages
  verify_static.py setup-script FILE  the final stage's shell set-up after COPY --from=build (POSIX sh)
  verify_static.py smoke-command FILE the final stage's smoke-test RUN command
  verify_static.py home FILE          the final stage's HOME

Needs PyYAML. No container engine and no cluster: templates are processed here the way
`oc process` substitutes parameters (${NAME} and ${{NAME}}), then the objects are checked.
"""
import os
import re
import shlex
import sys
import xml.etree.ElementTree as ET

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OPENSHIFT = os.path.join(HERE, "openshift")
JENKINS = os.path.join(ROOT, "jenkins")

# RHEL/UBI runtime package (as named in the Containerfiles) -> the Debian package with the same
# shared libraries / files. The rootfs check installs exactly the Debian side of this table.
RUNTIME_PACKAGE_MAP = {
    "libcurl": "libcurl4",          # libcurl.so.4 (OpenSSL flavour)
    "openssl-libs": "libssl3",      # libssl.so.3, libcrypto.so.3
    "libyaml": "libyaml-0-2",       # libyaml-0.so.2 (kubeconfig and promotion files)
    "libstdc++": "libstdc++6",      # libstdc++.so.6 (still dynamic with --static-swift-stdlib)
    "ca-certificates": "ca-certificates",
}
BUILD_COMMAND = "swift build -c release --static-swift-stdlib --product imgpromote"
REQUIRED_LABELS = [
    "name", "summary", "description", "io.k8s.display-name", "io.k8s.description", "io.openshift.tags",
    "org.opencontainers.image.title", "org.opencontainers.image.description", "org.opencontainers.image.source",
]
PARAM_RE = re.compile(r"\$\{\{?([A-Za-z0-9_]+)\}?\}")

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else ": " + detail))
    return ok


# ---- Containerfile parsing ------------------------------------------------------------------

class Stage:
    def __init__(self, base, alias):
        self.base, self.alias, self.instructions = base, alias, []

    def all(self, kind):
        return [args for k, args in self.instructions if k == kind]


def parse_containerfile(path):
    """Returns (global ARG defaults, [Stage]). Joins continuations, drops comments."""
    logical, cur = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            cur += line
            if cur.strip():
                logical.append(cur.strip())
            cur = ""
    if cur.strip():
        logical.append(cur.strip())
    global_args, stages = {}, []
    for line in logical:
        kind, _, args = line.partition(" ")
        kind, args = kind.upper(), args.strip()
        if kind == "FROM":
            parts = args.split()
            parts = [p for p in parts if not p.startswith("--")]
            alias = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], alias))
        elif not stages:
            if kind == "ARG":
                k, _, v = args.partition("=")
                global_args[k] = v.strip('"')
        else:
            stages[-1].instructions.append((kind, args))
    return global_args, stages


def stage_arg(stage, name):
    for args in stage.all("ARG"):
        k, _, v = args.partition("=")
        if k == name:
            return v.strip('"')
    return None


def labels_of(stage):
    found = {}
    for args in stage.all("LABEL"):
        for tok in shlex.split(args):
            k, _, v = tok.partition("=")
            found[k] = v
    return found


def final_setup_runs(stage):
    """RUN commands after the binary is copied and before the numeric USER (the image set-up)."""
    runs, after_copy = [], False
    for kind, args in stage.instructions:
        if kind == "COPY" and "--from=build" in args:
            after_copy = True
        elif kind == "USER" and re.fullmatch(r"\d+(:\d+)?", args):
            break
        elif kind == "RUN" and after_copy:
            runs.append(args)
    return runs


def env_of(stage, name):
    for args in stage.all("ENV"):
        m = re.search(r"(?:^|\s)" + re.escape(name) + r"=(\S+)", args)
        if m:
            return m.group(1).strip('"')
    return None


def package_target_paths():
    """Every directory Package.swift names with `path:` (targets outside Sources/NAME and Tests/NAME)."""
    return re.findall(r"\bpath:\s*\"([^\"]+)\"", open(os.path.join(ROOT, "Package.swift")).read())


def check_containerfile(fname, final_base_pattern, is_agent):
    path = os.path.join(HERE, fname)
    if not check(f"{fname}: exists", os.path.isfile(path)):
        return None
    gargs, stages = parse_containerfile(path)
    check(f"{fname}: multi-stage (build + runtime)", len(stages) >= 2, f"{len(stages)} stage(s)")
    if len(stages) < 2:
        return None
    build, final = stages[0], stages[-1]
    swift = gargs.get("SWIFT_IMAGE", "")
    check(f"{fname}: build stage is the official Swift UBI 9 image",
          build.alias == "build" and build.base == "${SWIFT_IMAGE}"
          and re.fullmatch(r"(docker\.io/(library/)?)?swift:\d+\.\d+(\.\d+)?-rhel-ubi9", swift or ""),
          f"FROM {build.base} AS {build.alias}, SWIFT_IMAGE={swift}")
    build_runs = " ".join(build.all("RUN"))
    script = os.path.join(HERE, "build-binary.sh")
    script_text = open(script).read() if os.path.isfile(script) else ""
    check(f"{fname}: builds with build-binary.sh = `{BUILD_COMMAND}`",
          "agent-image/build-binary.sh" in build_runs and BUILD_COMMAND in script_text
          and "--static-swift-stdlib" in script_text)
    copies = " ".join(build.all("COPY"))
    check(f"{fname}: build stage copies the package (Package.*, Sources, Tests)",
          all(p in copies for p in ("Package.*", "Sources", "Tests")), copies)
    # SwiftPM refuses the whole manifest when one target's directory is missing, bench targets included.
    copied = [a.split()[-2] for a in build.all("COPY") if len(a.split()) >= 2]
    uncopied = [p for p in package_target_paths()
                if not any(p == c or p.startswith(c.rstrip("/") + "/") for c in copied)]
    check(f"{fname}: build stage copies every target path Package.swift names", not uncopied,
          "missing " + ", ".join(uncopied))
    base_arg = re.fullmatch(r"\$\{(\w+)\}", final.base)
    base_default = gargs.get(base_arg.group(1)) if base_arg else final.base
    check(f"{fname}: runtime stage FROM {final_base_pattern}",
          base_default is not None and re.search(final_base_pattern, base_default), f"{final.base} = {base_default}")
    check(f"{fname}: runtime copies only the binary from the build stage",
          [a for a in final.all("COPY") if "--from=build" in a] == ["--from=build /staging/imgpromote /usr/local/bin/imgpromote"],
          str(final.all("COPY")))
    users = final.all("USER")
    check(f"{fname}: last USER is numeric (1001)", users and users[-1] == "1001", str(users))
    home = env_of(final, "HOME")
    setup = " && ".join(final_setup_runs(final))
    check(f"{fname}: HOME set and group-0 owned, group-writable",
          home == "/home/jenkins" and re.search(r"chown -R 1001:0 " + re.escape(home or "-"), setup)
          and re.search(r"chmod -R g=u " + re.escape(home or "-"), setup), f"HOME={home}; {setup}")
    labels = labels_of(final)
    missing = [k for k in REQUIRED_LABELS if not labels.get(k)]
    check(f"{fname}: OCI and OpenShift labels", not missing, "missing " + ", ".join(missing))
    if is_agent:
        check(f"{fname}: io.openshift.tags has jenkins,agent", {"jenkins", "agent"} <= set(labels.get("io.openshift.tags", "").split(",")))
    # Smoke test after the final USER, as that user.
    after_user, smoke = False, None
    for kind, args in final.instructions:
        if kind == "USER" and users and args == users[-1]:
            after_user = True
        elif kind == "RUN" and after_user and re.fullmatch(r"imgpromote version", args):
            smoke = args
    check(f"{fname}: build-time smoke test `imgpromote version` as the numeric user", smoke is not None)
    pkgs = (stage_arg(final, "RUNTIME_PACKAGES") or "").split()
    check(f"{fname}: runtime packages are exactly libcurl, OpenSSL, libyaml, libstdc++, CA certificates",
          sorted(pkgs) == sorted(RUNTIME_PACKAGE_MAP), str(pkgs))
    install = " ".join(final.all("RUN"))
    check(f"{fname}: runtime install uses only $RUNTIME_PACKAGES, without weak deps or docs",
          "$RUNTIME_PACKAGES" in install and "install_weak_deps=0" in install and "--nodocs" in install
          and not re.search(r"(micro)?dnf\s+-y\s+install\s+(--\S+\s+)*[a-z]", install.replace("$missing", "")))
    entry = final.all("ENTRYPOINT") + final.all("CMD")
    if is_agent:
        check(f"{fname}: keeps the agent base's entrypoint (no ENTRYPOINT/CMD)", not entry, str(entry))
    else:
        check(f"{fname}: ENTRYPOINT is imgpromote", final.all("ENTRYPOINT") == ['["/usr/local/bin/imgpromote"]'])
    text = open(path).read()
    check(f"{fname}: no TLS verification turned off", not re.search(r"tls-verify=false|--insecure|sslverify=0", text))
    return {"build": build.instructions, "packages": pkgs, "args": gargs}


# ---- OpenShift templates -------------------------------------------------------------------

def load_yaml(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


def process_template(tpl, overrides):
    """Substitutes parameters the way `oc process` does (defaults, generated values, overrides)."""
    values = {}
    for p in tpl.get("parameters", []):
        if p["name"] in overrides:
            values[p["name"]] = overrides[p["name"]]
        elif "value" in p:
            values[p["name"]] = str(p["value"])
        elif p.get("generate") == "expression":
            values[p["name"]] = "x" * 40
        else:
            values[p["name"]] = ""

    def subst(node):
        if isinstance(node, dict):
            return {subst(k): subst(v) for k, v in node.items()}
        if isinstance(node, list):
            return [subst(v) for v in node]
        if isinstance(node, str):
            whole = re.fullmatch(r"\$\{\{([A-Za-z0-9_]+)\}\}", node)
            if whole and whole.group(1) in values:
                return yaml.safe_load(values[whole.group(1)])
            return PARAM_RE.sub(lambda m: values.get(m.group(1), m.group(0)), node)
        return node

    return subst(tpl.get("objects", [])), values


def referenced_params(node, acc):
    if isinstance(node, dict):
        for k, v in node.items():
            referenced_params(k, acc)
            referenced_params(v, acc)
    elif isinstance(node, list):
        for v in node:
            referenced_params(v, acc)
    elif isinstance(node, str):
        acc.update(PARAM_RE.findall(node))
    return acc


def by_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


def check_template_common(fname, tpl):
    check(f"{fname}: is an OpenShift Template",
          tpl.get("apiVersion") == "template.openshift.io/v1" and tpl.get("kind") == "Template")
    declared = [p["name"] for p in tpl.get("parameters", [])]
    used = referenced_params(tpl.get("objects", []), set()) | referenced_params(tpl.get("message", ""), set())
    check(f"{fname}: every ${{PARAM}} is declared", used <= set(declared), f"undeclared: {sorted(used - set(declared))}")
    check(f"{fname}: every parameter is used", set(declared) <= used, f"unused: {sorted(set(declared) - used)}")
    check(f"{fname}: parameters unique", len(declared) == len(set(declared)))


def check_buildconfig(fname, bc, objects, containerfile, base_pattern, out_stream, cf_info):
    name = bc["metadata"]["name"]
    spec = bc.get("spec", {})
    strat = spec.get("strategy", {})
    ds = strat.get("dockerStrategy", {})
    path = ds.get("dockerfilePath")
    check(f"{fname}: BuildConfig {name} uses the Docker strategy", strat.get("type") == "Docker" and ds)
    check(f"{fname}: BuildConfig {name} dockerfilePath is {containerfile} and the file exists",
          path == containerfile and os.path.isfile(os.path.join(ROOT, spec.get("source", {}).get("contextDir") or "", path or "-")),
          f"dockerfilePath={path}")
    check(f"{fname}: BuildConfig {name} builds from the repository root (no contextDir)",
          not spec.get("source", {}).get("contextDir"))
    git = spec.get("source", {}).get("git", {})
    check(f"{fname}: BuildConfig {name} has a git source", spec.get("source", {}).get("type") == "Git" and git.get("uri"))
    frm = ds.get("from", {})
    streams = by_kind(objects, "ImageStream")
    base_is = streams.get(frm.get("name", "").split(":")[0], {})
    imported = [t.get("from", {}).get("name", "") for t in base_is.get("spec", {}).get("tags", [])]
    check(f"{fname}: BuildConfig {name} replaces the last FROM with an ImageStreamTag importing {base_pattern}",
          frm.get("kind") == "ImageStreamTag" and any(re.search(base_pattern, i) for i in imported)
          and all(t.get("importPolicy", {}).get("scheduled") for t in base_is.get("spec", {}).get("tags", [])),
          f"from={frm} imports={imported}")
    build_args = {a["name"] for a in ds.get("buildArgs", [])}
    declared_args = set(cf_info["args"]) if cf_info else set()
    check(f"{fname}: BuildConfig {name} buildArgs are ARGs of the Containerfile",
          build_args and build_args <= declared_args | {"IMAGE_SOURCE"}, f"{sorted(build_args)} vs {sorted(declared_args)}")
    out = spec.get("output", {}).get("to", {})
    check(f"{fname}: BuildConfig {name} outputs to ImageStreamTag {out_stream}:<tag>",
          out.get("kind") == "ImageStreamTag" and out.get("name", "").split(":")[0] == out_stream and out_stream in streams,
          str(out))
    res = spec.get("resources", {})
    lim, req = res.get("limits", {}), res.get("requests", {})
    check(f"{fname}: BuildConfig {name} has CPU and memory requests and limits",
          all(k in lim for k in ("cpu", "memory")) and all(k in req for k in ("cpu", "memory"))
          and re.fullmatch(r"\d+Gi", str(lim.get("memory"))) and int(str(lim["memory"])[:-2]) >= 4, str(res))
    types = [t.get("type") for t in spec.get("triggers", [])]
    check(f"{fname}: BuildConfig {name} triggers on config change and base image change",
          "ConfigChange" in types and "ImageChange" in types, str(types))
    check(f"{fname}: BuildConfig {name} runPolicy Serial", spec.get("runPolicy") == "Serial")
    for t in spec.get("triggers", []):
        ref = (t.get("generic") or t.get("github") or {}).get("secretReference", {}).get("name")
        if ref:
            secret = by_kind(objects, "Secret").get(ref, {})
            check(f"{fname}: webhook secret {ref} exists with WebHookSecretKey",
                  "WebHookSecretKey" in secret.get("stringData", secret.get("data", {})))


def check_agent_template(cf_info):
    fname = "openshift/template.yaml"
    docs = load_yaml(os.path.join(OPENSHIFT, "template.yaml"))
    if not check(f"{fname}: parses as one YAML document", len(docs) == 1):
        return None
    tpl = docs[0]
    check_template_common(fname, tpl)
    objects, values = process_template(tpl, {"SOURCE_REPOSITORY_URL": "https://git.example.com/imgpromote.git"})
    name = values["NAME"]
    streams = by_kind(objects, "ImageStream")
    agent = streams.get(name, {})
    meta = agent.get("metadata", {})
    check(f"{fname}: ImageStream {name} labelled role: jenkins-agent", (meta.get("labels") or {}).get("role") == "jenkins-agent")
    ann = meta.get("annotations") or {}
    check(f"{fname}: ImageStream {name} has slave-label and agent-label = {name}",
          ann.get("slave-label") == name and ann.get("agent-label") == name, str(ann))
    bcs = by_kind(objects, "BuildConfig")
    check(f"{fname}: one BuildConfig named {name}", list(bcs) == [name], str(list(bcs)))
    if name in bcs:
        check_buildconfig(fname, bcs[name], objects, "agent-image/Containerfile", r"jenkins-agent-base-rhel9", name, cf_info)
    return name


def check_sidecar_template(cf_info):
    fname = "openshift/sidecar-template.yaml"
    docs = load_yaml(os.path.join(OPENSHIFT, "sidecar-template.yaml"))
    if not check(f"{fname}: parses as one YAML document", len(docs) == 1):
        return None
    tpl = docs[0]
    check_template_common(fname, tpl)
    objects, values = process_template(tpl, {"SOURCE_REPOSITORY_URL": "https://git.example.com/imgpromote.git",
                                             "IMAGE_NAMESPACE": "cicd"})
    name = values["NAME"]
    streams = by_kind(objects, "ImageStream")
    slim = f"{name}-slim"
    check(f"{fname}: ImageStream {slim} exists and is not a jnlp agent (no role label)",
          slim in streams and "role" not in (streams[slim]["metadata"].get("labels") or {}))
    bcs = by_kind(objects, "BuildConfig")
    if check(f"{fname}: BuildConfig {slim} exists", slim in bcs):
        check_buildconfig(fname, bcs[slim], objects, "agent-image/Containerfile.slim", r"ubi9/ubi-minimal", slim, cf_info)
    cms = by_kind(objects, "ConfigMap")
    cm = next(iter(cms.values()), None)
    if not check(f"{fname}: pod-template ConfigMap labelled role: jenkins-agent",
                 cm is not None and (cm["metadata"].get("labels") or {}).get("role") == "jenkins-agent"):
        return None
    for key, xml in cm.get("data", {}).items():
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as e:
            check(f"{fname}: pod template {key} is XML", False, str(e))
            continue
        check(f"{fname}: pod template {key} is a Kubernetes-plugin PodTemplate",
              root.tag == "org.csanchez.jenkins.plugins.kubernetes.PodTemplate")
        label = root.findtext("label")
        check(f"{fname}: pod template {key} has name and label {name}-sidecar",
              root.findtext("name") == f"{name}-sidecar" and label == f"{name}-sidecar")
        conts = root.findall("containers/org.csanchez.jenkins.plugins.kubernetes.ContainerTemplate")
        names = [c.findtext("name") for c in conts]
        check(f"{fname}: pod template {key} containers are jnlp then imgpromote", names == ["jnlp", "imgpromote"], str(names))
        if names != ["jnlp", "imgpromote"]:
            continue
        jnlp, side = conts
        check(f"{fname}: jnlp container passes the agent secret and name",
              "$(JENKINS_SECRET)" in (jnlp.findtext("args") or "") and "$(JENKINS_NAME)" in (jnlp.findtext("args") or ""))
        check(f"{fname}: imgpromote sidecar idles with cat and a tty",
              side.findtext("command") == "cat" and side.findtext("ttyEnabled") == "true")
        check(f"{fname}: imagestreamtag: images only in the first container (the sync plugin resolves no other)",
              not any((c.findtext("image") or "").startswith("imagestreamtag:") for c in conts[1:]))
        out = bcs.get(slim, {}).get("spec", {}).get("output", {}).get("to", {}).get("name", "")
        check(f"{fname}: sidecar image is the slim build's output",
              side.findtext("image") == f"image-registry.openshift-image-registry.svc:5000/cicd/{out}",
              f"{side.findtext('image')} vs cicd/{out}")
        for c in conts:
            check(f"{fname}: container {c.findtext('name')} has memory request and limit",
                  c.findtext("resourceRequestMemory") and c.findtext("resourceLimitMemory"))
            check(f"{fname}: container {c.findtext('name')} is not privileged", c.findtext("privileged") == "false")
    return name


def check_examples(agent_name):
    ex = os.path.join(JENKINS, "examples")
    decl = os.path.join(ex, "Jenkinsfile.declarative")
    label = os.path.join(ex, "Jenkinsfile.agent-label")
    if os.path.isfile(label) and agent_name:
        check("jenkins/examples: agent-label example uses the template's agent label",
              f"label '{agent_name}'" in open(label).read())
    if os.path.isfile(decl):
        m = re.search(r"yaml '''(.*?)'''", open(decl).read(), re.S)
        pod = yaml.safe_load(m.group(1)) if m else None
        ok = bool(pod) and pod.get("kind") == "Pod"
        conts = {c["name"]: c for c in (pod or {}).get("spec", {}).get("containers", [])} if ok else {}
        c = conts.get("imgpromote", {})
        check("jenkins/examples: declarative pod YAML parses and has the imgpromote sidecar (cat, tty, limits)",
              ok and c.get("command") == ["cat"] and c.get("tty") is True and c.get("resources", {}).get("limits"),
              str(c))


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else "check"
    if cmd == "debian-packages":
        _, stages = parse_containerfile(os.path.join(HERE, "Containerfile"))
        pkgs = (stage_arg(stages[-1], "RUNTIME_PACKAGES") or "").split()
        print(",".join(RUNTIME_PACKAGE_MAP[p] for p in pkgs))
        return 0
    if cmd in ("setup-script", "smoke-command", "home"):
        _, stages = parse_containerfile(os.path.join(HERE, sys.argv[2]))
        final = stages[-1]
        if cmd == "setup-script":
            print("set -e")
            for run in final_setup_runs(final):
                print(run)
        elif cmd == "home":
            print(env_of(final, "HOME"))
        else:
            users = final.all("USER")
            after, found = False, None
            for kind, args in final.instructions:
                if kind == "USER" and args == users[-1]:
                    after = True
                elif kind == "RUN" and after:
                    found = args
            print(found or "")
        return 0

    agent = check_containerfile("Containerfile", r"jenkins-agent-base-rhel9", True)
    slim = check_containerfile("Containerfile.slim", r"ubi9/ubi-minimal", False)
    if agent and slim:
        check("Containerfile and Containerfile.slim: identical build stage and runtime packages",
              agent["build"] == slim["build"] and agent["packages"] == slim["packages"])
    name = check_agent_template(agent)
    check_sidecar_template(slim)
    check_examples(name)
    for fname in sorted(os.listdir(OPENSHIFT)):
        if fname.endswith((".yaml", ".yml")):
            text = open(os.path.join(OPENSHIFT, fname)).read()
            check(f"openshift/{fname}: no TLS verification turned off", not re.search(r"tls-verify=false|insecure", text, re.I))
    passed, failed = results.count(True), results.count(False)
    print(f"static: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
