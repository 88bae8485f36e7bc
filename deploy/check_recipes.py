"""Structural checks of the deployment recipes that need no daemon.

- Every metric a dashboard panel or alert uses is one the broker exports
  (names read from crates/reqrep-broker/src/stats.rs).
- Every `reqrep worker` flag the compose file and the Kubernetes manifests
  pass is one the CLI accepts (read from `reqrep worker --help`).
- The container image: the broker stage is the default (last) one, runs as a
  non-root user, and holds the broker binary alone.

Usage: python3 deploy/check_recipes.py <dir with the reqrep binary>
"""

import json
import pathlib
import re
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
FAILURES = []


def fail(message):
    FAILURES.append(message)


def exported_metrics():
    text = (ROOT / "crates/reqrep-broker/src/stats.rs").read_text()
    names = set(re.findall(r'"(reqrep_broker_[a-z_]+)"', text))
    if not names:
        fail("no metric names found in stats.rs")
    return names


def check_exprs(where, exprs, known):
    for expr in exprs:
        for name in re.findall(r"\breqrep_[a-z_]+", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name not in known and base not in known:
                fail(f"{where}: unknown metric {name} in {expr!r}")


def check_dashboard(known):
    path = HERE / "grafana/reqrep-broker.json"
    board = json.loads(path.read_text())
    ids = [p["id"] for p in board["panels"]]
    if len(ids) != len(set(ids)):
        fail(f"{path}: duplicate panel ids")
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    if not exprs:
        fail(f"{path}: no queries")
    check_exprs(path.name, exprs, known)


def check_alerts(known):
    path = HERE / "prometheus/alerts.yml"
    rules = [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]
    check_exprs(path.name, [r["expr"] for r in rules], known)
    wanted = {"ReqrepNoWorkers", "ReqrepQueueDepthRising", "ReqrepWorkerExpiries", "ReqrepAuthFailures"}
    missing = wanted - {r.get("alert") for r in rules}
    if missing:
        fail(f"{path}: missing alerts {sorted(missing)}")


def worker_flags(binary):
    out = subprocess.run([binary, "worker", "--help"], capture_output=True, text=True, check=True)
    return set(re.findall(r"--[a-z][a-z-]*", out.stdout))


def check_worker_args(where, args, flags):
    if not args or args[0] != "worker":
        fail(f"{where}: expected a `reqrep worker` command, got {args!r}")
        return
    for arg in args[1:]:
        flag = arg.split("=", 1)[0]
        if flag.startswith("--") and flag not in flags:
            fail(f"{where}: `reqrep worker` has no flag {flag}")


def check_compose(flags):
    path = HERE / "container/compose.yaml"
    services = yaml.safe_load(path.read_text())["services"]
    brokers = [name for name in services if name.startswith("broker-")]
    if len(brokers) < 2:
        fail(f"{path}: expected 2 brokers, found {brokers}")
    worker = services["worker"]
    if worker.get("deploy", {}).get("replicas", 1) < 2:
        fail(f"{path}: the workers are not scaled")
    check_worker_args(path.name, worker["command"], flags)
    endpoints = " ".join(worker["command"])
    for broker in brokers:
        if f"tcp://{broker}:5556" not in endpoints:
            fail(f"{path}: the workers do not connect to {broker}")


def check_kubernetes(flags):
    path = HERE / "kubernetes/worker.yaml"
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                check_worker_args(path.name, container["args"], flags)
                if "readinessProbe" not in container or "livenessProbe" not in container:
                    fail(f"{path}: worker without probes")


def check_dockerfile():
    path = HERE / "container/Dockerfile"
    stages = re.split(r"(?m)^FROM ", path.read_text())[1:]
    last = stages[-1]
    if not last.startswith("runtime AS broker"):
        fail(f"{path}: the last (default) stage is not the broker built on the runtime stage")
    runtime = next((s for s in stages if " AS runtime" in s.splitlines()[0]), "")
    if not re.search(r"(?m)^USER (?!0\b|root\b)\S+", runtime):
        fail(f"{path}: the runtime stage does not switch to a non-root user")
    copies = re.findall(r"(?m)^COPY .*", last)
    if copies != ["COPY --from=build /out/reqrep-broker /usr/local/bin/reqrep-broker"]:
        fail(f"{path}: the broker image copies more than the broker binary: {copies}")


def main():
    binary = str(pathlib.Path(sys.argv[1]) / "reqrep")
    known = exported_metrics() | {"up"}
    flags = worker_flags(binary)
    check_dashboard(known)
    check_alerts(known)
    check_compose(flags)
    check_kubernetes(flags)
    check_dockerfile()
    for message in FAILURES:
        print(f"deploy: {message}", file=sys.stderr)
    if FAILURES:
        sys.exit(1)
    print("deploy: dashboard, alerts, compose, Kubernetes and image recipes are consistent")


if __name__ == "__main__":
    main()
