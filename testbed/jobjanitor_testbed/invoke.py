"""`make invoke EVENT=events/<file>.json`: one sample event through its own handler, against the test bed.

    python -m jobjanitor_testbed.invoke [-v] events/guard-delete.json [--env events/env.json]

What `sam local invoke` does in Docker, without Docker:

- **The handler** is the one the event's shape names: a CloudFormation custom-resource request
  (``RequestType``) goes to the guard, a Lambda Hook request (``hookTypeName``,
  ``actionInvocationPoint``) to the teardown hook, a Scheduler or EventBridge event to the
  sweeper. Anything else is refused (exit 2).
- **Its environment** comes from ``events/env.json`` (the ``sam local invoke --env-vars`` file:
  ``Parameters`` for every function, then ``GuardFunction``, ``SweeperFunction`` or
  ``HookFunction``).
- **The test bed**: one already answering where that file points (the Neptune emulator at the
  first ``JOBJANITOR_ALLOWED_ENDPOINTS`` URL, moto at ``AWS_ENDPOINT_URL``) is used as it is;
  otherwise one is started for this run on free ports, and the URLs in the environment and
  the event are rewritten to it.
- **The world the event assumes** is set up through the test bed's control API
  (:mod:`jobjanitor_testbed.control`), so the same in both cases: the cluster the install
  serves, a fresh idempotency table, the Glue transform, jobs in and out of the event's scope,
  the stack the event names (its status, tags or resources). For the guard, CloudFormation's
  side: ``ResponseURL`` is replaced by a loopback receiver, and an Update or Delete first gets
  the Create that made its physical id. For the hook, CloudFormation's side too: it is
  invoked again with its ``callbackContext`` while it answers IN_PROGRESS (at most 3 times).

Prints the answer (the response CloudFormation got, the sweeper's result, the hook's last
answer) as JSON on stdout, and each job's status afterwards on stderr; the function's own logs
(Powertools JSON, EMF metrics) only with ``-v``. Exit status 0 when the answer is SUCCESS or an
ok sweep, 1 otherwise, 2 for a missing or unreadable event file (one line on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import time
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import boto3

from .scenario import ML_KINDS, status_of

OLD_S = 2 * 3600
EVENTS = Path(__file__).resolve().parents[2] / "events"
SECTIONS = {"guard": "GuardFunction", "sweeper": "SweeperFunction", "hook": "HookFunction"}
NEPTUNE_CLUSTER = "AWS::Neptune::DBCluster"
GLUE_TRANSFORM = "AWS::Glue::MLTransform"


class UsageError(Exception):
    """A reason to stop before invoking anything (exit 2, one line)."""


def handler_for(event: object) -> str:
    """``guard``, ``hook`` or ``sweeper``: the handler an event of this shape is meant for."""
    if not isinstance(event, dict):
        raise UsageError("the event is not a JSON object")
    if "RequestType" in event and "ResourceProperties" in event:
        return "guard"
    if "hookTypeName" in event and "actionInvocationPoint" in event:
        return "hook"
    if event.get("source") == "jobjanitor.schedule" or "detail-type" in event:
        return "sweeper"
    raise UsageError(
        "not a guard (CloudFormation custom resource), hook (Lambda Hook) or sweeper (Scheduler or EventBridge) event"
    )


def function_environment(env_file: Path, function: str) -> dict[str, str]:
    try:
        data: dict[str, dict[str, str]] = json.loads(env_file.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UsageError(f"cannot read the environment file {env_file}: {error}") from None
    return {**data.get("Parameters", {}), **data.get(function, {})}


def read_event(path: Path) -> dict[str, Any]:
    try:
        event: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"no such event file: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UsageError(f"cannot read {path} as JSON: {error}") from None
    return event


def answers(url: str) -> bool:
    """Whether a test bed answers at ``url`` (its Neptune emulator's control API): UsageError
    if something else does (an older test bed without the control API, another server)."""
    try:
        with urllib.request.urlopen(f"{url}/testbed/", timeout=2) as reply:  # noqa: S310 - loopback URL from env.json
            return "endpoints" in json.loads(reply.read())
    except urllib.error.HTTPError as error:
        raise UsageError(
            f"{url} answers, but not as a current jobjanitor-testbed (GET /testbed/: {error.code}): "
            "stop it, or point events/env.json elsewhere"
        ) from None
    except (OSError, ValueError):
        return False


class Remote:
    """The test bed's control API (``POST /testbed/*`` on the Neptune URL)."""

    def __init__(self, neptune_url: str) -> None:
        self.url = neptune_url.rstrip("/")

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.url}/testbed/{path}", data=json.dumps(body).encode(), method="POST")  # noqa: S310 - loopback
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - loopback
                answer: dict[str, Any] = json.loads(reply.read())
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"the test bed refused POST /testbed/{path}: {error.read().decode()}") from None
        return answer


class World:
    """The jobs an event is about, set up through the test bed, and their statuses afterwards."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self.jobs: list[tuple[str, str, str, str | None]] = []  # (kind, id, scope, transform)
        self.neptune = boto3.client("neptunedata", endpoint_url=remote.url)

    def job(self, kind: str, scope: str, **spec: Any) -> str:
        made = self.remote.post("jobs", {"kind": kind, **spec})
        self.jobs.append((kind, made["id"], scope, spec.get("transformId")))
        return str(made["id"])

    def neptune_jobs(self, prefix: str, scope: str, *, age: float = 0, load_scope: str | None = None) -> None:
        for kind, api_kind in ML_KINDS.items():
            self.job(kind, scope, id=f"{prefix}{api_kind}-1", status="InProgress", ageSeconds=age)
        self.job("neptune-loader", load_scope or scope, status="LOAD_IN_PROGRESS", ageSeconds=age)

    def glue_run(self, transform_id: str, scope: str, *, age: float = 0) -> None:
        self.job("glue-ml-task-run", scope, transformId=transform_id, status="RUNNING", ageSeconds=age)

    def other_stack(self, prefix: str = "other-stack-") -> None:
        self.job("neptune-ml-training", "other stack", id=f"{prefix}modeltraining-1", status="InProgress")

    def transform(self, transform_id: str) -> str:
        return str(self.remote.post("transforms", {"id": transform_id})["id"])

    def table(self) -> dict[str, str]:
        glue = boto3.client("glue")
        return {
            f"{kind} {job_id} ({scope})": status_of(self.neptune, glue, kind, job_id, transform)
            for kind, job_id, scope, transform in self.jobs
        }


def first(env: dict[str, str], name: str) -> str:
    return env[name].split(",")[0].strip()


def fresh_install(env: dict[str, str], function: str) -> None:
    """What the deployed stack has, new: the idempotency table (emptied: each run is a first
    delivery) and, for the guard, the function itself (crhelper adds a permission to it)."""
    from .guard_driver import prepare_aws  # noqa: PLC0415 - boto3 reads the environment set by then

    dynamodb, lambda_, iam = boto3.client("dynamodb"), boto3.client("lambda"), boto3.client("iam")
    with contextlib.suppress(dynamodb.exceptions.ResourceNotFoundException):
        dynamodb.delete_table(TableName=env["IDEMPOTENCY_TABLE_NAME"])
    with contextlib.suppress(lambda_.exceptions.ResourceNotFoundException):
        lambda_.delete_function(FunctionName=function)
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_role(RoleName=f"{function}-role")
    prepare_aws(function, env["IDEMPOTENCY_TABLE_NAME"])


def at_test_bed(event: dict[str, Any], neptune_url: str) -> dict[str, Any]:
    """The guard event with its test bed endpoint (an http:// NeptuneEndpoint) at ``neptune_url``."""
    out = dict(event)
    for key in ("ResourceProperties", "OldResourceProperties"):
        props = out.get(key)
        if isinstance(props, dict) and str(props.get("NeptuneEndpoint", "")).startswith("http://"):
            out[key] = {**props, "NeptuneEndpoint": neptune_url}
    return out


def guard(event: dict[str, Any], world: World, env: dict[str, str]) -> tuple[dict[str, Any], bool]:
    from .cfn import ResponseReceiver  # noqa: PLC0415
    from .guard_driver import FUNCTION, deliver  # noqa: PLC0415

    event = at_test_bed(event, world.remote.url)
    props = event["ResourceProperties"]
    fresh_install(env, FUNCTION)
    transform_id = world.transform(props["GlueTransformIds"][0])
    world.neptune_jobs(props["JobIdPrefix"], "in scope")
    world.glue_run(transform_id, "in scope")
    world.other_stack()
    with ResponseReceiver() as receiver:
        if event["RequestType"] in ("Update", "Delete") and not event["PhysicalResourceId"].startswith(
            "jobjanitor-guard-failed-"
        ):
            # The stack's guard was created before: CloudFormation's Create, with the same properties.
            create = {
                **{k: v for k, v in event.items() if k not in ("PhysicalResourceId", "OldResourceProperties")},
                "RequestType": "Create",
                "RequestId": f"{event['RequestId']}-create",
                "ResourceProperties": event.get("OldResourceProperties", props),
                "ResponseURL": receiver.url_for(f"{event['RequestId']}-create"),
            }
            created = deliver(create, receiver, stack_status=None).body
            if created["PhysicalResourceId"] != event["PhysicalResourceId"]:
                note(
                    f"the guard created {created['PhysicalResourceId']}, the event names {event['PhysicalResourceId']}"
                )
        if event["RequestType"] == "Delete":  # the stack is being deleted: the guard reads it
            world.remote.post("stacks", {"stackId": event["StackId"], "status": "DELETE_IN_PROGRESS"})
        request = {**event, "ResponseURL": receiver.url_for(event["RequestId"])}
        answer = deliver(request, receiver, stack_status=None).body
    return answer, answer.get("Status") == "SUCCESS"


def sweeper(event: dict[str, Any], world: World, env: dict[str, str]) -> tuple[dict[str, Any], bool]:
    from jobjanitor.handlers.sweeper import lambda_handler  # noqa: PLC0415 - after the environment is set

    from .cfn import LambdaContext  # noqa: PLC0415

    fresh_install(env, "jobjanitor-sweeper")
    transform_id = world.transform(first(env, "JOBJANITOR_GLUE_TRANSFORM_IDS"))
    stack_id = (event.get("detail") or {}).get("stack-id")
    configured = env["JOBJANITOR_JOB_ID_PREFIX"].strip().replace("*", "")
    if stack_id:  # a stack deletion: the stack opted in by tags
        # Its tag extends the install's prefix with the first block of the stack's id.
        prefix = f"{configured}{stack_id.rsplit('/', 1)[1].split('-')[0]}-"
        tags = {"jobjanitor:job-id-prefix": prefix, "jobjanitor:glue-transforms": transform_id}
        world.remote.post("stacks", {"stackId": stack_id, "status": "DELETE_IN_PROGRESS", "tags": tags})
        # Neptune names loads itself: a prefix cannot scope them, so a stack's sweep leaves them.
        world.neptune_jobs(prefix, "the stack's", load_scope="a load: not scoped by a prefix")
        world.glue_run(transform_id, "the stack's")
        world.other_stack(f"{configured}other-stack-")
    else:  # a schedule: old jobs go, young ones stay
        world.neptune_jobs(f"{configured}old-", "older than MaxAge", age=OLD_S)
        world.glue_run(transform_id, "older than MaxAge", age=OLD_S)
        world.job("neptune-loader", "young", status="LOAD_IN_PROGRESS")
    answer: dict[str, Any] = lambda_handler(
        event, LambdaContext(function_name="jobjanitor-sweeper", timeout_seconds=300)
    )
    return answer, bool(answer.get("ok", answer.get("status") != "swept"))


def hook(event: dict[str, Any], world: World, env: dict[str, str]) -> tuple[dict[str, Any], bool]:
    from .hook_driver import FUNCTION, HookDriver  # noqa: PLC0415

    fresh_install(env, FUNCTION)
    data = event["requestData"]
    target, logical_id = data["targetType"], data["targetLogicalId"]
    cluster = first(env, "JOBJANITOR_NEPTUNE_CLUSTERS")
    transform_id = world.transform(first(env, "JOBJANITOR_GLUE_TRANSFORM_IDS"))
    physical = {NEPTUNE_CLUSTER: cluster, GLUE_TRANSFORM: transform_id}.get(target, logical_id.lower())
    # The stack's resource being deleted is one the install serves: the configured cluster or transform.
    resources = {logical_id: {"type": target, "physicalId": physical}}
    world.remote.post("stacks", {"stackId": event["stackId"], "status": "DELETE_IN_PROGRESS", "resources": resources})
    on_cluster = "on the cluster being deleted" if target == NEPTUNE_CLUSTER else "another resource"
    world.neptune_jobs("graph-", on_cluster)
    world.glue_run(transform_id, "on the transform being deleted" if target == GLUE_TRANSFORM else "another resource")
    mode = env.get("JOBJANITOR_HOOK_MODE", "Fail")
    # CloudFormation waits callbackDelaySeconds between invocations: really waited here (env.json asks 1 s).
    driver = HookDriver(failure_mode="FAIL" if mode == "Fail" else "WARN", speed=1.0)
    run = driver.run(event)
    note(
        f"CloudFormation: {run.status} after {len(run.invocations)} invocation(s); "
        f"the delete {'goes on' if run.proceeds else 'stops'}{f' ({run.reason})' if run.reason else ''}"
    )
    answer = run.invocations[-1].answer if run.invocations else None
    return (answer if isinstance(answer, dict) else {"error": run.reason}), run.status == "SUCCESS"


def note(text: str) -> None:
    print(f"make invoke: {text}", file=sys.stderr)


HANDLERS = {"guard": guard, "sweeper": sweeper, "hook": hook}


@contextlib.contextmanager
def bed_for(env: dict[str, str], event: dict[str, Any]) -> Any:
    """The test bed where ``env`` points if one answers there, else one of this run's own
    (``env`` and ``event`` rewritten to its URLs). Yields the event to deliver."""
    neptune_url, aws_url = first(env, "JOBJANITOR_ALLOWED_ENDPOINTS").rstrip("/"), env["AWS_ENDPOINT_URL"].rstrip("/")
    if answers(neptune_url):
        note(f"using the test bed at {neptune_url} (moto at {aws_url})")
        yield event
        return
    from . import moto_cfn  # noqa: PLC0415 - moto is imported only when this run serves it
    from .server import TestBed  # noqa: PLC0415

    moto_cfn.install()
    with TestBed(stop_delay=0.5) as bed:
        note(f"no test bed at {neptune_url}: started one for this run at {bed.neptune_url} (moto at {bed.aws_url})")
        replace = {neptune_url: bed.neptune_url, aws_url: bed.aws_url}

        def moved(text: str) -> str:
            for old, new in replace.items():
                text = text.replace(old, new)
            return text

        env.update({key: moved(value) for key, value in env.items()})
        yield json.loads(moved(json.dumps(event)))


@contextlib.contextmanager
def function_output(verbose: bool) -> Any:
    """The function's stdout in Lambda (Powertools' JSON logs, EMF metrics) and library logs:
    on stderr with ``-v``, else nowhere; stdout carries only the answer."""
    sink = sys.stderr if verbose else io.StringIO()
    from jobjanitor import observability  # noqa: PLC0415 - after the environment is set

    handler = observability.logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sink)
    root = logging.getLogger()
    level = root.level
    if not verbose:
        root.setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        root.setLevel(level)


def run(event_file: Path, env_file: Path, *, verbose: bool = False) -> int:
    event = read_event(event_file)
    kind = handler_for(event)
    env = function_environment(env_file, SECTIONS[kind])
    warnings.filterwarnings("ignore", category=UserWarning, module=r"moto(\.|$)")
    with bed_for(env, event) as event:
        os.environ.update(env)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(key, None)
        world = World(Remote(first(env, "JOBJANITOR_ALLOWED_ENDPOINTS")))
        for identifier in env["JOBJANITOR_NEPTUNE_CLUSTERS"].split(","):
            world.remote.post("clusters", {"name": identifier.strip()})
        started = time.monotonic()
        with function_output(verbose):
            try:
                answer, ok = HANDLERS[kind](event, world, env)
            except Exception as error:  # the invocation failed: what Lambda reports for it
                answer, ok = {"errorType": type(error).__name__, "errorMessage": str(error)}, False
        after = world.table()
    print(json.dumps(answer, indent=2, default=str))
    print(f"{kind} answered in {time.monotonic() - started:.1f} s; jobs afterwards:", file=sys.stderr)
    for job, status in after.items():
        print(f"  {job}: {status}", file=sys.stderr)
    if not ok and not verbose:
        note("not a success: run it again with -v (make invoke ... V=1) for the function's logs")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("event", type=Path, help="an events/*.json file")
    parser.add_argument("--env", type=Path, default=EVENTS / "env.json", help="sam local invoke --env-vars file")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the function's logs (stderr)")
    args = parser.parse_args(argv)
    try:
        return run(args.event, args.env, verbose=args.verbose)
    except UsageError as error:
        print(f"make invoke: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
