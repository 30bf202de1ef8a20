"""The cluster recipes of docs/clusters.md, checked without a cluster.

- The KubeRay manifests (deploy/kuberay/) against a schema of the ray.io/v1 RayCluster and RayJob
  CRDs written by hand from KubeRay's CRDs (tests/deploy/kuberay_v1.schema.json: no registry
  package ships them), and every pod template in them against the published Kubernetes OpenAPI
  schema (kubernetes-validate, strict: an unknown field is an error).
- What the schemas cannot say: GPU limits agree with Ray's view, autoscaling bounds hold, one
  image and one Ray version everywhere, credentials only from Secrets, the RayJob's entrypoint is
  a `flexiclip run` that the CLI accepts and that asks for its GPU workers.
- The `ray job submit` recipe (deploy/ray/): its pins are the installed versions, and the command
  submit.py builds. tests/deploy/test_ray_job_submit.py runs it against a real head.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
KUBERAY = DEPLOY / "kuberay"
SCHEMA = json.loads((Path(__file__).with_name("kuberay_v1.schema.json")).read_text())
KUBERNETES_VERSION = "1.30"
"""The oldest Kubernetes the recipe states (docs/clusters.md); newer API servers accept the same pods."""
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL|ENDPOINT|API_URL")


def load_script(name: str) -> ModuleType:
    """A script of deploy/ray/ as a module (deploy/ is not a package)."""
    path = DEPLOY / "ray" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"deploy_ray_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    return {kind: yaml.safe_load((KUBERAY / f"{kind.lower()}.yaml").read_text()) for kind in ("RayCluster", "RayJob")}


def pod_templates(manifests: dict[str, dict]) -> dict[str, dict]:
    cluster, job = manifests["RayCluster"]["spec"], manifests["RayJob"]["spec"]
    templates = {"head": cluster["headGroupSpec"]["template"], "submitter": job["submitterPodTemplate"]}
    for group in cluster["workerGroupSpecs"]:
        templates[f"worker group {group['groupName']}"] = group["template"]
    return templates


def containers(manifests: dict[str, dict]) -> list[dict]:
    return [c for t in pod_templates(manifests).values() for c in t["spec"]["containers"]]


def schema_errors(document: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [error.message for error in validator.iter_errors(document)]


def kubernetes_errors(template: dict) -> str | None:
    import kubernetes_validate

    resource = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": template}
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{'.'.join(str(p) for p in error.path)}: {error.message}"
    return None


def test_manifests_match_the_kuberay_v1_schema(manifests: dict[str, dict]):
    for kind, document in manifests.items():
        assert document["kind"] == kind
        assert schema_errors(document) == [], kind
    # The schema is not vacuous: a misspelt field, a wrong type and a RayJob naming no cluster fail.
    typo = copy.deepcopy(manifests["RayCluster"])
    typo["spec"]["workerGroupSpecs"][0]["maxReplica"] = typo["spec"]["workerGroupSpecs"][0].pop("maxReplicas")
    assert any("maxReplica" in message for message in schema_errors(typo))
    wrong_type = copy.deepcopy(manifests["RayCluster"])
    wrong_type["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0
    assert schema_errors(wrong_type)
    no_cluster = copy.deepcopy(manifests["RayJob"])
    del no_cluster["spec"]["clusterSelector"]
    assert schema_errors(no_cluster)


def test_pod_templates_match_the_published_kubernetes_schema(manifests: dict[str, dict]):
    for name, template in pod_templates(manifests).items():
        assert kubernetes_errors(template) is None, name
    broken = copy.deepcopy(manifests["RayCluster"]["spec"]["workerGroupSpecs"][0]["template"])
    broken["spec"]["containers"][0]["resource"] = broken["spec"]["containers"][0].pop("resources")
    assert kubernetes_errors(broken) is not None


def test_gpu_worker_group_autoscaling_bounds_and_one_image(manifests: dict[str, dict]):
    cluster = manifests["RayCluster"]["spec"]
    assert cluster["enableInTreeAutoscaling"] is True
    (group,) = cluster["workerGroupSpecs"]
    assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"] == 8
    (container,) = group["template"]["spec"]["containers"]
    # Kubernetes schedules extended resources by their limit; Ray must be told the same count.
    assert (
        container["resources"]["limits"]["nvidia.com/gpu"] == 1 == container["resources"]["requests"]["nvidia.com/gpu"]
    )
    assert group["rayStartParams"]["num-gpus"] == "1"
    # No clip worker on the head: it holds the driver and the job server.
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    head = cluster["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in head["resources"]["limits"]
    # One image, one Ray version: the manifests, the Dockerfile's base, the pins and this venv.
    from importlib.metadata import version

    ray_version = version("ray")
    assert {c["image"] for c in containers(manifests)} == {
        f"registry.example.com/flexiclip:0.1.0-ray{ray_version}-py311-gpu"
    }
    assert cluster["rayVersion"] == ray_version
    assert f"FROM rayproject/ray:{ray_version}-py311-gpu" in (KUBERAY / "Dockerfile").read_text()
    assert load_script("job_entry").read_pins()["ray"] == ray_version


def test_credentials_and_endpoints_come_from_secrets_only(manifests: dict[str, dict]):
    secret_vars = set()
    for container in containers(manifests):
        for variable in container.get("env", []):
            if SECRET_NAME.search(variable["name"]):
                assert "value" not in variable and "secretKeyRef" in variable["valueFrom"], variable
                secret_vars.add(variable["name"])
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "PREFECT_API_URL"} <= secret_vars
    # The workers hold the credentials themselves (the driver does not forward them).
    for template in pod_templates(manifests).values():
        if template is not manifests["RayJob"]["spec"]["submitterPodTemplate"]:
            names = {v["name"] for v in template["spec"]["containers"][0]["env"]}
            assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= names
    # No Secret object and no key-shaped literal anywhere under deploy/.
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"^kind:\s*Secret\b", text, re.MULTILINE), path
            assert not re.search(r"\bAKIA[0-9A-Z]{16}\b", text), path
    job_env = yaml.safe_load(manifests["RayJob"]["spec"]["runtimeEnvYAML"]).get("env_vars", {})
    assert not [name for name in job_env if SECRET_NAME.search(name)]


def test_rayjob_runs_a_flexiclip_run_the_cli_accepts(manifests: dict[str, dict]):
    import typer

    from flexiclip_cli.main import app
    from tasks.runtime import worker_runtime_env

    job = manifests["RayJob"]["spec"]
    words = shlex.split(job["entrypoint"])
    assert words[:2] == ["flexiclip", "run"]
    command = typer.main.get_command(app)
    context = command.commands["run"].make_context("run", words[2:])  # parses, converts, checks ranges
    params = context.params
    assert params["catalog"].startswith("s3://") and params["output"].startswith("s3://")
    (group,) = manifests["RayCluster"]["spec"]["workerGroupSpecs"]
    # A cluster at zero GPU workers shows no GPU: the run must ask for GPU actors itself.
    assert params["gpus_per_worker"] == 1 and 1 <= params["workers"] <= group["maxReplicas"]
    assert params["worker_start_timeout"] >= 600  # a GPU node's start-up counts against it
    assert job["clusterSelector"] == {"ray.io/cluster": manifests["RayCluster"]["metadata"]["name"]}
    # Ray refuses to merge the job's runtime_env with the driver's when both set one variable:
    # the job's variables must be ones the driver never forwards.
    job_env = yaml.safe_load(job["runtimeEnvYAML"])["env_vars"]
    forwarded = worker_runtime_env(dict.fromkeys(job_env, "x"), forward_credentials=True, ship_code=False)
    assert not set(job_env) & set(forwarded["env_vars"])


def test_pins_are_the_installed_versions_of_every_dependency():
    job_entry = load_script("job_entry")
    pins = job_entry.read_pins()
    assert job_entry.mismatches(pins) == []
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in declared}  # type: ignore[union-attr]
    assert names == {name.lower() for name in pins}
    from importlib.metadata import version

    numpy = version("numpy")
    assert job_entry.mismatches({"numpy": "0.0.1", "no-such-package-fx": "1"}) == [
        f"numpy pinned 0.0.1, installed {numpy}",
        "no-such-package-fx pinned 1, not installed",
    ]
    assert job_entry.mismatches({"torch": version("torch").split("+")[0]}) == []  # +cpu is a build label


def test_submit_builds_the_job_with_working_dir_pins_and_settings():
    submit = load_script("submit")
    args, run_args = submit.parse(
        ["--address", "http://127.0.0.1:1", "--env", "A=b=c", "--", "cat.parquet", "--output", "out"]
    )
    command = submit.command(args, run_args)
    assert command[command.index("--address") + 1] == "http://127.0.0.1:1"
    assert command[command.index("--") :] == [
        "--",
        "python",
        "deploy/ray/job_entry.py",
        "cat.parquet",
        "--output",
        "out",
    ]
    env = json.loads(command[command.index("--runtime-env-json") + 1])
    assert env["working_dir"] == str(REPO_ROOT)
    assert {".git", ".venv", ".cache", "tests"} <= set(env["excludes"])
    pins = load_script("job_entry").read_pins()
    assert env["pip"] == {
        "packages": [f"{n}{'[default]' if n == 'ray' else ''}=={v}" for n, v in pins.items()],
        "pip_check": False,
    }
    assert env["env_vars"] == {"FLEXICLIP_SHIP_CODE": "0", "RAY_OVERRIDE_JOB_RUNTIME_ENV": "1", "A": "b=c"}
    no_pip, _ = submit.parse(["--no-pip", "--", "c", "--output", "o"])
    assert "pip" not in json.loads((c := submit.command(no_pip, ["c"]))[c.index("--runtime-env-json") + 1])
    with pytest.raises(SystemExit):
        submit.parse(["--address", "http://x"])  # no run arguments


def nightly_parameters() -> set[str]:
    """The nightly flow's parameters, read from its source (no Prefect import)."""
    import ast

    tree = ast.parse((REPO_ROOT / "flows" / "nightly.py").read_text())
    (flow,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "nightly"]
    return {arg.arg for arg in flow.args.args + flow.args.kwonlyargs}


def test_work_pool_recipes_name_the_pools_and_parameters_the_deployments_use():
    import subprocess

    pool_dir = DEPLOY / "prefect-workpool"
    for script in pool_dir.glob("*.sh"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0, script
    process = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["deployments"][0]
    assert f"POOL={process['work_pool']['name']} " in (pool_dir / "process-pool.sh").read_text()
    assert f"--pool {process['work_pool']['name']} " in (pool_dir / "flexiclip-worker.service").read_text()
    kubernetes = yaml.safe_load((pool_dir / "kubernetes.prefect.yaml").read_text())["deployments"][0]
    assert f"POOL={kubernetes['work_pool']['name']}\n" in (pool_dir / "kubernetes-pool.sh").read_text()
    assert set(kubernetes["parameters"]) <= nightly_parameters()
    assert kubernetes["entrypoint"] == process["entrypoint"] == "flows/nightly.py:nightly"
    # Only one of the two schedules may fire, and the pod joins the KubeRay cluster's head service.
    assert [s["active"] for s in process["schedules"] + kubernetes["schedules"]].count(True) == 1
    variables = kubernetes["work_pool"]["job_variables"]
    assert variables["env"]["RAY_ADDRESS"] == "flexiclip-head-svc:6379"  # KubeRay names it <cluster>-head-svc
    cluster = yaml.safe_load((KUBERAY / "raycluster.yaml").read_text())
    assert variables["image"] == cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    assert not [name for name in variables["env"] if SECRET_NAME.search(name) and name != "RAY_ADDRESS"]
