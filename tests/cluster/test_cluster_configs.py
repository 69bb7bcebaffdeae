"""The cluster configs, checked offline against what judges them for real and against each other.

The launcher YAML must pass the schema in the Ray wheel that `ray up` uses, the KubeRay manifests the CRDs' OpenAPI
schemas that the API server applies, and the RayService's Serve config Serve's own models. The rest are promises
that span files no schema sees: one Ray and Python version, one image, the same ports, paths and environment, job
entrypoints that exist. A change in one file that the others do not follow fails here, not on a cluster.
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
LAUNCHERS = {"aws": CLUSTER / "aws.yaml", "gcp": CLUSTER / "gcp.yaml"}
MANIFESTS = {
    "RayCluster": (CLUSTER / "kuberay" / "raycluster.yaml", "rayclusters"),
    "RayJob": (CLUSTER / "kuberay" / "rayjob.yaml", "rayjobs"),
    "RayService": (CLUSTER / "kuberay" / "rayservice.yaml", "rayservices"),
}
DOCKERFILE = CLUSTER / "Dockerfile"
DOCS = ROOT / "docs" / "cluster.md"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SERVE = yaml.safe_load((CLUSTER / "serve.yaml").read_text())
JOBS = {"synth", "preprocess", "train", "index", "evaluate", "deploy", "pipeline"}
GCS_PORT, CLIENT_PORT = 6379, 10001  # Ray's defaults for `ray start --head` and its client server
DEFAULT_SERVE_PORT = 8000


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _ray_pin() -> str:
    (pin,) = [m[2] for d in PYPROJECT["project"]["dependencies"] if (m := re.fullmatch(r"ray(\[.*\])?==(\S+)", d))]
    return pin


# --- helpers: launcher configs ------------------------------------------------------------------------------------


def _prepared(name: str) -> dict:
    """The config as `ray up` sees it: merged with Ray's defaults for the provider, node types filled in."""
    from ray.autoscaler._private.util import prepare_config

    return prepare_config(copy.deepcopy(_load(LAUNCHERS[name])))


def _all_commands(config: dict) -> list[str]:
    keys = ("initialization_commands", "setup_commands", "head_setup_commands", "worker_setup_commands")
    cmds = [c for k in (*keys, "head_start_ray_commands", "worker_start_ray_commands") for c in config.get(k, [])]
    for node in config["available_node_types"].values():
        cmds += [c for k in ("initialization_commands", "worker_setup_commands") for c in node.get(k, [])]
    return cmds


def _unpinned_pip_requirements(command: str) -> list[str]:
    """What a `pip install` in COMMAND takes neither under requirements/lock.txt as constraints nor pinned with ==."""
    bad = []
    for part in re.split(r"&&|\|\||;|\n", command):
        m = re.search(r"\bpip3?\s+install\b(.*)", part)
        if not m:
            continue
        args = shlex.split(m[1])
        constraints = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-c", "--constraint")]
        if any(c.endswith("requirements/lock.txt") for c in constraints):
            continue
        skip_next = False
        for a in args:
            if skip_next:
                skip_next = False
            elif a in ("-c", "--constraint", "-r", "--requirement", "-i", "--index-url", "-f", "--find-links"):
                skip_next = True
            elif not a.startswith("-") and "==" not in a:
                bad.append(a)
    return bad


def _exported_env(command: str) -> dict[str, str]:
    """Variables a shell command sets with `export A=B ...` (the start commands' way)."""
    env = {}
    for m in re.finditer(r"\bexport\s+([^;&\n]+)", command):
        env |= dict(w.split("=", 1) for w in shlex.split(m[1]) if "=" in w)
    return env


def _docker_env(config: dict) -> dict[str, str]:
    opts = " ".join(config["docker"].get("run_options", []))
    return dict(m.groups() for m in re.finditer(r"(?:--env|-e)[ =](\w+)=(\S+)", opts))


def _ray_start(config: dict, key: str) -> str:
    (cmd,) = [c for c in config[key] if "ray start" in c]
    return cmd


# --- helpers: KubeRay manifests -----------------------------------------------------------------------------------


def _local_path(url: str) -> Path | None:
    """URL as a local path, or None for a remote one (scheme://... or git's scp-like host:path)."""
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    if "://" in url or ":" in url.split("/", 1)[0]:
        return None
    return (ROOT / Path(url).expanduser()).resolve()


def _kuberay_schema_dir() -> Path | None:
    """Where the CRDs are: $GAIT_KUBERAY_SCHEMAS, ../shared beside the checkout, or beside a local origin's."""
    if os.environ.get("GAIT_KUBERAY_SCHEMAS"):
        given = Path(os.environ["GAIT_KUBERAY_SCHEMAS"])
        if not (given / "ray.io_rayclusters.yaml").is_file():
            pytest.fail(f"GAIT_KUBERAY_SCHEMAS={given} holds no ray.io_rayclusters.yaml")
        return given
    candidates = [ROOT.parent / "shared" / "schemas" / "kuberay"]
    try:
        r = subprocess.run(
            ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        origin = _local_path(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        origin = None
    if origin is not None:
        candidates.append(origin.parent / "shared" / "schemas" / "kuberay")
    return next((c for c in candidates if (c / "ray.io_rayclusters.yaml").is_file()), None)


def _strict(schema: dict) -> dict:
    """SCHEMA rejecting unknown fields, as `kubectl apply --validate=strict` does (the API server only prunes them)."""
    out = dict(schema)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), dict):
            out[key] = _strict(out[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in out:
            out[key] = [_strict(s) for s in out[key]]
    if "properties" in out:
        out["properties"] = {k: _strict(v) for k, v in out["properties"].items()}
        if "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def crds() -> dict[str, jsonschema.protocols.Validator]:
    """A validator per kind from KubeRay's CRDs (v1 OpenAPI schema, OpenAPI 3.0 being JSON Schema draft 4 based)."""
    where = _kuberay_schema_dir()
    if where is None:
        reason = (
            "KubeRay CRD schemas not found: set GAIT_KUBERAY_SCHEMAS, or keep shared/schemas/kuberay beside the "
            "checkout (../shared) or beside its local origin"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    validators = {}
    for kind, (_, plural) in MANIFESTS.items():
        crd = yaml.load(
            (where / f"ray.io_{plural}.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
        (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schema = _strict(v1["schema"]["openAPIV3Schema"])
        validators[kind] = jsonschema.Draft4Validator(schema)
    return validators


def _errors(validator: jsonschema.protocols.Validator, manifest: dict) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(manifest)]


def _cluster_spec(manifest: dict) -> dict:
    spec = manifest["spec"]
    return {"RayCluster": spec, "RayJob": spec.get("rayClusterSpec"), "RayService": spec.get("rayClusterConfig")}[
        manifest["kind"]
    ]


def _groups(spec: dict) -> list[tuple[str, dict]]:
    """(group name, pod template) of the head ("head") and of every worker group."""
    return [("head", spec["headGroupSpec"]["template"])] + [
        (g["groupName"], g["template"]) for g in spec.get("workerGroupSpecs", [])
    ]


def _containers(spec: dict) -> list[dict]:
    return [c for _, t in _groups(spec) for c in t["spec"]["containers"]]


def _limits(group: dict) -> dict:
    """The resource limits of a worker group's (first) container."""
    return group["template"]["spec"]["containers"][0]["resources"]["limits"]


def _env(container: dict) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def _quantity(q: str | int | float) -> float:
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def _mount(template: dict, path: str) -> tuple[dict, str] | None:
    """The volume of the (first) container's mount holding PATH, and PATH relative to the mount."""
    (container, *_) = template["spec"]["containers"]
    for m in container.get("volumeMounts", []):
        base = m["mountPath"].rstrip("/")
        if path == base or path.startswith(base + "/"):
            (volume,) = [v for v in template["spec"].get("volumes", []) if v["name"] == m["name"]]
            return volume, posixpath.relpath(path, base)
    return None


def _serve_config() -> dict:
    return yaml.safe_load(_load(MANIFESTS["RayService"][0])["spec"]["serveConfigV2"])


# --- helpers: Dockerfile ------------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(ln for ln in DOCKERFILE.read_text().splitlines() if not ln.startswith("#")))
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in text.splitlines() if ln.strip()]


def _dockerfile_env() -> dict[str, str]:
    env = {}
    for instr, args in _dockerfile():
        if instr == "ENV":
            env |= dict(w.split("=", 1) for w in shlex.split(args))
    return env


def _base_image() -> re.Match:
    (base,) = [args for instr, args in _dockerfile() if instr == "FROM"]
    m = re.fullmatch(r"rayproject/ray:(?P<ray>\d+\.\d+\.\d+)-py(?P<py>3\d+)-gpu", base.strip())
    assert m, f"base image {base!r} is not an exact rayproject/ray:<version>-py3XX-gpu tag"
    return m


# --- launcher configs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_config_passes_rays_schema(name):
    """`ray up` validates against the schema in the Ray wheel, then checks node types; a config it refuses is
    refused here first, with the same wheel the project pins."""
    import ray
    from ray.autoscaler._private.util import validate_config

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(_load(LAUNCHERS[name]), schema)
    validate_config(_prepared(name))


def test_ray_schema_rejects_a_broken_launcher_config():
    """The schema check has teeth: a misspelt top-level key and a GPU count that is not an integer fail."""
    import ray

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = _load(LAUNCHERS["aws"])
    misspelt = config | {"max_worker": 2}
    fractional = copy.deepcopy(config)
    fractional["available_node_types"]["gpu_worker"]["resources"]["GPU"] = 0.5
    for broken in (misspelt, fractional):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_node_types(name):
    """The head takes no GPU work (nor is a GPU machine); GPU workers have one GPU each and scale up from zero;
    a CPU worker type is there for preprocessing."""
    config = _prepared(name)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"].get("CPU") == 0
    assert "guestAccelerators" not in head["node_config"]
    assert not re.match(r"(g|p)\d", head["node_config"].get("InstanceType", "")), "head on a GPU instance"
    workers = {k: v for k, v in types.items() if k != config["head_node_type"]}
    gpu = {k: v for k, v in workers.items() if v["resources"].get("GPU", 0) > 0}
    assert gpu, "no GPU worker type"
    for node in gpu.values():
        assert node["resources"]["GPU"] == 1
        assert 0 == node["min_workers"] < node["max_workers"] <= config["max_workers"]
        accelerators = node["node_config"].get("guestAccelerators")
        if accelerators is not None:  # GCP: the machine really has the GPU Ray is told about
            assert sum(a["acceleratorCount"] for a in accelerators) == node["resources"]["GPU"]
    assert any(v["resources"].get("GPU", 0) == 0 and v["resources"].get("CPU", 0) > 0 for v in workers.values())


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_installs_nothing_unpinned(name):
    """Merged with Ray's defaults (which pip-install unpinned packages), every command installs only pinned
    packages or under the lock file, and every node runs the project's image."""
    config = _prepared(name)
    for cmd in _all_commands(config):
        assert not _unpinned_pip_requirements(cmd), cmd
    docker = config["docker"]
    assert docker.get("head_image", docker["image"]) == docker.get("worker_image", docker["image"]) == docker["image"]
    assert all("docker" not in node for node in config["available_node_types"].values())


def test_pin_check_catches_rays_defaults():
    """The check above has teeth: the commands Ray's own defaults would run are flagged."""
    from ray.autoscaler._private.util import prepare_config

    bare = {k: v for k, v in _load(LAUNCHERS["aws"]).items() if not k.endswith("setup_commands")}
    flagged = [c for c in _all_commands(prepare_config(bare)) if _unpinned_pip_requirements(c)]
    assert flagged
    assert _unpinned_pip_requirements("pip install -c requirements/lock.txt -e '.[gpu]'") == []
    assert _unpinned_pip_requirements("pip install boto3==1.4.8 && pip install -U tqdm") == ["tqdm"]


@pytest.mark.parametrize("name", LAUNCHERS)
def test_launcher_token_auth_and_environment(name):
    """Head and workers start Ray the same way: token auth on, the same token file (one the launcher copies to
    every node), TF_USE_LEGACY_KERAS=1; shells in the container (`ray exec`) get the same environment."""
    config = _load(LAUNCHERS[name])
    head = _exported_env(_ray_start(config, "head_start_ray_commands"))
    worker = _exported_env(_ray_start(config, "worker_start_ray_commands"))
    assert head == worker
    assert head["RAY_AUTH_MODE"] == "token" and head["TF_USE_LEGACY_KERAS"] == "1"
    token_dir = posixpath.dirname(head["RAY_AUTH_TOKEN_PATH"])
    assert token_dir in config["file_mounts"], "the token file is not copied to the nodes"
    assert {k: v for k, v in _docker_env(config).items() if k in head} == head


# --- KubeRay manifests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MANIFESTS)
def test_manifest_passes_its_crd(crds, kind):
    """Each manifest is what its CRD's v1 schema accepts, unknown fields refused (a misspelt field is pruned
    silently by the API server otherwise)."""
    manifest = _load(MANIFESTS[kind][0])
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == kind
    assert _errors(crds[kind], manifest) == []


@pytest.mark.parametrize(
    "break_it",
    [
        pytest.param(lambda m: m["spec"].update(rayVersion=2), id="rayVersion-not-a-string"),
        pytest.param(lambda m: m["spec"]["workerGroupSpecs"][0].update(replicas="x"), id="replicas-not-an-int"),
        pytest.param(lambda m: m["spec"]["workerGroupSpecs"][0].pop("maxReplicas"), id="maxReplicas-missing"),
        pytest.param(lambda m: m["spec"]["authOptions"].update(mode="tokens"), id="auth-mode-not-in-enum"),
        pytest.param(lambda m: m["spec"].update(enableInTreeAutoscalling=True), id="misspelt-field"),
        pytest.param(
            lambda m: m["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["ports"][0].update(
                containerPort="6379"
            ),
            id="port-not-an-int",
        ),
    ],
)
def test_crd_validation_rejects_broken_manifests(crds, break_it):
    """The CRD check has teeth: each of these breakages of the RayCluster is refused."""
    manifest = _load(MANIFESTS["RayCluster"][0])
    break_it(manifest)
    assert _errors(crds["RayCluster"], manifest)


@pytest.mark.parametrize("kind", MANIFESTS)
def test_manifest_autoscales_gpu_workers_from_a_cpu_head(kind):
    """In-tree autoscaling on, token auth on; the head is CPU-only with no Ray CPUs; a GPU group with one GPU per
    pod scales from zero."""
    spec = _cluster_spec(_load(MANIFESTS[kind][0]))
    assert spec["enableInTreeAutoscaling"] is True and "autoscalerOptions" in spec
    assert spec["authOptions"]["mode"] == "token"
    head = spec["headGroupSpec"]
    assert head["rayStartParams"].get("num-cpus") == "0"
    for c in head["template"]["spec"]["containers"]:
        assert not any("gpu" in k for part in c.get("resources", {}).values() for k in part)
    gpu = [g for g in spec["workerGroupSpecs"] if "nvidia.com/gpu" in _limits(g)]
    assert gpu, "no GPU worker group"
    for g in gpu:
        resources = g["template"]["spec"]["containers"][0]["resources"]
        assert int(resources["limits"]["nvidia.com/gpu"]) == 1
        assert resources.get("requests", resources["limits"])["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"]
        assert 0 == g["minReplicas"] <= g.get("replicas", 0) <= g["maxReplicas"] and g["maxReplicas"] > 0


def test_kuberay_token_auth_is_the_operators_and_the_same_everywhere():
    """One Secret holds the Ray token for all three resources, and KubeRay alone sets RAY_AUTH_* in the
    containers (a value by hand would drift from the Secret)."""
    auth = {kind: _cluster_spec(_load(path))["authOptions"] for kind, (path, _) in MANIFESTS.items()}
    assert len({json.dumps(a, sort_keys=True) for a in auth.values()}) == 1
    assert auth["RayCluster"]["secretName"]
    for path, _ in MANIFESTS.values():
        for c in _containers(_cluster_spec(_load(path))):
            assert not {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"} & set(_env(c)), c["name"]


def test_rayjob_trains_and_cleans_up():
    """The RayJob runs the training job script on a config that exists, with a runtime env Ray accepts, and
    deletes its cluster afterwards."""
    from ray.runtime_env import RuntimeEnv

    spec = _load(MANIFESTS["RayJob"][0])["spec"]
    m = re.fullmatch(r"python jobs/(\w+)\.py --config (configs/[\w.-]+\.yaml)( .*)?", spec["entrypoint"])
    assert m and m[1] == "train" and (ROOT / m[2]).is_file()
    assert spec["shutdownAfterJobFinishes"] is True
    runtime_env = yaml.safe_load(spec["runtimeEnvYAML"])
    RuntimeEnv(**runtime_env | {"working_dir": str(ROOT)})  # the image's working_dir is this checkout's copy
    assert runtime_env["env_vars"]["TF_USE_LEGACY_KERAS"] == "1"


# --- the RayService's Serve config --------------------------------------------------------------------------------


def test_rayservice_serve_config_is_cluster_serve_yaml():
    """serveConfigV2 parses, passes Serve's own schema, and its applications and HTTP options are
    cluster/serve.yaml's (the config that tests/serve keeps equal to `serve build`)."""
    from ray.serve.schema import ServeDeploySchema

    config = _serve_config()
    ServeDeploySchema.model_validate(config)
    assert config["applications"] == SERVE["applications"]
    assert config.get("http_options") == SERVE.get("http_options")
    assert config.get("proxy_location") == SERVE.get("proxy_location")


def test_rayservice_replicas_fit_the_cluster():
    """Each deployment's autoscaling config is valid for Serve, one replica fits a worker pod, and the workers at
    their maximum hold every deployment at its maximum."""
    from ray.serve.config import AutoscalingConfig

    spec = _cluster_spec(_load(MANIFESTS["RayService"][0]))
    pods = [_limits(g) | {"n": g["maxReplicas"]} for g in spec["workerGroupSpecs"]]
    need_cpus = 0.0
    for app in _serve_config()["applications"]:
        for d in app["deployments"]:
            options = d.get("ray_actor_options", {})
            cpus, gpus = options.get("num_cpus", 1), options.get("num_gpus", 0)
            if "autoscaling_config" in d:
                scaling = AutoscalingConfig.model_validate(d["autoscaling_config"])
                assert 0 <= scaling.min_replicas <= scaling.max_replicas and scaling.max_replicas >= 1
                most = scaling.max_replicas
            else:
                most = d.get("num_replicas", 1)
            assert any(_quantity(p["cpu"]) >= cpus and int(p.get("nvidia.com/gpu", 0)) >= gpus for p in pods), d["name"]
            need_cpus += most * cpus
    assert need_cpus <= sum(_quantity(p["cpu"]) * p["n"] for p in pods)


def test_rayservice_mounts_what_the_serve_config_names():
    """The token file, model directory and SQLite registry the Serve config names are on every pod of the
    RayService (and of the RayCluster): the token from a Secret, the model and registry on one volume."""
    env = SERVE["applications"][0]["runtime_env"]["env_vars"]
    token_file, model_dir = env["GAIT_TOKEN_FILE"], env["GAIT_MODEL_DIR"]
    registry = env.get("GAIT_REGISTRY_URL", "")
    for kind in ("RayService", "RayCluster"):
        for group, template in _groups(_cluster_spec(_load(MANIFESTS[kind][0]))):
            token = _mount(template, token_file)
            assert token, f"{kind} {group}: {token_file} is not mounted"
            volume, rel = token
            assert "secret" in volume and rel in {i["path"] for i in volume["secret"].get("items", [{"path": rel}])}
            if kind == "RayService":
                assert not volume["secret"].get("optional", False), "the app cannot start without its token"
            model = _mount(template, model_dir)
            assert model and "persistentVolumeClaim" in model[0], f"{kind} {group}: {model_dir} is not on a volume"
            if registry.startswith("sqlite:///"):
                db = _mount(template, registry.removeprefix("sqlite:///"))
                assert db and db[0] == model[0]


# --- across files -------------------------------------------------------------------------------------------------


def test_ray_and_python_versions_agree():
    """One Ray version: pyproject's pin, the wheel these tests load, the image's base tag, every manifest's
    rayVersion and any Ray pin in launcher commands; one Python: the base tag's, requires-python's, ruff's."""
    import ray

    pin = _ray_pin()
    base = _base_image()
    assert ray.__version__ == pin == base["ray"]
    for path, _ in MANIFESTS.values():
        assert _cluster_spec(_load(path))["rayVersion"] == pin, path.name
    for name in LAUNCHERS:
        for cmd in _all_commands(_load(LAUNCHERS[name])):
            assert all(v == pin for v in re.findall(r"\bray(?:\[[^\]]*\])?==([\w.]+)", cmd)), cmd
    m = re.fullmatch(r">=\s*(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert m and f"{m[1]}{m[2]}" == base["py"] == PYPROJECT["tool"]["ruff"]["target-version"].removeprefix("py")


def test_one_image_everywhere():
    """aws.yaml, gcp.yaml and every container of the manifests run the same image, tagged with the project
    version, and the Dockerfile's and the guide's build commands make that tag."""
    image = _load(LAUNCHERS["aws"])["docker"]["image"]
    assert image.rsplit(":", 1)[1] == PYPROJECT["project"]["version"]
    assert _load(LAUNCHERS["gcp"])["docker"]["image"] == image
    for path, _ in MANIFESTS.values():
        assert {c["image"] for c in _containers(_cluster_spec(_load(path)))} == {image}, path.name
    build = f"docker build -f cluster/Dockerfile -t {image} ."
    assert build in DOCKERFILE.read_text() and build in DOCS.read_text()


def test_ports_agree():
    """Serve's HTTP port is the head's (and RayService workers') `serve` port; GCS, dashboard and client ports are
    Ray's defaults, which neither rayStartParams nor the launcher's `ray start` change."""
    from ray._private.ray_constants import DEFAULT_DASHBOARD_PORT, DEFAULT_PORT

    assert DEFAULT_PORT == GCS_PORT
    serve_port = SERVE.get("http_options", {}).get("port", DEFAULT_SERVE_PORT)
    for kind, (path, _) in MANIFESTS.items():
        spec = _cluster_spec(_load(path))
        (head,) = spec["headGroupSpec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in head["ports"]}
        assert ports["gcs-server"] == GCS_PORT and ports["dashboard"] == DEFAULT_DASHBOARD_PORT
        assert ports["client"] == CLIENT_PORT
        assert not {"port", "dashboard-port", "ray-client-server-port"} & set(spec["headGroupSpec"]["rayStartParams"])
        if kind in ("RayCluster", "RayService"):
            assert ports["serve"] == serve_port
        if kind == "RayService":
            assert _serve_config()["http_options"]["port"] == serve_port
            for c in _containers(spec):
                assert {p["containerPort"] for p in c["ports"] if p["name"] == "serve"} == {serve_port}, c["name"]
    for name in LAUNCHERS:
        config = _load(LAUNCHERS[name])
        assert f"--port={GCS_PORT}" in _ray_start(config, "head_start_ray_commands")
        assert f"$RAY_HEAD_IP:{GCS_PORT}" in _ray_start(config, "worker_start_ray_commands")
        assert "--dashboard-port" not in _ray_start(config, "head_start_ray_commands")


def test_job_entrypoints_name_existing_scripts_and_configs():
    """Every `python jobs/X.py --config FILE` in the cluster configs and the guide names a job script that exists
    (one of the pipeline's stages) and a config in configs/."""
    seen = 0
    files = [*sorted(CLUSTER.rglob("*.yaml")), DOCKERFILE, DOCS]
    for path in files:
        for line in path.read_text().splitlines():
            for m in re.finditer(r"\bpython\s+jobs/([\w-]+)\.py\b([^`'\"|;&]*)", line):
                seen += 1
                assert m[1] in JOBS and (ROOT / "jobs" / f"{m[1]}.py").is_file(), f"{path.name}: {line.strip()}"
                for config in re.findall(r"--config[ =](\S+)", m[2]):
                    assert config.startswith("configs/") and (ROOT / config).is_file(), f"{path.name}: {config}"
    assert seen, "no job entrypoint found"


def test_tf_legacy_keras_reaches_every_process():
    """TF_USE_LEGACY_KERAS=1 in the image, in every container of every manifest (the autoscaler's included), in
    the RayJob's runtime env and in the Serve application's."""
    assert _dockerfile_env()["TF_USE_LEGACY_KERAS"] == "1"
    for path, _ in MANIFESTS.values():
        spec = _cluster_spec(_load(path))
        for c in _containers(spec):
            assert _env(c).get("TF_USE_LEGACY_KERAS") == "1", f"{path.name}: {c['name']}"
        assert {e["name"]: e["value"] for e in spec["autoscalerOptions"]["env"]}["TF_USE_LEGACY_KERAS"] == "1"
    for app in _serve_config()["applications"]:
        assert app["runtime_env"]["env_vars"]["TF_USE_LEGACY_KERAS"] == "1"


def test_dockerfile_is_pinned():
    """The image installs the project with its gpu extra, only under the lock file (plus cluster/constraints.txt,
    exact pins that never contradict the lock), into the WORKDIR the RayJob sends as working_dir."""
    steps = _dockerfile()
    installs = [args for instr, args in steps if instr == "RUN" and re.search(r"\bpip3?\s+install\b", args)]
    assert installs and any(".[gpu]" in args for args in installs)
    assert "gpu" in PYPROJECT["project"]["optional-dependencies"]
    for args in installs:
        for part in re.split(r"&&|;", args):
            if re.search(r"\bpip3?\s+install\b", part):
                assert re.search(r"(-c|--constraint)\s+requirements/lock\.txt", part), part
    lock = dict(ln.split("==", 1) for ln in (ROOT / "requirements" / "lock.txt").read_text().splitlines() if "==" in ln)
    lock = {k.lower().replace("_", "-"): v for k, v in lock.items()}
    for ln in (CLUSTER / "constraints.txt").read_text().splitlines():
        if ln.strip() and not ln.startswith("#"):
            name, version = ln.split("==")
            assert lock.get(name.lower().replace("_", "-"), version) == version, ln
    (workdir,) = [args.strip() for instr, args in steps if instr == "WORKDIR"]
    runtime_env = yaml.safe_load(_load(MANIFESTS["RayJob"][0])["spec"]["runtimeEnvYAML"])
    assert runtime_env["working_dir"] == workdir
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "runs", ".git"} <= ignored
